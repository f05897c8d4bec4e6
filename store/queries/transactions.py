"""Read models of *Daily follow-up* (Fiche 02): daily fuel and service transactions, PASSango / Liber-t toll
transactions, and the anomalies found in them.

Every function takes `(session, actor, …)`, checks the right of its screen (`daily.transactions`,
`daily.toll_transactions`, `daily.anomalies`) and reads only the customer numbers the actor may act for: a
filter naming another customer number is refused, a filter naming none means every number of the actor.

Days are local days in the customer's time zone (`Customer.timezone`): the day 26/11/2026 in Brussels runs from
25/11 23:00 to 26/11 23:00 UTC. A fuel transaction belongs to the day of `occurred_at`, a toll transaction to
the day of its exit (`exit_at`), an anomaly to the day it was detected.

Lists page with keyset positions, never offsets: pass the last row's `after` for the next page. Transactions
come in time order (oldest first, as the day went), anomalies newest first. Totals are computed in SQL over
every matching row, not over the page, as `Decimal`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_
from sqlmodel import Session, select

from ..models import (
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    Card,
    Customer,
    CustomerNumber,
    FleetDivision,
    FuelTransaction,
    LimitAction,
    Product,
    ProductType,
    Right,
    TollOperator,
    TollTransaction,
    User,
)
from ..i18n import _
from ..services.context import Actor
from ..services.errors import DomainError
from .card_filter import LIKE_ESCAPE, like_pattern

TRANSACTION_PAGE = 50
ANOMALY_PAGE = 50
MAX_RANGE_DAYS = 366  # a toll or anomaly date range longer than a year is refused (it would read too much)
ZERO = Decimal("0")
FOLLOWUP_RIGHTS = (Right.DAILY_TRANSACTIONS, Right.ANOMALIES, Right.TOLL_TRANSACTIONS)

# The unit a product's quantity is counted in: litres, kilograms (CNG), kWh (charging), or pieces (services).
UNIT_LITRE, UNIT_KG, UNIT_KWH, UNIT_PIECE = "l", "kg", "kWh", "pcs"
PRODUCT_UNITS: dict[Product, str] = {
    Product.DIESEL: UNIT_LITRE,
    Product.PETROL_95: UNIT_LITRE,
    Product.PETROL_98: UNIT_LITRE,
    Product.LPG: UNIT_LITRE,
    Product.ADBLUE: UNIT_LITRE,
    Product.CNG: UNIT_KG,
    Product.EV_CHARGING: UNIT_KWH,
}
UNIT_ORDER = (UNIT_LITRE, UNIT_KG, UNIT_KWH, UNIT_PIECE)


def unit_of(product: Product) -> str:
    return PRODUCT_UNITS.get(product, UNIT_PIECE)


# --- scope: rights, customer numbers, the customer's time zone -------------------------------------------

def _customer_numbers(actor: Actor, customer_number_id: int | None) -> list[int] | None:
    """The customer numbers to read: the one asked for (if the actor may act for it), else all of the actor's;
    None means every number (the issuer)."""
    if customer_number_id is not None:
        actor.require_customer_number(customer_number_id)
        return [customer_number_id]
    return None if actor.is_issuer else list(actor.customer_number_ids)


def customer_zone(session: Session, actor: Actor, customer_number_id: int | None = None) -> ZoneInfo:
    """The time zone of the actor's customer (the issuer: of the customer number's customer; else UTC)."""
    customer = session.get(Customer, actor.customer_id) if actor.customer_id else None
    if customer is None and customer_number_id is not None:
        number = session.get(CustomerNumber, customer_number_id)
        customer = session.get(Customer, number.customer_id) if number else None
    try:
        return ZoneInfo(customer.timezone if customer else "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name must not stop the follow-up
        return ZoneInfo("UTC")


def day_bounds(day_from: date, day_to: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days `day_from` to `day_to` (inclusive) in `zone` (DST-aware: a local day
    lasts 23, 24 or 25 hours)."""
    start = datetime.combine(day_from, time(), tzinfo=zone)
    end = datetime.combine(day_to + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def _check_range(day_from: date, day_to: date) -> None:
    if day_from > day_to:
        raise DomainError(_("The From date ({start:%d/%m/%Y}) is after the To date ({end:%d/%m/%Y}).").format(
            start=day_from, end=day_to), field="date_from")
    if (day_to - day_from).days >= MAX_RANGE_DAYS:
        raise DomainError(_("Choose a range of at most {maximum} days.").format(maximum=MAX_RANGE_DAYS),
                          field="date_to")


def _card_text_clause(text: str):
    """Card number, licence plate (also typed without dashes), name on the card or driver: anywhere, any case."""
    words = " ".join((text or "").split())
    if not words:
        return None
    pattern = like_pattern(words.lower())
    compact = like_pattern(words.replace(" ", "").replace("-", "").lower())
    return or_(
        func.lower(func.coalesce(Card.number, "")).like(pattern, escape=LIKE_ESCAPE),
        func.lower(func.coalesce(Card.license_plate, "")).like(pattern, escape=LIKE_ESCAPE),
        func.lower(func.replace(func.coalesce(Card.license_plate, ""), "-", "")).like(compact, escape=LIKE_ESCAPE),
        func.lower(func.coalesce(Card.embossed_name, "")).like(pattern, escape=LIKE_ESCAPE),
        func.lower(func.coalesce(Card.driver_name, "")).like(pattern, escape=LIKE_ESCAPE),
    )


def _after(column, position: tuple[datetime, int] | None, descending: bool = False, id_column=None):
    """The keyset condition "after `position`" on (column, id) in the list's order."""
    if position is None:
        return None
    moment, row_id = position
    if descending:
        return or_(column < moment, and_(column == moment, id_column < row_id))
    return or_(column > moment, and_(column == moment, id_column > row_id))


@dataclass(frozen=True)
class Totals:
    """Totals over every matching transaction. `quantities`: (unit, quantity) per unit in UNIT_ORDER, only the
    units that occur (services count pieces)."""

    count: int = 0
    quantities: tuple[tuple[str, Decimal], ...] = ()
    amount_excl_vat: Decimal = ZERO
    amount_incl_vat: Decimal = ZERO

    @property
    def vat(self) -> Decimal:
        return self.amount_incl_vat - self.amount_excl_vat

    def quantity(self, unit: str) -> Decimal:
        return dict(self.quantities).get(unit, ZERO)


def _money(value) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))


