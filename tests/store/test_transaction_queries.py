"""Daily follow-up read models (store/queries/transactions.py): daily fuel and service transactions, toll
transactions and anomalies — filters, local days in the customer's time zone (also across the DST changes),
totals against figures computed by hand, keyset paging without loss or repeat, rights and customer numbers."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session

from store.models import (
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    Card,
    CardStatus,
    Customer,
    CustomerNumber,
    FleetDivision,
    FuelTransaction,
    LimitAction,
    Product,
    ProductType,
    Right,
    TollTransaction,
    User,
)
from store.queries.transactions import (
    AnomalyFilter,
    TollFilter,
    TransactionFilter,
    count_anomalies,
    daily_totals,
    daily_transactions,
    day_bounds,
    followup_divisions,
    search_anomalies,
    toll_operators,
    toll_totals,
    toll_transactions,
    transaction_anomalies,
)
from store.services.context import Actor
from store.services.errors import DomainError, PermissionDenied

pytestmark = pytest.mark.store

UTC = timezone.utc
ALL_RIGHTS = frozenset(Right)
_ids = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Followup:
    """A Brussels customer with two customer numbers: home (two divisions, cards A and B, OBU O) and other
    (card F); another customer's card X. Transactions and anomalies are added by each test."""

    session: Session
    customer: Customer
    home: CustomerNumber
    other: CustomerNumber
    distribution: FleetDivision
    long_haul: FleetDivision
    card_a: Card
    card_b: Card
    obu: Card
    card_f: Card
    card_x: Card
    user: User

    @classmethod
    def build(cls, session: Session, now: datetime) -> Followup:
        customer = Customer(name="Transports Test NV", driver_code_prefix="7310", timezone="Europe/Brussels",
                            created_at=now)
        stranger = Customer(name="Someone Else BV", driver_code_prefix="7311", timezone="Europe/Brussels",
                            created_at=now)
        session.add_all([customer, stranger])
        session.flush()
        home = CustomerNumber(customer_id=customer.id, number="4020001", name="Home")
        other = CustomerNumber(customer_id=customer.id, number="4020002", name="Other")
        strange = CustomerNumber(customer_id=stranger.id, number="4029999", name="Stranger")
        session.add_all([home, other, strange])
        session.flush()
        distribution = FleetDivision(customer_number_id=home.id, name="Distribution")
        long_haul = FleetDivision(customer_number_id=home.id, name="Long haul")
        management = FleetDivision(customer_number_id=other.id, name="Management")
        elsewhere = FleetDivision(customer_number_id=strange.id, name="Elsewhere")
        session.add_all([distribution, long_haul, management, elsewhere])
        session.flush()

        def card(number: CustomerNumber, division: FleetDivision, plate: str, card_number: str,
                 product_type: ProductType = ProductType.FLEET_CARD, driver: str | None = None) -> Card:
            c = Card(customer_number_id=number.id, division_id=division.id, product_type=product_type,
                     number=card_number, rank=1, status=CardStatus.ACTIVE, license_plate=plate, driver_name=driver,
                     created_at=now)
            session.add(c)
            return c

        card_a = card(home, distribution, "1-ABC-123", "7006140200010000011", driver="Jan Peeters")
        card_b = card(home, long_haul, "2-XYZ-987", "7006140200010000029", driver="Els Maes")
        obu = card(home, long_haul, "2-XYZ-987", "7006940200010000037", ProductType.PASSANGO_OBU)
        card_f = card(other, management, "1-FOR-001", "7006140200020000015")
        card_x = card(strange, elsewhere, "1-STR-001", "7006140299990000014")
        user = User(customer_id=customer.id, username="follower", last_name="FOLLOW", first_name="UP",
                    email="follow@test.example", phone="0470000000")
        session.add(user)
        session.commit()
        return cls(session, customer, home, other, distribution, long_haul, card_a, card_b, obu, card_f, card_x, user)

    def actor(self, rights=ALL_RIGHTS, numbers: tuple[int, ...] | None = None) -> Actor:
        return Actor(user_id=self.user.id, label=self.user.username, customer_id=self.customer.id,
                     rights=frozenset(rights),
                     customer_number_ids=(self.home.id, self.other.id) if numbers is None else numbers)

    def fuel(self, card: Card, at: datetime, product: Product = Product.DIESEL, quantity: str = "40.000",
             excl: str = "60.00", incl: str = "72.60", country: str = "BE", unit_price: str = "1.5000",
             vat: str = "21.00") -> FuelTransaction:
        n = next(_ids)
        t = FuelTransaction(issuer_transaction_id=f"T-{n:08d}", card_id=card.id, rank=1, occurred_at=at,
                            station=f"Station {n}", city="Antwerpen", country=country, product=product,
                            quantity=Decimal(quantity), unit_price=Decimal(unit_price), amount_excl_vat=Decimal(excl),
                            vat_rate=Decimal(vat), amount_incl_vat=Decimal(incl), odometer_km=100_000 + n,
                            driver_code=None)
        self.session.add(t)
        self.session.commit()
        return t

    def toll(self, card: Card, exit_at: datetime, excl: str = "10.00", incl: str = "12.10",
             operator: str = "sanef (FR)", country: str = "FR") -> TollTransaction:
        n = next(_ids)
        t = TollTransaction(issuer_transaction_id=f"P-{n:08d}", card_id=card.id, operator=operator, country=country,
                            entry_point="Lille", exit_point="Paris", entry_at=exit_at - timedelta(hours=2),
                            exit_at=exit_at, vehicle_class="2", amount_excl_vat=Decimal(excl),
                            vat_rate=Decimal("20.00"), amount_incl_vat=Decimal(incl))
        self.session.add(t)
        self.session.commit()
        return t

    def anomaly(self, card: Card, detected_at: datetime, rule: AnomalyRule = AnomalyRule.LIMIT_AMOUNT,
                transaction: FuelTransaction | None = None, status: AnomalyStatus = AnomalyStatus.NEW,
                comment: str | None = None) -> Anomaly:
        a = Anomaly(card_id=card.id, fuel_transaction_id=transaction.id if transaction else None, rule=rule,
                    details={"limit": "100.00"}, action=LimitAction.NOTIFY, status=status, comment=comment,
                    detected_at=detected_at,
                    acknowledged_by_id=self.user.id if status is AnomalyStatus.ACKNOWLEDGED else None,
                    acknowledged_at=detected_at + timedelta(hours=1) if status is AnomalyStatus.ACKNOWLEDGED
                    else None)
        self.session.add(a)
        self.session.commit()
        return a


