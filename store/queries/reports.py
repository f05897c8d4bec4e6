"""Monthly reports (Fiche 02 *Maandelijkse rapporten*): follow-up per card/OBU, consumption, budget follow-up.

Every report covers a `MonthRange` (whole calendar months, at most `MAX_MONTHS`) of ONE customer number the
actor may act for, and needs its own right (`reports.card_followup`, `reports.consumption`, `reports.budget`);
`export_report_rows` needs `reports.export` as well.

Months are the customer's months: the boundaries are computed here in the customer's time zone (a fill at
00:30 on 1 December in Brussels is a December fill, although it is 30 November in UTC) and passed to the
database as UTC instants. Fuel transactions count by `occurred_at`, toll transactions by `exit_at`.

The reports read the per-card month totals (store.models.CardMonthTotal, kept by store.issuer.month_totals in
the transaction that inserts the transactions), not the transactions themselves: at 2,000,000 transactions the
whole-customer-number views (months, divisions, vehicle types, budgets) would read every row for seconds
(issue 8). The totals' months are the customer's months, as `month_bounds` computes them.

Everything is summed in SQL (GROUP BY card or group and month); Python only puts the aggregated lines in order.
Per-card results come in keyset pages (`after` = the last row's `after`), only cards with a transaction in
the period, in card-number order; `iter_*` walk every page for exports.

Consumption (how the distance is measured):
- Only liquid fuels count (diesel, petrol 95/98, LPG: `CONSUMPTION_PRODUCTS`): AdBlue is no fuel, and EV
  charging (kWh) and CNG (kg) are not litres.
- Per card and month the distance is the highest minus the lowest odometer reading typed at those fills.
  A month with fewer than two readings (no odometer prompt, or one fill) has no distance, no l/100 km and no
  cost per km; its litres still count in the totals.
- Fuel bought at the month's lowest reading was burnt before it (full-to-full method), so l/100 km and cost
  per km use only the fills with a reading above the month's lowest: "measured" litres and cost. Fills
  without a reading are in the totals but not in the ratios.
- The km between a card's last reading of one month and its first of the next belong to neither month: the
  monthly distance is a lower bound of what was driven. A period's distance is the sum of its months.
- Readings are taken as typed; implausible ones are reported by the anomaly check, not corrected here.
- A division's or vehicle type's figures are the sums of its cards' figures (the card's division and vehicle
  type today), and its ratios come from those sums.

Budget follow-up compares the budgets (store.models.Budget, set with store.services.budgets) with the spend
excluding VAT (fuel, services and toll) of the division's cards or of the card, month by month. Every
division of the customer number is listed (with or without a budget); cards only when they have a budget in
the period.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Iterator, Literal, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select as sa_select, tuple_
from sqlmodel import Session, select

from ..models import (
    Budget,
    Card,
    CardMonthTotal,
    Customer,
    CustomerNumber,
    FleetDivision,
    Product,
    ProductType,
    Right,
)
from ..i18n import _
from ..services.context import Actor
from ..services.errors import DomainError, NotFound
from .cards import NO_TEXT

MAX_MONTHS = 24
REPORT_PAGE = 50
EXPORT_BATCH = 2000  # cards per keyset batch when a whole report is read (exports)

# Follow-up "volume": the products sold by the litre.
LITRE_PRODUCTS = (Product.DIESEL, Product.PETROL_95, Product.PETROL_98, Product.LPG, Product.ADBLUE)
# Consumption: the fuels a vehicle burns by the litre.
CONSUMPTION_PRODUCTS = (Product.DIESEL, Product.PETROL_95, Product.PETROL_98, Product.LPG)

ZERO = Decimal(0)
CENT = Decimal("0.01")
MILLILITRE = Decimal("0.001")

ReportKind = Literal["followup", "consumption", "budget"]
REPORT_KINDS: tuple[str, ...] = ("followup", "consumption", "budget")
REPORT_RIGHTS = {"followup": Right.REPORT_CARD_FOLLOWUP, "consumption": Right.REPORT_CONSUMPTION,
                 "budget": Right.REPORT_BUDGET}
GroupBy = Literal["division", "vehicle_type"]


# --- periods ---------------------------------------------------------------------------------------------

def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> date:
    """"2026-11" (or "11/2026") → date(2026, 11, 1); DomainError when it is no month."""
    text = (text or "").strip()
    try:
        if "/" in text:
            month, year = text.split("/")
        else:
            year, month = text.split("-")[:2]
        return date(int(year), int(month), 1)
    except (ValueError, TypeError):
        raise DomainError(_("“{text}” is no month: write it as YYYY-MM, e.g. 2026-11.").format(text=text),
                          field="month") from None


@dataclass(frozen=True)
class MonthRange:
    """Whole calendar months from `first` through `last` (both given as any day of their month)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        object.__setattr__(self, "first", first_of_month(self.first))
        object.__setattr__(self, "last", first_of_month(self.last))
        if self.last < self.first:
            raise DomainError(_("The period ends ({last:%m/%Y}) before it starts ({first:%m/%Y}): swap the "
                                "months.").format(last=self.last, first=self.first), field="period")
        if len(self.months) > MAX_MONTHS:
            raise DomainError(_("A report covers at most {maximum} months; this period has {count}: choose a "
                                "shorter one.").format(maximum=MAX_MONTHS, count=len(self.months)), field="period")

    @classmethod
    def parse(cls, first: str, last: str) -> MonthRange:
        return cls(parse_month(first), parse_month(last))

    @classmethod
    def last_months(cls, today: date, count: int = 6) -> MonthRange:
        """The `count` months up to and including `today`'s."""
        return cls(add_months(first_of_month(today), -(count - 1)), today)

    @property
    def months(self) -> list[date]:
        count = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
        return [add_months(self.first, i) for i in range(max(count, 0))]

    def shifted(self, count: int) -> MonthRange:
        return MonthRange(add_months(self.first, count), add_months(self.last, count))

    def label(self) -> str:
        return f"{self.first:%m/%Y}" if self.first == self.last else f"{self.first:%m/%Y}–{self.last:%m/%Y}"