def _volume(value) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.001"))


# --- daily fuel and service transactions ----------------------------------------------------------------

@dataclass(frozen=True)
class TransactionFilter:
    """The filters of Daily transactions; every field optional. `text`: card number, plate, name or driver;
    `country`: ISO alpha-2 of the station; `with_anomaly`: only transactions with at least one anomaly."""

    customer_number_id: int | None = None
    text: str = ""
    division_id: int | None = None
    product: Product | None = None
    country: str | None = None
    with_anomaly: bool = False


@dataclass(frozen=True)
class FuelTransactionRow:
    id: int
    occurred_at: datetime
    card_id: int
    card_number: str | None
    rank: int
    license_plate: str | None
    embossed_name: str | None
    driver_name: str | None
    division: str
    customer_number: str
    station: str
    city: str
    country: str
    product: Product
    quantity: Decimal
    unit_price: Decimal
    amount_excl_vat: Decimal
    vat_rate: Decimal
    amount_incl_vat: Decimal
    odometer_km: int | None
    driver_code: str | None
    anomalies: int  # how many anomalies were found in this transaction

    @property
    def unit(self) -> str:
        return unit_of(self.product)

    @property
    def after(self) -> tuple[datetime, int]:
        """The keyset position of this row: pass it as `after` for the next page."""
        return (self.occurred_at, self.id)


def _fuel_query(session: Session, actor: Actor, day: date, where: TransactionFilter, columns: Iterable):
    actor.require(Right.DAILY_TRANSACTIONS)
    numbers = _customer_numbers(actor, where.customer_number_id)
    start, end = day_bounds(day, day, customer_zone(session, actor, where.customer_number_id))
    query = (select(*columns).select_from(FuelTransaction)
             .join(Card, Card.id == FuelTransaction.card_id)
             .where(FuelTransaction.occurred_at >= start, FuelTransaction.occurred_at < end))
    if numbers is not None:
        query = query.where(Card.customer_number_id.in_(numbers))
    if where.division_id is not None:
        query = query.where(Card.division_id == where.division_id)
    if where.product is not None:
        query = query.where(FuelTransaction.product == where.product)
    country = (where.country or "").strip().upper()
    if country:
        query = query.where(FuelTransaction.country == country)
    text = _card_text_clause(where.text)
    if text is not None:
        query = query.where(text)
    if where.with_anomaly:
        query = query.where(exists().where(Anomaly.fuel_transaction_id == FuelTransaction.id))
    return query