@pytest.fixture
def f(session, clock) -> Followup:
    return Followup.build(session, clock.now())


def ids(rows) -> list[int]:
    return [row.id for row in rows]


# --- local days -------------------------------------------------------------------------------------------

def test_day_bounds_follow_the_customer_zone_and_dst():
    from zoneinfo import ZoneInfo

    brussels = ZoneInfo("Europe/Brussels")
    start, end = day_bounds(date(2026, 11, 26), date(2026, 11, 26), brussels)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (utc(2026, 11, 25, 23), utc(2026, 11, 26, 23))
    start, end = day_bounds(date(2026, 3, 29), date(2026, 3, 29), brussels)  # summer time starts: 23 hours
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    start, end = day_bounds(date(2026, 10, 25), date(2026, 10, 25), brussels)  # winter time: 25 hours
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)


def test_a_day_is_the_local_day_of_the_customer(f):
    before = f.fuel(f.card_a, utc(2026, 11, 25, 22, 59, 59))  # 23:59:59 in Brussels on the 25th
    first = f.fuel(f.card_a, utc(2026, 11, 25, 23, 0))  # midnight in Brussels: the 26th
    last = f.fuel(f.card_a, utc(2026, 11, 26, 22, 59, 59))
    after = f.fuel(f.card_a, utc(2026, 11, 26, 23, 0))  # the 27th in Brussels
    actor = f.actor()
    assert ids(daily_transactions(f.session, actor, date(2026, 11, 26))) == [first.id, last.id]
    assert ids(daily_transactions(f.session, actor, date(2026, 11, 25))) == [before.id]
    assert ids(daily_transactions(f.session, actor, date(2026, 11, 27))) == [after.id]