def month_bounds(period: MonthRange, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which each month of `period` starts in `zone`, and the one at which the last ends."""
    months = period.months + [add_months(period.last, 1)]
    return [datetime.combine(m, time(), tzinfo=zone).astimezone(timezone.utc) for m in months]


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


# --- shared helpers ---------------------------------------------------------------------------------------

def _money(value) -> Decimal:
    return ZERO.quantize(CENT) if value is None else Decimal(str(value)).quantize(CENT)


def _volume(value) -> Decimal:
    return ZERO.quantize(MILLILITRE) if value is None else Decimal(str(value)).quantize(MILLILITRE)


def _number(session: Session, actor: Actor, right: Right, customer_number_id: int) -> CustomerNumber:
    actor.require(right)
    actor.require_customer_number(customer_number_id)
    number = session.get(CustomerNumber, customer_number_id)
    if number is None:
        raise NotFound(_("This customer number does not exist."))
    return number


def number_zone(session: Session, number: CustomerNumber) -> ZoneInfo:
    """The time zone of the customer that holds `number` (UTC if unknown)."""
    customer = session.get(Customer, number.customer_id)
    try:
        return ZoneInfo(customer.timezone if customer else "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name must not stop a report
        return ZoneInfo("UTC")


MT = CardMonthTotal


def _in_months(period: MonthRange):
    """Month totals of `period` (the totals' months are the customer's, see store.issuer.month_totals)."""
    return and_(MT.month >= period.first, MT.month <= period.last)


def _card_of(session: Session, card_id_column):
    """`card_id_column` to join Card on in a whole-customer-number aggregate. On SQLite it is written as an
    expression so that the planner reads the month totals through once and looks each card up by its key, instead
    of walking the customer number's cards and searching each one's totals (about twice the work); PostgreSQL
    chooses by its statistics."""
    if session.get_bind().dialect.name == "sqlite":
        return func.coalesce(card_id_column, card_id_column)  # same value; no index applies to an expression
    return card_id_column


def _month_index(period: MonthRange) -> dict[date, int]:
    return {month: i for i, month in enumerate(period.months)}


_sort_key = func.coalesce(Card.number, NO_TEXT)


@dataclass(frozen=True)
class _CardInfo:
    id: int
    number: str | None
    product_type: ProductType
    license_plate: str | None
    embossed_name: str | None
    driver_name: str | None
    division: str
    vehicle_type: str | None


def _card_page(session: Session, number_id: int, used, after: tuple[str, int] | None, limit: int
               ) -> list[_CardInfo]:
    """A keyset page of the customer number's cards for which `used` (an EXISTS on Card.id) holds."""
    query = (select(Card.id, Card.number, Card.product_type, Card.license_plate, Card.embossed_name,
                    Card.driver_name, FleetDivision.name, Card.vehicle_type)
             .join(FleetDivision, FleetDivision.id == Card.division_id)
             .where(Card.customer_number_id == number_id, used))
    if after is not None:
        query = query.where(tuple_(_sort_key, Card.id) > tuple_(*after))
    query = query.order_by(_sort_key, Card.id).limit(limit)
    return [_CardInfo(*row) for row in session.exec(query).all()]


# --- follow-up per card/OBU -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figures:
    """What a card (or the customer number) bought in a month: transactions, litres, amounts."""

    transactions: int = 0
    litres: Decimal = ZERO
    amount_excl_vat: Decimal = ZERO
    amount_incl_vat: Decimal = ZERO

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.transactions + other.transactions, self.litres + other.litres,
                       self.amount_excl_vat + other.amount_excl_vat, self.amount_incl_vat + other.amount_incl_vat)