def daily_transactions(session: Session, actor: Actor, day: date, where: TransactionFilter | None = None,
                       after: tuple[datetime, int] | None = None,
                       limit: int = TRANSACTION_PAGE) -> list[FuelTransactionRow]:
    """One page of the fuel and service transactions of the local `day` matching `where`, oldest first (ties by
    id). For the next page pass the last row's `after`."""
    where = where or TransactionFilter()
    anomaly_count = (select(func.count(Anomaly.id)).where(Anomaly.fuel_transaction_id == FuelTransaction.id)
                     .correlate(FuelTransaction).scalar_subquery())
    query = (_fuel_query(session, actor, day, where,
                         (FuelTransaction, Card.number, Card.license_plate, Card.embossed_name, Card.driver_name,
                          FleetDivision.name, CustomerNumber.number, anomaly_count.label("anomalies")))
             .join(FleetDivision, FleetDivision.id == Card.division_id)
             .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id))
    keyset = _after(FuelTransaction.occurred_at, after, id_column=FuelTransaction.id)
    if keyset is not None:
        query = query.where(keyset)
    query = query.order_by(FuelTransaction.occurred_at, FuelTransaction.id).limit(limit)
    return [
        FuelTransactionRow(
            id=t.id, occurred_at=t.occurred_at, card_id=t.card_id, card_number=number, rank=t.rank,
            license_plate=plate, embossed_name=name, driver_name=driver, division=division,
            customer_number=customer_number, station=t.station, city=t.city, country=t.country, product=t.product,
            quantity=t.quantity, unit_price=t.unit_price, amount_excl_vat=t.amount_excl_vat, vat_rate=t.vat_rate,
            amount_incl_vat=t.amount_incl_vat, odometer_km=t.odometer_km, driver_code=t.driver_code,
            anomalies=int(anomalies or 0))
        for t, number, plate, name, driver, division, customer_number, anomalies in session.exec(query).all()
    ]


def daily_totals(session: Session, actor: Actor, day: date, where: TransactionFilter | None = None) -> Totals:
    """The totals of every transaction `daily_transactions` pages through: count, quantity per unit, amounts."""
    where = where or TransactionFilter()
    query = _fuel_query(session, actor, day, where,
                        (FuelTransaction.product, func.count(FuelTransaction.id), func.sum(FuelTransaction.quantity),
                         func.sum(FuelTransaction.amount_excl_vat), func.sum(FuelTransaction.amount_incl_vat)))
    count, excl, incl = 0, ZERO, ZERO
    quantities: dict[str, Decimal] = {}
    for product, n, quantity, amount_excl, amount_incl in session.exec(query.group_by(FuelTransaction.product)):
        count += n
        excl += _money(amount_excl)
        incl += _money(amount_incl)
        unit = unit_of(product)
        quantities[unit] = quantities.get(unit, ZERO) + _volume(quantity)
    return Totals(count=count, quantities=tuple((u, quantities[u]) for u in UNIT_ORDER if u in quantities),
                  amount_excl_vat=excl, amount_incl_vat=incl)


def transaction_anomalies(session: Session, actor: Actor, transaction_id: int) -> list[tuple[AnomalyRule, dict,
                                                                                             AnomalyStatus]]:
    """The anomalies found in one fuel transaction (rule, the values that broke it, status), for its details.
    A transaction of another customer number is refused."""
    actor.require(Right.DAILY_TRANSACTIONS)
    row = session.exec(select(Card.customer_number_id).join(FuelTransaction, FuelTransaction.card_id == Card.id)
                       .where(FuelTransaction.id == transaction_id)).first()
    if row is None:
        return []
    actor.require_customer_number(row)
    query = select(Anomaly).where(Anomaly.fuel_transaction_id == transaction_id).order_by(Anomaly.id)
    return [(a.rule, dict(a.details or {}), a.status) for a in session.exec(query).all()]


def followup_divisions(session: Session, actor: Actor, customer_number_id: int) -> list[tuple[int, str]]:
    """The fleet divisions of a customer number by name: the choices of the division filters of Daily follow-up.
    Any of the three daily follow-up rights will do."""
    if not any(actor.has(right) for right in FOLLOWUP_RIGHTS):
        actor.require(Right.DAILY_TRANSACTIONS)
    actor.require_customer_number(customer_number_id)
    query = (select(FleetDivision.id, FleetDivision.name)
             .where(FleetDivision.customer_number_id == customer_number_id).order_by(FleetDivision.name))
    return [(division_id, name) for division_id, name in session.exec(query).all()]


# --- toll transactions (PASSango / Liber-t OBUs) ---------------------------------------------------------