def test_the_25_hour_day_of_the_autumn_change(f):
    # 25/10/2026 in Brussels: from 24/10 22:00 UTC (00:00 CEST) to 25/10 23:00 UTC (00:00 CET).
    inside = [f.fuel(f.card_a, utc(2026, 10, 24, 22, 0)), f.fuel(f.card_a, utc(2026, 10, 25, 1, 30)),
              f.fuel(f.card_a, utc(2026, 10, 25, 22, 59))]
    outside = [f.fuel(f.card_a, utc(2026, 10, 24, 21, 59)), f.fuel(f.card_a, utc(2026, 10, 25, 23, 0))]
    rows = daily_transactions(f.session, f.actor(), date(2026, 10, 25))
    assert ids(rows) == [t.id for t in inside]
    assert not set(ids(rows)) & {t.id for t in outside}


def test_another_customer_zone_moves_the_day(f):
    f.customer.timezone = "America/New_York"
    f.session.add(f.customer)
    f.session.commit()
    late = f.fuel(f.card_a, utc(2026, 11, 27, 3, 0))  # 22:00 on the 26th in New York
    assert ids(daily_transactions(f.session, f.actor(), date(2026, 11, 26))) == [late.id]
    assert daily_transactions(f.session, f.actor(), date(2026, 11, 27)) == []


# --- filters and totals -------------------------------------------------------------------------------------

def _day_of_transactions(f: Followup) -> dict[str, FuelTransaction]:
    day = utc(2026, 11, 26, 7, 0)
    t = {
        "diesel": f.fuel(f.card_a, day, Product.DIESEL, "40.500", "60.75", "73.51"),
        "petrol": f.fuel(f.card_b, day + timedelta(hours=1), Product.PETROL_95, "30.250", "50.00", "60.50",
                         country="NL"),
        "ev": f.fuel(f.card_a, day + timedelta(hours=2), Product.EV_CHARGING, "22.000", "8.80", "10.65"),
        "wash": f.fuel(f.card_b, day + timedelta(hours=3), Product.CAR_WASH, "1.000", "12.40", "15.00"),
        "cng": f.fuel(f.card_a, day + timedelta(hours=4), Product.CNG, "10.125", "12.15", "14.70", country="DE"),
        "adblue": f.fuel(f.card_b, day + timedelta(hours=5), Product.ADBLUE, "12.000", "9.60", "11.62"),
        "foreign_number": f.fuel(f.card_f, day + timedelta(hours=6), Product.DIESEL, "50.000", "75.00", "90.75"),
        "stranger": f.fuel(f.card_x, day + timedelta(hours=7), Product.DIESEL, "99.000", "150.00", "181.50"),
    }
    f.anomaly(f.card_b, day + timedelta(hours=1, minutes=10), AnomalyRule.COUNTRY_NOT_ALLOWED, t["petrol"])
    f.anomaly(f.card_a, day + timedelta(hours=4, minutes=10), AnomalyRule.PRODUCT_NOT_ALLOWED, t["cng"])
    f.anomaly(f.card_a, day + timedelta(hours=4, minutes=11), AnomalyRule.LIMIT_AMOUNT, t["cng"])
    return t