@dataclass(frozen=True)
class FollowupMonth:
    month: date
    fuel: Figures = Figures()  # fuel and services (the card's fills and purchases)
    toll: Figures = Figures()  # toll (OBU) transactions; no litres

    @property
    def total(self) -> Figures:
        return self.fuel + self.toll


@dataclass(frozen=True)
class FollowupCardRow:
    """One card/OBU over the period: every month of it, zeros where nothing happened."""

    card_id: int
    number: str | None
    product_type: ProductType
    license_plate: str | None
    embossed_name: str | None
    driver_name: str | None
    division: str
    months: tuple[FollowupMonth, ...]

    @property
    def total(self) -> FollowupMonth:
        fuel, toll = Figures(), Figures()
        for month in self.months:
            fuel, toll = fuel + month.fuel, toll + month.toll
        return FollowupMonth(self.months[0].month if self.months else date.min, fuel, toll)

    @property
    def after(self) -> tuple[str, int]:
        return (self.number or "", self.card_id)


_FOLLOWUP_SUMS = (MT.fuel_count, MT.fuel_litres, MT.fuel_excl, MT.fuel_incl, MT.toll_count, MT.toll_excl,
                  MT.toll_incl)


def _figures(count, litres, excl, incl) -> Figures:
    return Figures(int(count or 0), _volume(litres), _money(excl), _money(incl)) if count else Figures()


def _fuel_toll(fuel_count, fuel_litres, fuel_excl, fuel_incl, toll_count, toll_excl, toll_incl
               ) -> tuple[Figures, Figures]:
    return _figures(fuel_count, fuel_litres, fuel_excl, fuel_incl), _figures(toll_count, 0, toll_excl, toll_incl)


def followup_months(session: Session, actor: Actor, customer_number_id: int,
                    period: MonthRange) -> list[FollowupMonth]:
    """The customer number's fuel and toll totals month by month (every month of `period`)."""
    number = _number(session, actor, Right.REPORT_CARD_FOLLOWUP, customer_number_id)
    index = _month_index(period)
    found = {index[m]: _fuel_toll(*rest) for m, *rest in session.execute(
        sa_select(MT.month, *map(func.sum, _FOLLOWUP_SUMS)).join(Card, Card.id == _card_of(session, MT.card_id))
        .where(Card.customer_number_id == number.id, _in_months(period)).group_by(MT.month))}
    return [FollowupMonth(month, *found.get(i, (Figures(), Figures()))) for i, month in enumerate(period.months)]


def followup_cards(session: Session, actor: Actor, customer_number_id: int, period: MonthRange,
                   after: tuple[str, int] | None = None, limit: int = REPORT_PAGE) -> list[FollowupCardRow]:
    """One keyset page of the cards/OBUs with a fuel or toll transaction in `period`, by card number, each with
    its figures month by month."""
    number = _number(session, actor, Right.REPORT_CARD_FOLLOWUP, customer_number_id)
    used = exists().where(MT.card_id == Card.id, _in_months(period))
    cards = _card_page(session, number.id, used, after, limit)
    if not cards:
        return []
    index = _month_index(period)
    found = {(c, index[m]): _fuel_toll(*rest) for c, m, *rest in session.execute(
        sa_select(MT.card_id, MT.month, *_FOLLOWUP_SUMS)
        .where(MT.card_id.in_([card.id for card in cards]), _in_months(period)))}
    nothing = (Figures(), Figures())
    return [FollowupCardRow(card.id, card.number, card.product_type, card.license_plate, card.embossed_name,
                            card.driver_name, card.division,
                            tuple(FollowupMonth(month, *found.get((card.id, i), nothing))
                                  for i, month in enumerate(period.months)))
            for card in cards]