@dataclass(frozen=True)
class TollFilter:
    """The filters of PASSango transactions; every field optional. `text`: OBU number, plate or name."""

    customer_number_id: int | None = None
    text: str = ""
    division_id: int | None = None
    operator: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class TollTransactionRow:
    id: int
    card_id: int
    obu_number: str | None
    product_type: ProductType
    license_plate: str | None
    embossed_name: str | None
    division: str
    customer_number: str
    operator: str
    country: str
    entry_point: str
    exit_point: str
    entry_at: datetime
    exit_at: datetime
    vehicle_class: str
    amount_excl_vat: Decimal
    vat_rate: Decimal
    amount_incl_vat: Decimal

    @property
    def after(self) -> tuple[datetime, int]:
        return (self.exit_at, self.id)


def _toll_query(session: Session, actor: Actor, day_from: date, day_to: date, where: TollFilter, columns):
    actor.require(Right.TOLL_TRANSACTIONS)
    _check_range(day_from, day_to)
    numbers = _customer_numbers(actor, where.customer_number_id)
    start, end = day_bounds(day_from, day_to, customer_zone(session, actor, where.customer_number_id))
    query = (select(*columns).select_from(TollTransaction)
             .join(Card, Card.id == TollTransaction.card_id)
             .where(TollTransaction.exit_at >= start, TollTransaction.exit_at < end))
    if numbers is not None:
        query = query.where(Card.customer_number_id.in_(numbers))
    if where.division_id is not None:
        query = query.where(Card.division_id == where.division_id)
    if where.operator:
        query = query.where(TollTransaction.operator == where.operator)
    country = (where.country or "").strip().upper()
    if country:
        query = query.where(TollTransaction.country == country)
    text = _card_text_clause(where.text)
    if text is not None:
        query = query.where(text)
    return query


def toll_transactions(session: Session, actor: Actor, day_from: date, day_to: date | None = None,
                      where: TollFilter | None = None, after: tuple[datetime, int] | None = None,
                      limit: int = TRANSACTION_PAGE) -> list[TollTransactionRow]:
    """One page of the toll transactions whose exit falls on the local days `day_from`…`day_to` (one day when
    `day_to` is None), in exit order (ties by id)."""
    where = where or TollFilter()
    query = (_toll_query(session, actor, day_from, day_to or day_from, where,
                         (TollTransaction, Card.number, Card.product_type, Card.license_plate, Card.embossed_name,
                          FleetDivision.name, CustomerNumber.number))
             .join(FleetDivision, FleetDivision.id == Card.division_id)
             .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id))
    keyset = _after(TollTransaction.exit_at, after, id_column=TollTransaction.id)
    if keyset is not None:
        query = query.where(keyset)
    query = query.order_by(TollTransaction.exit_at, TollTransaction.id).limit(limit)
    return [
        TollTransactionRow(
            id=t.id, card_id=t.card_id, obu_number=number, product_type=product_type, license_plate=plate,
            embossed_name=name, division=division, customer_number=customer_number, operator=t.operator,
            country=t.country, entry_point=t.entry_point, exit_point=t.exit_point, entry_at=t.entry_at,
            exit_at=t.exit_at, vehicle_class=t.vehicle_class, amount_excl_vat=t.amount_excl_vat,
            vat_rate=t.vat_rate, amount_incl_vat=t.amount_incl_vat)
        for t, number, product_type, plate, name, division, customer_number in session.exec(query).all()
    ]


def toll_totals(session: Session, actor: Actor, day_from: date, day_to: date | None = None,
                where: TollFilter | None = None) -> Totals:
    """Count and amounts of every toll transaction `toll_transactions` pages through (no quantities)."""
    where = where or TollFilter()
    query = _toll_query(session, actor, day_from, day_to or day_from, where,
                        (func.count(TollTransaction.id), func.sum(TollTransaction.amount_excl_vat),
                         func.sum(TollTransaction.amount_incl_vat)))
    count, excl, incl = session.exec(query).one()
    return Totals(count=int(count or 0), amount_excl_vat=_money(excl), amount_incl_vat=_money(incl))


def toll_operators(session: Session, actor: Actor) -> list[str]:
    """The toll operators the operator filter offers: every operator of the issuer's toll network (TollOperator),
    sorted. Fixed, so the screen never scans the toll transactions to fill a list."""
    actor.require(Right.TOLL_TRANSACTIONS)
    return sorted(operator.value for operator in TollOperator)


# --- anomalies --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnomalyFilter:
    """The filters of Anomalies; every field optional. `statuses` empty: new and acknowledged; `date_from` /
    `date_to`: local days of detection, inclusive; `card_id` one card, `text` card number, plate, name."""

    customer_number_id: int | None = None
    statuses: tuple[AnomalyStatus, ...] = ()
    rule: AnomalyRule | None = None
    date_from: date | None = None
    date_to: date | None = None
    card_id: int | None = None
    text: str = ""