def test_totals_per_unit_and_amounts_by_hand(f):
    t = _day_of_transactions(f)
    actor = f.actor()
    home = TransactionFilter(customer_number_id=f.home.id)
    totals = daily_totals(f.session, actor, date(2026, 11, 26), home)
    assert totals.count == 6
    # litres: diesel 40.500 + petrol 30.250 + AdBlue 12.000; kg: CNG; kWh: charging; pieces: the car wash.
    assert totals.quantities == (("l", Decimal("82.750")), ("kg", Decimal("10.125")), ("kWh", Decimal("22.000")),
                                 ("pcs", Decimal("1.000")))
    assert totals.amount_excl_vat == Decimal("60.75") + Decimal("50.00") + Decimal("8.80") + Decimal("12.40") \
        + Decimal("12.15") + Decimal("9.60") == Decimal("153.70")
    assert totals.amount_incl_vat == Decimal("185.98")  # 73.51 + 60.50 + 10.65 + 15.00 + 14.70 + 11.62
    assert totals.vat == Decimal("32.28")
    assert isinstance(totals.amount_incl_vat, Decimal)
    # Both customer numbers of the actor, never the stranger's card.
    both = daily_totals(f.session, actor, date(2026, 11, 26))
    assert both.count == 7 and both.quantity("l") == Decimal("132.750")
    assert both.amount_incl_vat == Decimal("276.73")
    rows = daily_transactions(f.session, actor, date(2026, 11, 26))
    assert t["stranger"].id not in ids(rows) and t["foreign_number"].id in ids(rows)
    # An empty day has zero totals.
    empty = daily_totals(f.session, actor, date(2026, 11, 20))
    assert (empty.count, empty.quantities, empty.amount_excl_vat, empty.amount_incl_vat) == (0, (), 0, 0)


def test_filters(f):
    t = _day_of_transactions(f)
    actor, day = f.actor(), date(2026, 11, 26)

    def found(**where) -> set[int]:
        rows = daily_transactions(f.session, actor, day, TransactionFilter(**where))
        assert daily_totals(f.session, actor, day, TransactionFilter(**where)).count == len(rows)
        return set(ids(rows))

    assert found(text="abc-123") == {t[k].id for k in ("diesel", "ev", "cng")}  # plate, any case
    assert found(text="1abc") == {t[k].id for k in ("diesel", "ev", "cng")}  # plate typed without dashes
    assert found(text="0000029") == {t[k].id for k in ("petrol", "wash", "adblue")}  # part of the card number
    assert found(text="els maes") == {t[k].id for k in ("petrol", "wash", "adblue")}  # the driver
    assert found(text="100%") == set()  # LIKE wildcards are taken literally
    assert found(division_id=f.long_haul.id) == {t[k].id for k in ("petrol", "wash", "adblue")}
    assert found(product=Product.DIESEL) == {t["diesel"].id, t["foreign_number"].id}
    assert found(country="nl") == {t["petrol"].id}
    assert found(country="DE", customer_number_id=f.home.id) == {t["cng"].id}
    assert found(with_anomaly=True) == {t["petrol"].id, t["cng"].id}
    assert found(with_anomaly=True, text="1-ABC") == {t["cng"].id}
    rows = {r.id: r for r in daily_transactions(f.session, actor, day)}
    assert rows[t["cng"].id].anomalies == 2 and rows[t["petrol"].id].anomalies == 1 and rows[t["ev"].id].anomalies == 0
    assert rows[t["cng"].id].unit == "kg" and rows[t["wash"].id].unit == "pcs"
    assert rows[t["diesel"].id].division == "Distribution" and rows[t["diesel"].id].customer_number == "4020001"
    rules = transaction_anomalies(f.session, actor, t["cng"].id)
    assert [rule for rule, _details, _status in rules] == [AnomalyRule.PRODUCT_NOT_ALLOWED, AnomalyRule.LIMIT_AMOUNT]


