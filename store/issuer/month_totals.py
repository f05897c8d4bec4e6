"""Per-card month totals (store.models.CardMonthTotal) for the monthly reports (issue 8).

The monthly reports (store.queries.reports) read these sums instead of every transaction: at 2,000,000
transactions a whole-customer-number report read from the transaction tables takes seconds, from the totals
a fraction of one. A month is the month of the customer's time zone (as `reports.month_bounds` computes it): a
fuel transaction counts by `occurred_at`, a toll transaction by `exit_at`.

Everything that inserts transactions keeps the totals in the same database transaction:
- `add_to_month_totals(connection, fuel_rows, toll_rows)` adds the rows just inserted (the issuer import, per
  batch); it upserts one line per (card, month), on SQLite and PostgreSQL alike;
- `rebuild_month_totals(connection)` recomputes the table from the transaction tables in SQL (the demo,
  `cardsonline db rebuild-month-totals`, tests that insert rows directly); `rebuild_month_totals(connection,
  customer_id=…)` or `(connection, card_ids)` only the lines of some cards: store.services.customers
  .change_timezone runs it in the transaction that changes a customer's time zone. Whatever moves cards to
  another customer must do the same (no service does today). The migration 0006 that created the table has
  its own frozen copy of this SQL.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from operator import itemgetter
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, delete, func, literal, literal_column, null, or_, select, union_all
from sqlalchemy.engine import Connection

from ..models import Card, CardMonthTotal, Customer, CustomerNumber, FuelTransaction, Product, TollTransaction
from ..queries.reports import CONSUMPTION_PRODUCTS, LITRE_PRODUCTS
from .bulk_sql import executemany

TABLE = CardMonthTotal.__table__
SUMS = ("fuel_count", "fuel_litres", "fuel_excl", "fuel_incl", "toll_count", "toll_excl", "toll_incl",
        "cons_count", "cons_litres", "cons_cost", "km_litres", "km_cost")
_LITRES = frozenset(p.value for p in LITRE_PRODUCTS)
_CONSUMPTION = frozenset(p.value for p in CONSUMPTION_PRODUCTS)
ZERO = Decimal(0)


def local_month(moment: datetime, zone: ZoneInfo) -> date:
    """The first day of `moment`'s month in `zone` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(zone)
    return date(local.year, local.month, 1)


def card_zones(connection: Connection, card_ids: Iterable[int]) -> dict[int, ZoneInfo]:
    """The time zone of each card's customer (UTC when unknown, as the reports do)."""
    ids = sorted(set(card_ids))
    zones: dict[int, ZoneInfo] = {}
    by_name: dict[str, ZoneInfo] = {}
    for start in range(0, len(ids), 900):
        for card_id, name in connection.execute(
                select(Card.id, Customer.timezone)
                .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
                .join(Customer, Customer.id == CustomerNumber.customer_id)
                .where(Card.id.in_(ids[start:start + 900]))):
            if name not in by_name:
                try:
                    by_name[name] = ZoneInfo(name or "UTC")
                except Exception:  # noqa: BLE001 - an unknown zone name must not stop an import
                    by_name[name] = ZoneInfo("UTC")
            zones[card_id] = by_name[name]
    return zones


_LOCK_ORDER = itemgetter("card_id", "month")


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)  # dict: not the (slow) Mapping check


def _product(value: Any) -> str:
    return value.value if isinstance(value, Product) else str(value)


def _new_line() -> dict:
    line = {name: ZERO for name in SUMS}
    line.update(fuel_count=0, toll_count=0, cons_count=0, km_min=None, km_max=None, low_litres=ZERO, low_cost=ZERO)
    return line


_FUEL_FIELDS = ("card_id", "occurred_at", "product", "quantity", "amount_excl_vat", "amount_incl_vat", "odometer_km")
_TOLL_FIELDS = ("card_id", "exit_at", "amount_excl_vat", "amount_incl_vat")
_QUARTER_HOUR = 900  # every time zone's offset is a whole number of quarter hours