@dataclass(frozen=True)
class AnomalyRow:
    id: int
    detected_at: datetime
    rule: AnomalyRule
    details: dict
    action: LimitAction
    status: AnomalyStatus
    comment: str | None
    acknowledged_by: str | None  # the user name
    acknowledged_at: datetime | None
    card_id: int
    card_number: str | None
    license_plate: str | None
    embossed_name: str | None
    division: str
    customer_number: str
    # The transaction it was found in (fuel or toll), when there is one.
    occurred_at: datetime | None
    place: str | None  # station and city, or the toll exit point
    country: str | None
    product: Product | None
    amount_incl_vat: Decimal | None

    @property
    def after(self) -> tuple[datetime, int]:
        return (self.detected_at, self.id)


def _anomaly_query(session: Session, actor: Actor, where: AnomalyFilter, columns):
    actor.require(Right.ANOMALIES)
    numbers = _customer_numbers(actor, where.customer_number_id)
    query = select(*columns).select_from(Anomaly).join(Card, Card.id == Anomaly.card_id)
    if numbers is not None:
        query = query.where(Card.customer_number_id.in_(numbers))
    if where.statuses:
        query = query.where(Anomaly.status.in_(list(where.statuses)))
    if where.rule is not None:
        query = query.where(Anomaly.rule == where.rule)
    if where.card_id is not None:
        query = query.where(Anomaly.card_id == where.card_id)
    if where.date_from is not None or where.date_to is not None:
        if where.date_from is not None and where.date_to is not None:
            _check_range(where.date_from, where.date_to)
        zone = customer_zone(session, actor, where.customer_number_id)
        if where.date_from is not None:
            query = query.where(Anomaly.detected_at >= day_bounds(where.date_from, where.date_from, zone)[0])
        if where.date_to is not None:
            query = query.where(Anomaly.detected_at < day_bounds(where.date_to, where.date_to, zone)[1])
    text = _card_text_clause(where.text)
    if text is not None:
        query = query.where(text)
    return query


def search_anomalies(session: Session, actor: Actor, where: AnomalyFilter | None = None,
                     after: tuple[datetime, int] | None = None, limit: int = ANOMALY_PAGE) -> list[AnomalyRow]:
    """One page of anomalies matching `where`, newest detection first (ties: higher id first). For the next page
    pass the last row's `after`."""
    where = where or AnomalyFilter()
    query = (_anomaly_query(session, actor, where,
                            (Anomaly, Card.number, Card.license_plate, Card.embossed_name, FleetDivision.name,
                             CustomerNumber.number, User.username, FuelTransaction, TollTransaction))
             .join(FleetDivision, FleetDivision.id == Card.division_id)
             .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
             .outerjoin(User, User.id == Anomaly.acknowledged_by_id)
             .outerjoin(FuelTransaction, FuelTransaction.id == Anomaly.fuel_transaction_id)
             .outerjoin(TollTransaction, TollTransaction.id == Anomaly.toll_transaction_id))
    keyset = _after(Anomaly.detected_at, after, descending=True, id_column=Anomaly.id)
    if keyset is not None:
        query = query.where(keyset)
    query = query.order_by(Anomaly.detected_at.desc(), Anomaly.id.desc()).limit(limit)
    rows = []
    for a, number, plate, name, division, customer_number, username, fuel, toll in session.exec(query).all():
        if fuel is not None:
            occurred, place, country = fuel.occurred_at, f"{fuel.station}, {fuel.city}", fuel.country
            product, amount = fuel.product, fuel.amount_incl_vat
        elif toll is not None:
            occurred, place, country = toll.exit_at, toll.exit_point, toll.country
            product, amount = Product.TOLLS, toll.amount_incl_vat
        else:
            occurred = place = country = product = amount = None
        rows.append(AnomalyRow(
            id=a.id, detected_at=a.detected_at, rule=a.rule, details=dict(a.details or {}), action=a.action,
            status=a.status, comment=a.comment, acknowledged_by=username, acknowledged_at=a.acknowledged_at,
            card_id=a.card_id, card_number=number, license_plate=plate, embossed_name=name, division=division,
            customer_number=customer_number, occurred_at=occurred, place=place, country=country, product=product,
            amount_incl_vat=amount))
    return rows


def count_anomalies(session: Session, actor: Actor, where: AnomalyFilter | None = None) -> int:
    """How many anomalies `search_anomalies` pages through."""
    query = _anomaly_query(session, actor, where or AnomalyFilter(), (func.count(Anomaly.id),))
    return int(session.exec(query).one())