def iter_followup_cards(session: Session, actor: Actor, customer_number_id: int, period: MonthRange,
                        batch: int = EXPORT_BATCH) -> Iterator[FollowupCardRow]:
    """Every card of `followup_cards`, read in keyset batches (flat memory)."""
    after = None
    while True:
        rows = followup_cards(session, actor, customer_number_id, period, after=after, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].after


# --- consumption ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Consumption:
    """Fuel a card (or a group of cards) bought and the distance its odometer readings show."""

    litres: Decimal = ZERO  # every litre of fuel bought
    cost: Decimal = ZERO  # what those litres cost, excluding VAT
    distance_km: int = 0  # highest - lowest reading per card and month, summed; 0 when not measurable
    measured_litres: Decimal = ZERO  # litres bought at fills with a reading above the month's lowest
    measured_cost: Decimal = ZERO  # their cost, excluding VAT

    def __add__(self, other: Consumption) -> Consumption:
        return Consumption(self.litres + other.litres, self.cost + other.cost, self.distance_km + other.distance_km,
                           self.measured_litres + other.measured_litres, self.measured_cost + other.measured_cost)

    @property
    def litres_per_100km(self) -> Decimal | None:
        if not self.distance_km:
            return None
        return (self.measured_litres * 100 / self.distance_km).quantize(CENT)

    @property
    def cost_per_km(self) -> Decimal | None:
        if not self.distance_km:
            return None
        return (self.measured_cost / self.distance_km).quantize(MILLILITRE)


@dataclass(frozen=True)
class ConsumptionMonth:
    month: date
    figures: Consumption = Consumption()


def _total(months: Sequence[ConsumptionMonth]) -> Consumption:
    total = Consumption()
    for month in months:
        total = total + month.figures
    return total


@dataclass(frozen=True)
class ConsumptionCardRow:
    card_id: int
    number: str | None
    license_plate: str | None
    embossed_name: str | None
    division: str
    vehicle_type: str | None
    months: tuple[ConsumptionMonth, ...]

    @property
    def total(self) -> Consumption:
        return _total(self.months)

    @property
    def after(self) -> tuple[str, int]:
        return (self.number or "", self.card_id)


@dataclass(frozen=True)
class ConsumptionGroupRow:
    """A fleet division or a vehicle type (`key`: its id or its name; `label`: what to show)."""

    key: object
    label: str
    cards: int  # cards with a fuel purchase in the period
    months: tuple[ConsumptionMonth, ...]

    @property
    def total(self) -> Consumption:
        return _total(self.months)


# Per card and month (see the module's docstring): litres, cost, distance, measured litres and cost. The month
# totals keep the lowest and highest reading and the litres/cost of the fills with a reading (km_*) and of those
# at the lowest reading (low_*): the fills above the lowest are the difference.
_CONSUMPTION_FIGURES = (MT.cons_litres, MT.cons_cost, MT.km_max - MT.km_min, MT.km_litres - MT.low_litres,
                        MT.km_cost - MT.low_cost)


def _consumption(litres, cost, distance, measured_litres, measured_cost) -> Consumption:
    return Consumption(_volume(litres), _money(cost), int(distance or 0), _volume(measured_litres),
                       _money(measured_cost))


def consumption_cards(session: Session, actor: Actor, customer_number_id: int, period: MonthRange,
                      after: tuple[str, int] | None = None, limit: int = REPORT_PAGE) -> list[ConsumptionCardRow]:
    """One keyset page of the cards that bought fuel in `period`, by card number, with their consumption month by
    month."""
    number = _number(session, actor, Right.REPORT_CONSUMPTION, customer_number_id)
    used = exists().where(MT.card_id == Card.id, _in_months(period), MT.cons_count > 0)
    cards = _card_page(session, number.id, used, after, limit)
    if not cards:
        return []
    index = _month_index(period)
    figures = {(c, index[m]): _consumption(*rest) for c, m, *rest in session.execute(
        sa_select(MT.card_id, MT.month, *_CONSUMPTION_FIGURES)
        .where(MT.card_id.in_([card.id for card in cards]), _in_months(period), MT.cons_count > 0))}
    months = period.months
    return [ConsumptionCardRow(card.id, card.number, card.license_plate, card.embossed_name, card.division,
                               card.vehicle_type,
                               tuple(ConsumptionMonth(month, figures.get((card.id, i), Consumption()))
                                     for i, month in enumerate(months)))
            for card in cards]


