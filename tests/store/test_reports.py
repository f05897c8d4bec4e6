"""Monthly reports (store.queries.reports): totals against figures computed by hand on a small known fleet, month
roll-over in the customer's time zone (Europe/Brussels), l/100 km and cost per km, over-budget, paging, rights.

The fleet (customer number 4020001, period October–November 2026):
- card A (Distribution, Truck, odometer readings): October fills of 5 l (00:30 on 1 October in Brussels, still
  30 September in UTC), 50 l @10,000 km, 40 l @10,500, 30 l @10,900; November fills of 20 l @11,100 (00:30 on
  1 November in Brussels, 31 October in UTC), 60 l @11,900 and a car wash; a 10 l fill at 23:59 on 30 September
  (Brussels) is outside the period;
- card B (Long haul, Car, no readings): 40 l petrol and a shop purchase in November;
- OBU C (Distribution): tolls of 20.00 in October and 15.50 in November; one leaving at 00:30 on 1 December in
  Brussels (30 November in UTC) is outside the period;
- card D of the other customer number: never in these reports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session

from store.models import (
    Budget,
    Card,
    CardStatus,
    Customer,
    CustomerNumber,
    FleetDivision,
    FuelTransaction,
    Product,
    ProductType,
    Right,
    TollTransaction,
)
from store.issuer.month_totals import add_to_month_totals, rebuild_month_totals
from store.queries import reports
from store.queries.reports import MonthRange, month_bounds
from store.services.context import Actor
from store.services.errors import DomainError, PermissionDenied
from store.services.labels import right_label

D = Decimal
UTC = timezone.utc
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
PERIOD = MonthRange(OCT, NOV)


@dataclass
class Fleet:
    customer: Customer
    number: CustomerNumber
    other: CustomerNumber
    distribution: FleetDivision
    long_haul: FleetDivision
    a: Card
    b: Card
    c: Card
    d: Card
    actor: Actor

    def with_rights(self, *rights: Right, numbers: tuple[int, ...] | None = None) -> Actor:
        return Actor(user_id=None, label="tester", customer_id=self.customer.id, rights=frozenset(rights),
                     customer_number_ids=numbers if numbers is not None else (self.number.id, self.other.id))


_ids = iter(range(1, 10_000))


def fuel(card: Card, at: datetime, product: Product, quantity: str, excl: str, incl: str,
         odometer: int | None = None) -> FuelTransaction:
    return FuelTransaction(issuer_transaction_id=f"F{next(_ids)}", card_id=card.id, rank=1, occurred_at=at,
                           station="Station", city="Antwerpen", country="BE", product=product, quantity=D(quantity),
                           unit_price=D("1.6000"), amount_excl_vat=D(excl), vat_rate=D("21.00"),
                           amount_incl_vat=D(incl), odometer_km=odometer)


def toll(card: Card, exit_at: datetime, excl: str, incl: str) -> TollTransaction:
    return TollTransaction(issuer_transaction_id=f"T{next(_ids)}", card_id=card.id, operator="Viapass", country="BE",
                           entry_point="Antwerpen", exit_point="Gent", entry_at=exit_at, exit_at=exit_at,
                           vehicle_class="2", amount_excl_vat=D(excl), vat_rate=D("21.00"), amount_incl_vat=D(incl))


def build_fleet(session: Session) -> Fleet:
    customer = Customer(name="Rapport NV", driver_code_prefix="7311", timezone="Europe/Brussels")
    session.add(customer)
    session.flush()
    number = CustomerNumber(customer_id=customer.id, number="4020001", name="Rapport Antwerpen")
    other = CustomerNumber(customer_id=customer.id, number="4020002", name="Rapport Liège")
    session.add_all([number, other])
    session.flush()
    distribution = FleetDivision(customer_number_id=number.id, name="Distribution")
    long_haul = FleetDivision(customer_number_id=number.id, name="Long haul")
    elsewhere = FleetDivision(customer_number_id=other.id, name="Management")
    session.add_all([distribution, long_haul, elsewhere])
    session.flush()

    def card(n: int, division: FleetDivision, kind: ProductType, plate: str, vehicle: str | None) -> Card:
        found = Card(customer_number_id=division.customer_number_id, division_id=division.id, product_type=kind,
                     number=f"700600000000000{n}", rank=1, status=CardStatus.ACTIVE, license_plate=plate,
                     vehicle_type=vehicle)
        session.add(found)
        return found

    a = card(1, distribution, ProductType.FLEET_CARD, "1-AAA-001", "Truck")
    b = card(2, long_haul, ProductType.FLEET_CARD, "1-BBB-002", "Car")
    c = card(3, distribution, ProductType.PASSANGO_OBU, "1-AAA-001", None)
    d = card(4, elsewhere, ProductType.FLEET_CARD, "1-DDD-004", "Truck")
    session.flush()
    at = lambda *parts: datetime(*parts, tzinfo=UTC)  # noqa: E731
    session.add_all([
        fuel(a, at(2026, 9, 30, 21, 59), Product.DIESEL, "10", "16.00", "19.36", 9900),  # 23:59 Brussels: September
        fuel(a, at(2026, 9, 30, 22, 30), Product.DIESEL, "5", "8.00", "9.68"),  # 00:30 on 1 October in Brussels
        fuel(a, at(2026, 10, 5, 10), Product.DIESEL, "50", "80.00", "96.80", 10000),
        fuel(a, at(2026, 10, 15, 10), Product.DIESEL, "40", "64.00", "77.44", 10500),
        fuel(a, at(2026, 10, 25, 10), Product.DIESEL, "30", "48.00", "58.08", 10900),
        fuel(a, at(2026, 10, 31, 23, 30), Product.DIESEL, "20", "32.00", "38.72", 11100),  # 1 November in Brussels
        fuel(a, at(2026, 11, 20, 10), Product.DIESEL, "60", "96.00", "116.16", 11900),
        fuel(a, at(2026, 11, 20, 10, 5), Product.CAR_WASH, "1", "10.00", "12.10"),
        fuel(b, at(2026, 11, 10, 8), Product.PETROL_95, "40", "60.00", "72.60"),
        fuel(b, at(2026, 11, 12, 8), Product.SHOP, "1", "5.00", "6.05"),
        fuel(d, at(2026, 10, 10, 8), Product.DIESEL, "100", "150.00", "181.50", 50000),
        toll(c, at(2026, 10, 10, 12), "20.00", "24.20"),
        toll(c, at(2026, 11, 2, 12), "15.50", "18.76"),
        toll(c, at(2026, 11, 30, 23, 30), "7.00", "8.47"),  # 00:30 on 1 December in Brussels
    ])
    session.flush()
    rebuild_month_totals(session.connection())  # rows inserted directly: the reports read the month totals
    session.commit()
    fleet = Fleet(customer, number, other, distribution, long_haul, a, b, c, d, None)
    fleet.actor = fleet.with_rights(Right.REPORT_CARD_FOLLOWUP, Right.REPORT_CONSUMPTION, Right.REPORT_BUDGET,
                                    Right.REPORT_EXPORT)
    return fleet


@pytest.fixture
def fleet(session) -> Fleet:
    return build_fleet(session)


# --- periods --------------------------------------------------------------------------------------------

def test_a_period_is_whole_months_and_refuses_nonsense():
    period = MonthRange(date(2026, 11, 17), date(2027, 2, 3))
    assert (period.first, period.last) == (date(2026, 11, 1), date(2027, 2, 1))
    assert period.months == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert MonthRange.parse("2026-06", "11/2026").months[0] == date(2026, 6, 1)
    assert MonthRange.last_months(date(2026, 1, 31), 3) == MonthRange(date(2025, 11, 1), date(2026, 1, 1))
    assert period.shifted(-2) == MonthRange(date(2026, 9, 1), date(2026, 12, 1))
    with pytest.raises(DomainError, match="before it starts"):
        MonthRange(NOV, OCT)
    with pytest.raises(DomainError, match="at most 24"):
        MonthRange(date(2024, 1, 1), date(2026, 1, 1))
    with pytest.raises(DomainError, match="YYYY-MM"):
        reports.parse_month("november")


def test_month_bounds_are_local_midnights_across_the_dst_change():
    from zoneinfo import ZoneInfo

    bounds = month_bounds(PERIOD, ZoneInfo("Europe/Brussels"))
    assert bounds == [datetime(2026, 9, 30, 22, tzinfo=UTC),  # summer time: UTC+2
                      datetime(2026, 10, 31, 23, tzinfo=UTC),  # winter time since 25 October: UTC+1
                      datetime(2026, 11, 30, 23, tzinfo=UTC)]


# --- follow-up per card/OBU -----------------------------------------------------------------------------

def test_followup_months_totals_by_hand(session, fleet):
    october, november = reports.followup_months(session, fleet.actor, fleet.number.id, PERIOD)
    assert october.month == OCT and november.month == NOV
    # October: A's 5 l (1 October local), 50, 40 and 30 l; C's toll of 20.00. Not the 10 l of 30 September.
    assert october.fuel == reports.Figures(4, D("125.000"), D("200.00"), D("242.00"))
    assert october.toll == reports.Figures(1, D("0.000"), D("20.00"), D("24.20"))
    # November: A's 20 l (1 November local), 60 l and car wash; B's 40 l and shop; C's 15.50 (not 1 December's).
    assert november.fuel == reports.Figures(5, D("120.000"), D("203.00"), D("245.63"))
    assert november.toll == reports.Figures(1, D("0.000"), D("15.50"), D("18.76"))
    assert november.total.amount_incl_vat == D("264.39")


def test_followup_cards_month_by_month_in_keyset_pages(session, fleet):
    first = reports.followup_cards(session, fleet.actor, fleet.number.id, PERIOD, limit=2)
    assert [row.card_id for row in first] == [fleet.a.id, fleet.b.id]
    rest = reports.followup_cards(session, fleet.actor, fleet.number.id, PERIOD, after=first[-1].after, limit=2)
    assert [row.card_id for row in rest] == [fleet.c.id]
    a, b = first
    assert [m.fuel for m in a.months] == [reports.Figures(4, D("125.000"), D("200.00"), D("242.00")),
                                          reports.Figures(3, D("80.000"), D("138.00"), D("166.98"))]
    assert b.months[0].fuel == reports.Figures() and b.months[1].fuel.amount_excl_vat == D("65.00")
    assert b.months[1].fuel.litres == D("40.000")  # the shop purchase is no litre
    [c] = rest
    assert [m.toll.amount_excl_vat for m in c.months] == [D("20.00"), D("15.50")]
    assert c.total.total.amount_incl_vat == D("42.96")
    everything = list(reports.iter_followup_cards(session, fleet.actor, fleet.number.id, PERIOD, batch=1))
    assert [row.card_id for row in everything] == [fleet.a.id, fleet.b.id, fleet.c.id]


def test_a_one_month_period_and_a_month_without_transactions(session, fleet):
    december = MonthRange(date(2026, 12, 1), date(2026, 12, 1))
    [c] = reports.followup_cards(session, fleet.actor, fleet.number.id, december)
    assert c.card_id == fleet.c.id  # OBU C's toll at 00:30 on 1 December in Brussels
    [month] = reports.followup_months(session, fleet.actor, fleet.number.id, december)
    assert month.toll == reports.Figures(1, D("0.000"), D("7.00"), D("8.47")) and month.fuel == reports.Figures()
    january = MonthRange(date(2027, 1, 1), date(2027, 1, 1))
    assert reports.followup_cards(session, fleet.actor, fleet.number.id, january) == []
    assert reports.consumption_cards(session, fleet.actor, fleet.number.id, january) == []


# --- consumption ----------------------------------------------------------------------------------------

def test_consumption_per_card_l_per_100km_and_cost_per_km(session, fleet):
    a, b = reports.consumption_cards(session, fleet.actor, fleet.number.id, PERIOD)
    october, november = a.months
    # October: readings 10,000 → 10,900 = 900 km; the 50 l at the lowest reading were burnt before it: 40 + 30 l
    # for 64.00 + 48.00. The 5 l without a reading count in the litres, not in the ratios.
    assert october.figures == reports.Consumption(D("125.000"), D("200.00"), 900, D("70.000"), D("112.00"))
    assert october.figures.litres_per_100km == D("7.78") and october.figures.cost_per_km == D("0.124")
    # November: 11,100 → 11,900 = 800 km; 60 l for 96.00. The car wash is no fuel.
    assert november.figures == reports.Consumption(D("80.000"), D("128.00"), 800, D("60.000"), D("96.00"))
    assert november.figures.litres_per_100km == D("7.50") and november.figures.cost_per_km == D("0.120")
    # The period: 1,700 km (the 200 km between 10,900 and 11,100 belong to neither month), 130 l, 208.00.
    assert a.total.distance_km == 1700 and a.total.litres_per_100km == D("7.65") and a.total.cost_per_km == D("0.122")
    # B has no readings: litres, but no distance and no ratio.
    assert b.total == reports.Consumption(D("40.000"), D("60.00"), 0, D("0.000"), D("0.00"))
    assert b.total.litres_per_100km is None and b.total.cost_per_km is None


def test_consumption_per_division_and_vehicle_type(session, fleet):
    by_division = reports.consumption_groups(session, fleet.actor, fleet.number.id, PERIOD, by="division")
    assert [(g.label, g.cards) for g in by_division] == [("Distribution", 1), ("Long haul", 1)]
    distribution, long_haul = by_division
    assert distribution.total.litres == D("205.000") and distribution.total.distance_km == 1700
    assert distribution.total.litres_per_100km == D("7.65")
    assert long_haul.total.litres_per_100km is None and long_haul.months[1].figures.litres == D("40.000")
    by_type = reports.consumption_groups(session, fleet.actor, fleet.number.id, PERIOD, by="vehicle_type")
    assert [g.label for g in by_type] == ["Car", "Truck"]
    assert by_type[1].months[0].figures.litres_per_100km == D("7.78")


def test_consumption_group_sums_cards_before_dividing(session, fleet):
    # A second truck in Distribution: 200 km on 30 l in November (a heavy one).
    e = Card(customer_number_id=fleet.number.id, division_id=fleet.distribution.id, product_type=ProductType.FLEET_CARD,
             number="7006000000000005", rank=1, status=CardStatus.ACTIVE, license_plate="1-EEE-005",
             vehicle_type="Truck")
    session.add(e)
    session.flush()
    added = [fuel(e, datetime(2026, 11, 3, 9, tzinfo=UTC), Product.DIESEL, "10", "16.00", "19.36", 500),
             fuel(e, datetime(2026, 11, 9, 9, tzinfo=UTC), Product.DIESEL, "30", "48.00", "58.08", 700)]
    session.add_all(added)
    session.flush()
    add_to_month_totals(session.connection(), added)
    session.commit()
    [truck] = [g for g in reports.consumption_groups(session, fleet.actor, fleet.number.id, PERIOD, by="vehicle_type")
               if g.label == "Truck"]
    november = truck.months[1].figures
    # (60 + 30) l over (800 + 200) km = 9.00 l/100 km, not the mean of 7.50 and 15.00.
    assert (november.distance_km, november.measured_litres, november.litres_per_100km) == (1000, D("90.000"),
                                                                                           D("9.00"))
    assert truck.cards == 2


# --- budget follow-up -----------------------------------------------------------------------------------

def test_budget_followup_flags_over_budget(session, fleet):
    session.add_all([
        Budget(customer_number_id=fleet.number.id, division_id=fleet.distribution.id, month=OCT, amount=D("200.00")),
        Budget(customer_number_id=fleet.number.id, division_id=fleet.distribution.id, month=NOV, amount=D("300.00")),
        Budget(customer_number_id=fleet.number.id, card_id=fleet.a.id, month=NOV, amount=D("100.00")),
        Budget(customer_number_id=fleet.number.id, card_id=fleet.b.id, month=date(2026, 12, 1), amount=D("1.00")),
    ])
    session.commit()
    rows = reports.budget_followup(session, fleet.actor, fleet.number.id, PERIOD)
    assert [(r.kind, r.label) for r in rows] == [("division", "Distribution"), ("card", "7006000000000001 1-AAA-001"),
                                                ("division", "Long haul")]
    distribution, card_a, long_haul = rows
    # Distribution: A's fuel and C's toll. October 200.00 + 20.00 = 220.00 > 200.00; November 138.00 + 15.50.
    assert [(m.budget, m.actual, m.over) for m in distribution.months] == [
        (D("200.00"), D("220.00"), True), (D("300.00"), D("153.50"), False)]
    assert distribution.months[0].difference == D("-20.00") and distribution.over_months == 1
    assert (distribution.budget, distribution.actual, distribution.left) == (D("500.00"), D("373.50"), D("126.50"))
    # Card A only has a November budget: 138.00 against 100.00.
    assert [(m.budget, m.actual, m.over) for m in card_a.months] == [(None, D("200.00"), False),
                                                                     (D("100.00"), D("138.00"), True)]
    assert card_a.left == D("-38.00")  # October has no budget: its spend does not count against November's
    # Long haul has no budget (B's December budget is outside the period, so B is not listed): not over.
    assert long_haul.budget is None and long_haul.left is None and long_haul.actual == D("65.00")
    assert not long_haul.over


# --- rights and scope -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, right", [
    (lambda s, a, n: reports.followup_months(s, a, n, PERIOD), Right.REPORT_CARD_FOLLOWUP),
    (lambda s, a, n: reports.followup_cards(s, a, n, PERIOD), Right.REPORT_CARD_FOLLOWUP),
    (lambda s, a, n: reports.consumption_cards(s, a, n, PERIOD), Right.REPORT_CONSUMPTION),
    (lambda s, a, n: reports.consumption_groups(s, a, n, PERIOD), Right.REPORT_CONSUMPTION),
    (lambda s, a, n: reports.budget_followup(s, a, n, PERIOD), Right.REPORT_BUDGET),
])
def test_each_report_needs_its_right_and_the_customer_number(session, fleet, call, right):
    others = [r for r in Right if r is not right]
    with pytest.raises(PermissionDenied, match=re.escape(f"“{right_label(right)}”")):
        call(session, fleet.with_rights(*others), fleet.number.id)
    with pytest.raises(PermissionDenied, match="customer number"):
        call(session, fleet.with_rights(right, numbers=(fleet.number.id,)), fleet.other.id)
    call(session, fleet.with_rights(right), fleet.number.id)


def test_the_other_customer_number_sees_only_its_card(session, fleet):
    [d] = reports.followup_cards(session, fleet.actor, fleet.other.id, PERIOD)
    assert d.card_id == fleet.d.id and d.months[0].fuel.litres == D("100.000")


def test_export_rows_need_the_export_right_and_the_reports_right(session, fleet):
    with pytest.raises(PermissionDenied, match=r"“Data export \(xls\)”"):
        reports.export_report_rows(session, fleet.with_rights(Right.REPORT_BUDGET), "budget", fleet.number.id, PERIOD)
    with pytest.raises(PermissionDenied, match=r"“Consumption follow\-up”"):
        reports.export_report_rows(session, fleet.with_rights(Right.REPORT_EXPORT), "consumption", fleet.number.id,
                                   PERIOD)
    with pytest.raises(DomainError, match="no report"):
        reports.export_report_rows(session, fleet.actor, "invoices", fleet.number.id, PERIOD)
    rows = list(reports.export_report_rows(session, fleet.actor, "followup", fleet.number.id, PERIOD))
    assert [row.card_id for row in rows] == [fleet.a.id, fleet.b.id, fleet.c.id]