def _as_dicts(rows: Iterable[Any], names: tuple[str, ...]) -> Iterable[dict]:
    for row in rows:
        yield row if isinstance(row, dict) else {name: getattr(row, name) for name in names}


def _decimal(value: Any) -> Decimal:
    return value if value.__class__ is Decimal else Decimal(value)


def month_lines(fuel_rows: Iterable[Any], toll_rows: Iterable[Any], zones: Mapping[int, ZoneInfo]) -> list[dict]:
    """The rows summed per (card, month): the lines `add_to_month_totals` adds. Rows are dicts (an
    executemany's parameters) or objects with the transaction's attribute names."""
    lines: dict[tuple[int, date], dict] = {}
    utc = ZoneInfo("UTC")
    # A moment's local month is the same for its whole quarter hour: converted once per zone and quarter hour.
    months: dict[tuple[ZoneInfo, int], date] = {}

    def line_of(card_id: int, moment: datetime) -> dict:
        zone = zones.get(card_id, utc)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        key = (zone, int(moment.timestamp()) // _QUARTER_HOUR)
        month = months.get(key)
        if month is None:
            month = months[key] = local_month(moment, zone)
        line = lines.get((card_id, month))
        if line is None:
            line = lines[(card_id, month)] = _new_line()
        return line

    litres, consumption = _LITRES, _CONSUMPTION
    for row in _as_dicts(fuel_rows, _FUEL_FIELDS):
        line = line_of(row["card_id"], row["occurred_at"])
        product = _product(row["product"])
        quantity, excl = _decimal(row["quantity"]), _decimal(row["amount_excl_vat"])
        line["fuel_count"] += 1
        line["fuel_excl"] += excl
        line["fuel_incl"] += _decimal(row["amount_incl_vat"])
        if product in litres:
            line["fuel_litres"] += quantity
        if product not in consumption:
            continue
        line["cons_count"] += 1
        line["cons_litres"] += quantity
        line["cons_cost"] += excl
        km = row["odometer_km"]
        if km is None:
            continue
        line["km_litres"] += quantity
        line["km_cost"] += excl
        if line["km_max"] is None or km > line["km_max"]:
            line["km_max"] = km
        if line["km_min"] is None or km < line["km_min"]:
            line.update(km_min=km, low_litres=quantity, low_cost=excl)
        elif km == line["km_min"]:
            line["low_litres"] += quantity
            line["low_cost"] += excl
    for row in _as_dicts(toll_rows, _TOLL_FIELDS):
        line = line_of(row["card_id"], row["exit_at"])
        line["toll_count"] += 1
        line["toll_excl"] += _decimal(row["amount_excl_vat"])
        line["toll_incl"] += _decimal(row["amount_incl_vat"])
    out = []
    for (card_id, month), line in lines.items():
        line["card_id"], line["month"] = card_id, month
        out.append(line)
    return out


def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the store runs on SQLite and PostgreSQL only
        raise NotImplementedError(f"month totals need an upsert on {dialect}")
    statement = insert(TABLE)
    new, old = statement.excluded, TABLE.c
    # Every SET expression reads the line as it was (SQL semantics on both databases).
    lower = or_(old.km_min.is_(None), new.km_min < old.km_min)

    def low(name: str):
        return case((new.km_min.is_(None), old[name]), (lower, new[name]),
                    (new.km_min == old.km_min, old[name] + new[name]), else_=old[name])

    values = {name: old[name] + new[name] for name in SUMS}
    values.update(
        km_min=case((new.km_min.is_(None), old.km_min), (lower, new.km_min), else_=old.km_min),
        km_max=case((new.km_max.is_(None), old.km_max),
                    (or_(old.km_max.is_(None), new.km_max > old.km_max), new.km_max), else_=old.km_max),
        low_litres=low("low_litres"), low_cost=low("low_cost"))
    return statement.on_conflict_do_update(index_elements=[old.card_id, old.month], set_=values)


def add_to_month_totals(connection: Connection, fuel_rows: Iterable[Any] = (), toll_rows: Iterable[Any] = (),
                        zones: Mapping[int, ZoneInfo] | None = None) -> int:
    """Add transactions that were just inserted (in the same database transaction) to the month totals; returns
    the (card, month) lines touched. Only rows that were really inserted may be passed: a row passed twice is
    counted twice."""
    fuel_rows, toll_rows = list(fuel_rows), list(toll_rows)
    if not fuel_rows and not toll_rows:
        return 0
    if zones is None:
        zones = card_zones(connection, [_get(r, "card_id") for r in fuel_rows + toll_rows])
    lines = month_lines(fuel_rows, toll_rows, zones)
    lines.sort(key=_LOCK_ORDER)  # the same lock order in concurrent imports
    dialect = connection.dialect.name
    executemany(connection, "month totals upsert", lambda: _upsert(dialect), lines)
    return len(lines)


# --- recompute from the transaction tables -----------------------------------------------------------------

def _month_case(column, months: list[date], zone: ZoneInfo):
    """The customer's month of `column` (rows between the first month's start and the last one's end)."""
    starts = [datetime.combine(m, time(), tzinfo=zone).astimezone(timezone.utc) for m in months]
    if len(months) == 1:
        return literal(months[0], Date)
    return case(*[(column < starts[i + 1], literal(months[i], Date)) for i in range(len(months) - 1)],
                else_=literal(months[-1], Date))


def _months_between(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def rebuild_month_totals(connection: Connection, card_ids: Iterable[int] | None = None, *,
                         customer_id: int | None = None) -> int:
    """Recompute the month totals (of every card, of `card_ids`, or of the cards of customer `customer_id`) from
    the transaction tables, in SQL; returns the lines written. Run inside the caller's transaction: a service
    that changes a customer's time zone calls it with `customer_id` so the months follow in the same commit."""
    if card_ids is not None and customer_id is not None:
        raise ValueError("rebuild the totals of card_ids or of customer_id, not both")
    if customer_id is not None:
        return _rebuild(connection, select(Card.id).join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
                        .where(CustomerNumber.customer_id == customer_id))
    if card_ids is None:
        return _rebuild(connection, None)
    ids, lines = sorted(set(card_ids)), 0
    for start in range(0, len(ids), 900):  # a bounded number of parameters per statement
        lines += _rebuild(connection, select(Card.id).where(Card.id.in_(ids[start:start + 900])))
    return lines


def _rebuild(connection: Connection, scope) -> int:
    """Rebuild the lines of the cards `scope` selects (a SELECT of card ids), or of every card when None."""
    if scope is not None:
        connection.execute(delete(TABLE).where(TABLE.c.card_id.in_(scope)))
        zone_names = (select(Customer.timezone).distinct()
                      .join(CustomerNumber, CustomerNumber.customer_id == Customer.id)
                      .join(Card, Card.customer_number_id == CustomerNumber.id).where(Card.id.in_(scope)))
    else:
        connection.execute(delete(TABLE))
        zone_names = select(Customer.timezone).distinct()
    names = connection.execute(zone_names).scalars().all()
    for name in names:
        try:
            zone = ZoneInfo(name or "UTC")
        except Exception:  # noqa: BLE001
            zone = ZoneInfo("UTC")
        of_zone = (select(Card.id).join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
                   .join(Customer, Customer.id == CustomerNumber.customer_id).where(Customer.timezone == name))
        if scope is not None:
            of_zone = of_zone.where(Card.id.in_(scope))
        _rebuild_zone(connection, zone, of_zone if (scope is not None or len(names) > 1) else None)
    counted = select(func.count()).select_from(TABLE)  # (a driver's rowcount of INSERT … SELECT is no count)
    if scope is not None:
        counted = counted.where(TABLE.c.card_id.in_(scope))
    return connection.execute(counted).scalar_one()


def _rebuild_zone(connection: Connection, zone: ZoneInfo, cards) -> None:
    ft, tt = FuelTransaction.__table__.c, TollTransaction.__table__.c
    fuel_where = [ft.card_id.in_(cards)] if cards is not None else []
    toll_where = [tt.card_id.in_(cards)] if cards is not None else []
    moments = [m for m in (*connection.execute(
        select(func.min(ft.occurred_at), func.max(ft.occurred_at)).where(*fuel_where)).one(),
        *connection.execute(select(func.min(tt.exit_at), func.max(tt.exit_at)).where(*toll_where)).one())
        if m is not None]
    if not moments:
        return
    months = _months_between(local_month(min(moments), zone), local_month(max(moments), zone))
    zero = literal_column("0")
    consumption = ft.product.in_(CONSUMPTION_PRODUCTS)
    cons_km = case((consumption, ft.odometer_km))
    fm = _month_case(ft.occurred_at, months, zone)
    lines = select(ft.card_id.label("card_id"), fm.label("month"), ft.product.label("product"),
                   ft.quantity.label("q"), ft.amount_excl_vat.label("excl"), ft.amount_incl_vat.label("incl"),
                   cons_km.label("km"), func.min(cons_km).over(partition_by=(ft.card_id, fm)).label("low_km")
                   ).where(*fuel_where).subquery("lines")
    cons = lines.c.product.in_(CONSUMPTION_PRODUCTS)

    def when(condition, value):
        return func.sum(case((condition, value), else_=zero))

    fuel = select(lines.c.card_id, lines.c.month, func.count().label("fuel_count"),
                  when(lines.c.product.in_(LITRE_PRODUCTS), lines.c.q).label("fuel_litres"),
                  func.sum(lines.c.excl).label("fuel_excl"), func.sum(lines.c.incl).label("fuel_incl"),
                  zero.label("toll_count"), zero.label("toll_excl"), zero.label("toll_incl"),
                  when(cons, literal_column("1")).label("cons_count"), when(cons, lines.c.q).label("cons_litres"),
                  when(cons, lines.c.excl).label("cons_cost"),
                  func.min(lines.c.km).label("km_min"), func.max(lines.c.km).label("km_max"),
                  when(lines.c.km.isnot(None), lines.c.q).label("km_litres"),
                  when(lines.c.km.isnot(None), lines.c.excl).label("km_cost"),
                  when(lines.c.km == lines.c.low_km, lines.c.q).label("low_litres"),
                  when(lines.c.km == lines.c.low_km, lines.c.excl).label("low_cost")
                  ).group_by(lines.c.card_id, lines.c.month)
    tm = _month_case(tt.exit_at, months, zone)
    no_km = cast(null(), Integer)
    toll = select(tt.card_id.label("card_id"), tm.label("month"),
                  *[zero.label(name) for name in ("fuel_count", "fuel_litres", "fuel_excl", "fuel_incl")],
                  func.count().label("toll_count"), func.sum(tt.amount_excl_vat).label("toll_excl"),
                  func.sum(tt.amount_incl_vat).label("toll_incl"),
                  *[zero.label(name) for name in ("cons_count", "cons_litres", "cons_cost")],
                  no_km.label("km_min"), no_km.label("km_max"),
                  *[zero.label(name) for name in ("km_litres", "km_cost", "low_litres", "low_cost")]
                  ).where(*toll_where).group_by(tt.card_id, tm)
    both = union_all(fuel, toll).subquery("both")
    c = both.c
    combined = select(c.card_id, c.month, *[func.sum(c[name]) for name in (
        "fuel_count", "fuel_litres", "fuel_excl", "fuel_incl", "toll_count", "toll_excl", "toll_incl",
        "cons_count", "cons_litres", "cons_cost")], func.min(c.km_min), func.max(c.km_max),
        *[func.sum(c[name]) for name in ("km_litres", "km_cost", "low_litres", "low_cost")]
    ).group_by(c.card_id, c.month)
    columns = ["card_id", "month", "fuel_count", "fuel_litres", "fuel_excl", "fuel_incl", "toll_count", "toll_excl",
               "toll_incl", "cons_count", "cons_litres", "cons_cost", "km_min", "km_max", "km_litres", "km_cost",
               "low_litres", "low_cost"]
    connection.execute(TABLE.insert().from_select(columns, combined))


__all__ = ["add_to_month_totals", "card_zones", "local_month", "month_lines", "rebuild_month_totals"]