def iter_consumption_cards(session: Session, actor: Actor, customer_number_id: int, period: MonthRange,
                           batch: int = EXPORT_BATCH) -> Iterator[ConsumptionCardRow]:
    after = None
    while True:
        rows = consumption_cards(session, actor, customer_number_id, period, after=after, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].after


NO_VEHICLE_TYPE = "—"


def consumption_groups(session: Session, actor: Actor, customer_number_id: int, period: MonthRange,
                       by: GroupBy = "division") -> list[ConsumptionGroupRow]:
    """The consumption per fleet division (`by="division"`) or per vehicle type (`by="vehicle_type"`), month by
    month, by name; cards without a vehicle type are grouped under "—"."""
    if by not in ("division", "vehicle_type"):
        raise ValueError(f"group by 'division' or 'vehicle_type', not {by!r}")
    number = _number(session, actor, Right.REPORT_CONSUMPTION, customer_number_id)
    joined = MT.__table__.join(Card, Card.id == _card_of(session, MT.card_id))
    if by == "division":
        joined = joined.join(FleetDivision, FleetDivision.id == Card.division_id)
        keys, card_key = (FleetDivision.id, FleetDivision.name), Card.division_id
    else:
        keys, card_key = (Card.vehicle_type,), Card.vehicle_type
    in_period = (_in_months(period), MT.cons_count > 0)
    by_month = (sa_select(*keys, MT.month, *map(func.sum, _CONSUMPTION_FIGURES)).select_from(joined)
                .where(Card.customer_number_id == number.id, *in_period).group_by(*keys, MT.month))
    # How many cards bought fuel in the period: one probe of each card's month totals (their primary key).
    card_counts = (sa_select(card_key, func.count())
                   .where(Card.customer_number_id == number.id, exists().where(MT.card_id == Card.id, *in_period))
                   .group_by(card_key))
    index = _month_index(period)
    width = len(keys)
    groups: dict[object, dict[int, Consumption]] = {}
    labels: dict[object, str] = {}
    for row in session.execute(by_month):
        key = row[0]
        labels[key] = row[1] if by == "division" else (key or NO_VEHICLE_TYPE)
        groups.setdefault(key, {})[index[row[width]]] = _consumption(*row[width + 1:])
    cards = {row[0]: int(row[-1]) for row in session.execute(card_counts)}
    months = period.months
    rows = [ConsumptionGroupRow(key, labels[key], cards.get(key, 0),
                                tuple(ConsumptionMonth(month, found.get(i, Consumption()))
                                      for i, month in enumerate(months)))
            for key, found in groups.items()]
    return sorted(rows, key=lambda row: (row.label == NO_VEHICLE_TYPE, row.label.lower()))


# --- budget follow-up -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BudgetMonth:
    month: date
    budget: Decimal | None  # None: no budget set for this month
    actual: Decimal = ZERO  # spend excluding VAT (fuel, services, toll)

    @property
    def difference(self) -> Decimal | None:
        """Budget minus actual: negative when over budget."""
        return None if self.budget is None else self.budget - self.actual

    @property
    def over(self) -> bool:
        return self.budget is not None and self.actual > self.budget


@dataclass(frozen=True)
class BudgetRow:
    """A fleet division (card_id None) or a card with a budget in the period, month by month."""

    kind: Literal["division", "card"]
    division_id: int
    division: str
    card_id: int | None
    card_number: str | None
    license_plate: str | None
    months: tuple[BudgetMonth, ...]

    @property
    def label(self) -> str:
        if self.kind == "division":
            return self.division
        return " ".join(part for part in (self.card_number, self.license_plate) if part) or f"#{self.card_id}"

    @property
    def budget(self) -> Decimal | None:
        budgets = [m.budget for m in self.months if m.budget is not None]
        return sum(budgets, ZERO) if budgets else None

    @property
    def actual(self) -> Decimal:
        return sum((m.actual for m in self.months), ZERO)

    @property
    def left(self) -> Decimal | None:
        """The budgets minus the spend of the months that have one (negative: over budget overall)."""
        budgeted = [m for m in self.months if m.budget is not None]
        return sum((m.budget - m.actual for m in budgeted), ZERO) if budgeted else None

    @property
    def over_months(self) -> int:
        return sum(1 for m in self.months if m.over)

    @property
    def over(self) -> bool:
        return self.over_months > 0

    def month(self, month: date) -> BudgetMonth | None:
        return next((m for m in self.months if m.month == month), None)