def test_paging_loses_and_repeats_nothing_even_with_equal_times(f):
    start = utc(2026, 11, 26, 6, 0)
    made = []
    for i in range(23):
        # Three transactions share each minute: the id breaks the tie.
        made.append(f.fuel(f.card_a if i % 2 else f.card_b, start + timedelta(minutes=i // 3)).id)
    actor, day = f.actor(), date(2026, 11, 26)
    seen, after = [], None
    while True:
        page = daily_transactions(f.session, actor, day, after=after, limit=4)
        seen += ids(page)
        if len(page) < 4:
            break
        after = page[-1].after
        if len(seen) == 8:  # a transaction arrives meanwhile, later in the day: it is read once, at its place
            made.append(f.fuel(f.card_a, start + timedelta(hours=5)).id)
    assert seen == made  # in time order, each once
    assert len(seen) == len(set(seen)) == 24


# --- rights and customer numbers ---------------------------------------------------------------------------

def test_rights_and_customer_numbers(f):
    _day_of_transactions(f)
    day = date(2026, 11, 26)
    without = f.actor([r for r in Right if r is not Right.DAILY_TRANSACTIONS])
    with pytest.raises(PermissionDenied, match=r"“Daily transactions”"):
        daily_transactions(f.session, without, day)
    with pytest.raises(PermissionDenied, match=r"“Daily transactions”"):
        daily_totals(f.session, without, day)
    home_only = f.actor(numbers=(f.home.id,))
    with pytest.raises(PermissionDenied, match="customer number"):
        daily_transactions(f.session, home_only, day, TransactionFilter(customer_number_id=f.other.id))
    assert {r.customer_number for r in daily_transactions(f.session, home_only, day)} == {"4020001"}
    with pytest.raises(PermissionDenied, match="customer number"):
        followup_divisions(f.session, home_only, f.other.id)
    # Any daily follow-up right may read the division choices.
    only_toll = f.actor([Right.TOLL_TRANSACTIONS])
    assert followup_divisions(f.session, only_toll, f.home.id) == [(f.distribution.id, "Distribution"),
                                                                    (f.long_haul.id, "Long haul")]
    with pytest.raises(PermissionDenied, match=r"“Daily transactions”"):
        followup_divisions(f.session, f.actor([Right.CARD_MANAGE]), f.home.id)
    with pytest.raises(PermissionDenied, match="customer number"):
        transaction_anomalies(f.session, home_only,
                              daily_transactions(f.session, f.actor(), day,
                                                 TransactionFilter(customer_number_id=f.other.id))[0].id)


# --- toll transactions --------------------------------------------------------------------------------------

def test_toll_transactions_range_filters_totals_and_paging(f):
    made = [
        f.toll(f.obu, utc(2026, 11, 24, 23, 30), "10.00", "12.00"),  # 25/11 00:30 in Brussels
        f.toll(f.obu, utc(2026, 11, 25, 12, 0), "20.50", "24.60", operator="vinci autoroutes (FR)"),
        f.toll(f.obu, utc(2026, 11, 26, 22, 59), "7.25", "8.70", operator="asfinag (AT)", country="AT"),
    ]
    outside = f.toll(f.obu, utc(2026, 11, 26, 23, 0), "99.00", "118.80")  # 27/11 in Brussels
    stranger = f.toll(f.card_x, utc(2026, 11, 25, 12, 0), "50.00", "60.00")
    actor = f.actor()
    rows = toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26))
    assert ids(rows) == ids(made)
    assert outside.id not in ids(rows) and stranger.id not in ids(rows)
    totals = toll_totals(f.session, actor, date(2026, 11, 25), date(2026, 11, 26))
    assert (totals.count, totals.amount_excl_vat, totals.amount_incl_vat) == (3, Decimal("37.75"), Decimal("45.30"))
    assert ids(toll_transactions(f.session, actor, date(2026, 11, 25))) == ids(made[:2])  # one day
    assert ids(toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26),
                                 TollFilter(country="at"))) == [made[2].id]
    assert ids(toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26),
                                 TollFilter(operator="vinci autoroutes (FR)", text="xyz987"))) == [made[1].id]
    assert toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26),
                             TollFilter(division_id=f.distribution.id)) == []
    first = toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26), limit=2)
    rest = toll_transactions(f.session, actor, date(2026, 11, 25), date(2026, 11, 26), after=first[-1].after, limit=2)
    assert ids(first) + ids(rest) == ids(made)
    assert rows[0].obu_number == f.obu.number and rows[0].product_type is ProductType.PASSANGO_OBU
    operators = toll_operators(f.session, actor)
    assert operators == sorted(operators) and {"asfinag (AT)", "sanef (FR)", "vinci autoroutes (FR)"} <= set(operators)
    with pytest.raises(DomainError, match="after the To date"):
        toll_transactions(f.session, actor, date(2026, 11, 26), date(2026, 11, 25))
    with pytest.raises(DomainError, match="at most 366 days"):
        toll_totals(f.session, actor, date(2025, 1, 1), date(2026, 11, 25))
    with pytest.raises(PermissionDenied, match=r"“PASSango transactions”"):
        toll_transactions(f.session, f.actor([Right.DAILY_TRANSACTIONS]), date(2026, 11, 25))
    with pytest.raises(PermissionDenied, match="customer number"):
        toll_totals(f.session, f.actor(numbers=(f.home.id,)), date(2026, 11, 25),
                    where=TollFilter(customer_number_id=f.other.id))