def _spend(period: MonthRange, key_column, *where_card, card_id=MT.card_id):
    """Spend excluding VAT grouped by (`key_column` of the card, month), fuel and toll together."""
    return (sa_select(key_column, MT.month, func.sum(MT.fuel_excl + MT.toll_excl)).join(Card, Card.id == card_id)
            .where(_in_months(period), *where_card).group_by(key_column, MT.month))


def budget_followup(session: Session, actor: Actor, customer_number_id: int,
                    period: MonthRange) -> list[BudgetRow]:
    """Every fleet division of the customer number (by name), each followed by its cards that have a budget in
    `period` (by card number): budget and actual spend month by month."""
    number = _number(session, actor, Right.REPORT_BUDGET, customer_number_id)
    months = period.months
    index = _month_index(period)
    budgets = session.execute(sa_select(Budget.division_id, Budget.card_id, Budget.month, Budget.amount).where(
        Budget.customer_number_id == number.id, Budget.month >= period.first, Budget.month <= period.last)).all()
    division_budgets: dict[tuple[int, int], Decimal] = {}
    card_budgets: dict[tuple[int, int], Decimal] = {}
    for division_id, card_id, month, amount in budgets:
        month = index.get(first_of_month(month))
        if month is None:
            continue
        if card_id is not None:
            card_budgets[(card_id, month)] = Decimal(amount)
        elif division_id is not None:
            division_budgets[(division_id, month)] = Decimal(amount)
    divisions = session.exec(select(FleetDivision.id, FleetDivision.name)
                             .where(FleetDivision.customer_number_id == number.id)
                             .order_by(func.lower(FleetDivision.name), FleetDivision.id)).all()
    division_spend = {(k, index[m]): _money(v) for k, m, v in session.execute(
        _spend(period, Card.division_id, Card.customer_number_id == number.id,
               card_id=_card_of(session, MT.card_id)))}
    card_ids = sorted({card_id for card_id, _m in card_budgets})
    cards: dict[int, list] = {}
    card_spend: dict[tuple[int, int], Decimal] = {}
    if card_ids:
        for card_id, card_number, plate, division_id in session.exec(
                select(Card.id, Card.number, Card.license_plate, Card.division_id)
                .where(Card.id.in_(card_ids), Card.customer_number_id == number.id)
                .order_by(_sort_key, Card.id)).all():
            cards.setdefault(division_id, []).append((card_id, card_number, plate))
        card_spend = {(k, index[m]): _money(v) for k, m, v in session.execute(
            _spend(period, Card.id, Card.id.in_(card_ids)))}
    rows: list[BudgetRow] = []
    for division_id, name in divisions:
        rows.append(BudgetRow("division", division_id, name, None, None, None, tuple(
            BudgetMonth(month, division_budgets.get((division_id, i)), division_spend.get((division_id, i), ZERO))
            for i, month in enumerate(months))))
        for card_id, card_number, plate in cards.get(division_id, ()):
            rows.append(BudgetRow("card", division_id, name, card_id, card_number, plate, tuple(
                BudgetMonth(month, card_budgets.get((card_id, i)), card_spend.get((card_id, i), ZERO))
                for i, month in enumerate(months))))
    return rows


# --- export -----------------------------------------------------------------------------------------------

def export_report_rows(session: Session, actor: Actor, report: ReportKind, customer_number_id: int,
                       period: MonthRange) -> Iterator:
    """The rows of `report` for an export (Data export, `reports.export`): FollowupCardRow, ConsumptionCardRow or
    BudgetRow objects, streamed in keyset batches where the report pages. Needs the report's own right too."""
    if report not in REPORT_RIGHTS:
        raise DomainError(_("There is no report “{report}”: choose one of {reports}.").format(
            report=report, reports=", ".join(REPORT_KINDS)))
    actor.require(Right.REPORT_EXPORT)
    actor.require(REPORT_RIGHTS[report])
    actor.require_customer_number(customer_number_id)
    if report == "followup":
        return iter_followup_cards(session, actor, customer_number_id, period)
    if report == "consumption":
        return iter_consumption_cards(session, actor, customer_number_id, period)
    return iter(budget_followup(session, actor, customer_number_id, period))