# --- anomalies ----------------------------------------------------------------------------------------------

def test_anomalies_newest_first_with_filters_and_paging(f):
    t = f.fuel(f.card_a, utc(2026, 11, 20, 8, 0), excl="150.00", incl="181.50")
    a1 = f.anomaly(f.card_a, utc(2026, 11, 20, 8, 10), AnomalyRule.LIMIT_AMOUNT, t)
    a2 = f.anomaly(f.card_b, utc(2026, 11, 24, 23, 30), AnomalyRule.OUTSIDE_HOURS,  # 25/11 in Brussels
                   status=AnomalyStatus.ACKNOWLEDGED, comment="Night shift")
    a3 = f.anomaly(f.card_a, utc(2026, 11, 25, 9, 0), AnomalyRule.COUNTRY_NOT_ALLOWED)
    a4 = f.anomaly(f.card_f, utc(2026, 11, 25, 9, 0), AnomalyRule.LIMIT_AMOUNT)  # same moment as a3: id decides
    f.anomaly(f.card_x, utc(2026, 11, 25, 10, 0))  # another customer's: never shown
    actor = f.actor()
    assert ids(search_anomalies(f.session, actor)) == [a4.id, a3.id, a2.id, a1.id]
    assert count_anomalies(f.session, actor) == 4

    def found(**where) -> list[int]:
        rows = search_anomalies(f.session, actor, AnomalyFilter(**where))
        assert count_anomalies(f.session, actor, AnomalyFilter(**where)) == len(rows)
        return ids(rows)

    assert found(statuses=(AnomalyStatus.NEW,)) == [a4.id, a3.id, a1.id]
    assert found(statuses=(AnomalyStatus.ACKNOWLEDGED,)) == [a2.id]
    assert found(rule=AnomalyRule.LIMIT_AMOUNT) == [a4.id, a1.id]
    assert found(card_id=f.card_a.id) == [a3.id, a1.id]
    assert found(text="2-xyz") == [a2.id]
    assert found(customer_number_id=f.home.id) == [a3.id, a2.id, a1.id]
    assert found(date_from=date(2026, 11, 25), date_to=date(2026, 11, 25)) == [a4.id, a3.id, a2.id]
    assert found(date_to=date(2026, 11, 24)) == [a1.id]
    rows = {r.id: r for r in search_anomalies(f.session, actor)}
    assert rows[a1.id].amount_incl_vat == Decimal("181.50") and rows[a1.id].place == f"{t.station}, Antwerpen"
    assert rows[a1.id].product is Product.DIESEL and rows[a3.id].occurred_at is None
    assert rows[a2.id].acknowledged_by == "follower" and rows[a2.id].comment == "Night shift"
    first = search_anomalies(f.session, actor, limit=3)
    rest = search_anomalies(f.session, actor, after=first[-1].after, limit=3)
    assert ids(first) + ids(rest) == [a4.id, a3.id, a2.id, a1.id]
    with pytest.raises(PermissionDenied, match=r"“Anomalies”"):
        search_anomalies(f.session, f.actor([Right.DAILY_TRANSACTIONS]))
    with pytest.raises(PermissionDenied, match="customer number"):
        count_anomalies(f.session, f.actor(numbers=(f.home.id,)), AnomalyFilter(customer_number_id=f.other.id))
    assert ids(search_anomalies(f.session, f.actor(numbers=(f.home.id,)))) == [a3.id, a2.id, a1.id]
