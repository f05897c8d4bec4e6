"""The issuer's daily transaction file in: `cardsonline issuer import-transactions FILE`.

Each row is checked by the anomaly rules (store.issuer.anomaly_rules) in the batch that inserts it; its anomalies
are stored, a block limit that is exceeded blocks the product for the card until the period ends
(`CardProductBlock`), and `card.last_used_at` moves on. At the end the new anomalies are e-mailed as one digest
per recipient (store.services.alerts).

The file (CSV or xlsx; one layout for fuel/service and toll rows, told apart by `kind`)
---------------------------------------------------------------------------------------
The first row names the columns, in any order, case-insensitive; unknown columns are ignored. CSV: UTF-8 (with
or without BOM) or Latin-1, detected; the delimiter (`;`, `,` or tab) is the one the header line uses; decimals
with a comma or a point (`1.234,56` and `1,234.56` are read too). xlsx: the first sheet; card numbers as text.

    kind                   fuel (default when the column is missing) or toll
    issuer_transaction_id  unique per transaction, at most 40 characters; a re-import skips the ones it has
    card_number            the card's (fuel) or OBU's (toll) number
    occurred_at            ISO 8601 (2026-11-25T14:03:00+01:00) or dd/mm/yyyy hh:mm[:ss]; without an offset
                           the time is the card's customer's local time. For tolls: the exit time
    country                ISO 3166 alpha-2
    amount_excl_vat, vat_rate, amount_incl_vat
                           EUR (2 decimals) and percent; incl = excl + VAT (to 5 cents)
    fuel rows:   rank (optional: the current plastic), station, city, product (diesel, petrol 95, petrol 98, lpg,
                 cng, adblue, ev charging, car wash, shop, lubricants, parking), quantity (litres, kWh, kg or
                 items, 3 decimals), unit_price (EUR excl. VAT, 4 decimals), odometer_km (optional),
                 driver_code (optional, 8 digits)
    toll rows:   operator, entry_point, exit_point, entry_at (same format as occurred_at), vehicle_class

A row that cannot be booked (a missing or malformed value, an unknown card, a fuel row on an OBU …) is
rejected with its line number and the reason, and the import goes on.

Each transaction is judged against the card's configuration in force at its time: the card's versions
(store.services.card_history, `card_config_version`) are loaded with the card, and the one whose `valid_from` is
at or before the transaction applies (a transaction exactly at a change's instant gets the new version).

Speed and memory: the file streams (csv module, openpyxl read-only) in batches of `BATCH_ROWS`; per batch one
query finds the rows already imported, two load the cards not yet known (the card, all its configuration
versions; kept in a bounded cache), and a few load the history the rules need, only for cards with period limits, a daily
maximum or the odometer prompt (`BatchHistory`): from the local midnight of the card's first row in the batch
its transactions one by one, before that only sums per product (SQL SUM ... GROUP BY) over the spans back to
its week's and month's start, so a few rows a card instead of a month of transactions; the last odometer
reading by one index seek per card; the product blocks still running. A card's history stays in a bounded
cache for the later batches as long as it covers their rows. All per 500 cards, one statement per query, the
chunk's values in one parameter (`_in_ids`). Rows are inserted (in card order) with executemany, on SQLite without
SQLAlchemy's per-row parameter work (store.issuer.bulk_sql), and each batch is committed: an interrupted
import is simply run again (it is idempotent). Python's garbage collector does not walk the caches while an
import runs (`collector_paused`).
"""
from __future__ import annotations

import bisect
import codecs
import csv
import gc
import json
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import String, Text, bindparam, cast, func, insert, or_, select, type_coerce, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType
from sqlmodel import Session

from ..i18n import _
from ..models import (
    Anomaly,
    AnomalyStatus,
    Card,
    CardConfigVersion,
    CardLimit,
    CardProductBlock,
    CardStatus,
    CodeType,
    Customer,
    CustomerNumber,
    DriverCode,
    DriverCodeStatus,
    FuelTransaction,
    LimitAction,
    LimitPeriod,
    Plastic,
    Product,
    ProductType,
    RenewalStatus,
    TollTransaction,
)
from .anomaly_rules import (
    CardConfig,
    CardHistory,
    DriverCodeBook,
    DriverCodeState,
    Limit,
    PlasticState,
    ProductBlock,
    Tx,
    check_transaction,
    minutes_of,
    period_bounds,
)
from .bulk_sql import executemany
from .month_totals import add_to_month_totals

BATCH_ROWS = 5_000
CARD_CACHE = 50_000  # card configurations kept between batches
HISTORY_CACHE = 20_000  # card histories kept between batches
IN_CHUNK = 500  # values per query (`_in_ids`)
_IDS = bindparam("ids", type_=NullType())  # a chunk's values, one parameter: see _in_ids and _rows
MAX_REJECTIONS_KEPT = 1_000  # the report keeps the first ones; the count is always complete
HISTORY_KEEP = timedelta(days=40)  # a cached history older than this before what a row needs is dropped
VAT_TOLERANCE = Decimal("0.05")
ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
HUNDRED = Decimal(100)

COLUMNS = ("kind", "issuer_transaction_id", "card_number", "rank", "occurred_at", "entry_at", "station", "city",
           "country", "product", "quantity", "unit_price", "amount_excl_vat", "vat_rate", "amount_incl_vat",
           "odometer_km", "driver_code", "operator", "entry_point", "exit_point", "vehicle_class")
REQUIRED_COLUMNS = ("issuer_transaction_id", "card_number", "occurred_at", "country", "amount_excl_vat",
                    "vat_rate", "amount_incl_vat")
FUEL_COLUMNS = ("station", "city", "product", "quantity", "unit_price")
TOLL_COLUMNS = ("operator", "entry_point", "exit_point", "entry_at", "vehicle_class")
FUEL_PRODUCTS = tuple(p for p in Product if p is not Product.TOLLS)
_PRODUCTS = {**{p.value: p for p in FUEL_PRODUCTS}, **{p.name.lower(): p for p in FUEL_PRODUCTS}}
_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M")
_TEXT_LENGTHS = {"station": 80, "city": 80, "operator": 40, "entry_point": 80, "exit_point": 80,
                 "vehicle_class": 10}


class _InIds(ColumnElement):
    """`column` is one of the values of the `ids` parameter (`_in_ids`)."""

    __visit_name__ = "in_ids"
    inherit_cache = True
    type = NullType()  # not Boolean: SQLite would get `... IN (...) = 1`, which no index serves
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column


@compiles(_InIds, "sqlite")
def _in_ids_sqlite(element, compiler, **kw):
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(_IDS, **kw)}))"


@compiles(_InIds)
def _in_ids_array(element, compiler, **kw):  # PostgreSQL: the values as an array
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(_IDS, **kw)})"


def _in_ids(column) -> _InIds:
    """`column IN (the chunk's values)` with the values in one parameter (a JSON list on SQLite, an array on
    PostgreSQL; `_rows` fills it): the statement is compiled once and cached, where an expanding IN is written
    out again for each chunk (that cost the import more than some of its queries)."""
    return _InIds(column)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not a row: those are rejected one by one)."""


class RowError(ValueError):
    pass


@dataclass(slots=True)
class ParsedTransaction:
    """One row of the file, typed; times may still be naive (the customer's local time)."""

    line: int
    toll: bool
    issuer_transaction_id: str
    card_number: str
    occurred_at: datetime
    country: str
    amount_excl_vat: Decimal
    vat_rate: Decimal
    amount_incl_vat: Decimal
    rank: int | None = None
    station: str = ""
    city: str = ""
    product: Product = Product.TOLLS
    quantity: Decimal = Decimal(0)
    unit_price: Decimal = Decimal(0)
    odometer_km: int | None = None
    driver_code: str | None = None
    operator: str = ""
    entry_point: str = ""
    exit_point: str = ""
    entry_at: datetime | None = None
    vehicle_class: str = ""


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str

    def __str__(self) -> str:
        return _("line {line}: {reason}").format(line=self.line, reason=self.reason)


@dataclass
class ImportReport:
    rows: int = 0
    fuel: int = 0
    toll: int = 0
    already_there: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first MAX_REJECTIONS_KEPT
    anomalies: int = 0
    by_rule: Counter = field(default_factory=Counter)
    product_blocks: int = 0
    alert_mails: int = 0
    encoding: str | None = None

    @property
    def imported(self) -> int:
        return self.fuel + self.toll

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(Rejection(line, reason))

    def __str__(self) -> str:
        lines = [_("Read {rows:,} rows: {imported:,} imported ({fuel:,} fuel and services, {toll:,} toll), "
                   "{already:,} already there, {rejected:,} rejected.").format(
                     rows=self.rows, imported=self.imported, fuel=self.fuel, toll=self.toll,
                     already=self.already_there, rejected=self.rejected),
                 _("Anomalies: {anomalies:,}; products blocked until their period ends: {blocks:,}; alert e-mails "
                   "queued: {mails:,}.").format(anomalies=self.anomalies, blocks=self.product_blocks,
                                                mails=self.alert_mails)]
        for rule, count in sorted(self.by_rule.items(), key=lambda item: (-item[1], item[0].value)):
            lines.append(f"  {_(rule.value)}: {count:,}")
        return "\n".join(lines)


# --- reading the file ---------------------------------------------------------------------------------

def detect_encoding(path: Path) -> str:
    """UTF-8 when the whole file decodes as UTF-8 (read in chunks: bounded memory), else Latin-1."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8-sig"  # also strips a byte-order mark


def is_xlsx(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _header_index(header: Iterable[Any]) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        key = str(name or "").strip().lower().replace(" ", "_")
        if key in COLUMNS and key not in index:
            index[key] = position
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        raise ImportFileError(_("The file has no column {missing}. The first row must name the columns: "
                                "{columns}.").format(missing=", ".join(missing), columns=", ".join(COLUMNS)))
    return index


def read_rows(path: Path, report: ImportReport | None = None) -> Iterator[tuple[int, dict[str, int], tuple]]:
    """(line number, column index, raw values) per data row, streamed from a CSV or xlsx file."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(_("There is no file {path}.").format(path=path))
    if is_xlsx(path):
        yield from _read_xlsx(path)
        return
    encoding = detect_encoding(path)
    if report is not None:
        report.encoding = "utf-8" if encoding.startswith("utf-8") else encoding
    with open(path, newline="", encoding=encoding) as handle:
        first = handle.readline()
        if not first.strip():
            raise ImportFileError(_("{name} is empty: the first row must name the columns.").format(name=path.name))
        delimiter = max((";", ",", "\t"), key=first.count)
        index = _header_index(next(csv.reader([first], delimiter=delimiter)))
        reader = csv.reader(handle, delimiter=delimiter)
        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            yield reader.line_num + 1, index, values


def _read_xlsx(path: Path) -> Iterator[tuple[int, dict[str, int], tuple]]:
    from openpyxl import load_workbook  # only when an xlsx comes (heavy import)

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a zip that is no workbook
        raise ImportFileError(_("{name} is not an Excel workbook (.xlsx): {error}").format(name=path.name,
                                                                                          error=exc)) from None
    try:
        sheet = workbook.worksheets[0]
        index: dict[str, int] | None = None
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if all(value is None or str(value).strip() == "" for value in values):
                continue
            if index is None:
                index = _header_index(values)
                continue
            yield number, index, values
        if index is None:
            raise ImportFileError(_("{name} is empty: the first row must name the columns.").format(name=path.name))
    finally:
        workbook.close()


def parse_decimal(value: Any, what: str, places: int) -> Decimal:
    """A number with a decimal comma or point; floats (xlsx) are rounded to `places`, text is not."""
    if value.__class__ is str:
        text = value
        if "," in text or " " in text or "\u00a0" in text:
            text = text.replace(" ", "").replace("\u00a0", "")
            if "," in text:
                if "." in text:  # both: the last one is the decimal separator
                    text = (text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".")
                            else text.replace(",", ""))
                else:
                    text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise RowError(_("{column} {value!r} is not a number.").format(column=what, value=value)) from None
        dot = text.find(".")
        if "e" not in text and "E" not in text:  # plain notation: count the decimals in the text (cheaper)
            if dot >= 0 and len(text) - dot - 1 > places:
                raise RowError(_("{column} {value} has more than {places} decimals.").format(column=what, value=value,
                                                                                          places=places))
            if not number.is_finite():
                raise RowError(_("{column} {value!r} is not a number.").format(column=what, value=value))
            return number
    elif isinstance(value, bool):
        raise RowError(_("{column} {value!r} is not a number.").format(column=what, value=value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places))
    else:
        raise RowError(_("{column} {value!r} is not a number.").format(column=what, value=value))
    if not number.is_finite():
        raise RowError(_("{column} {value!r} is not a number.").format(column=what, value=value))
    if number.as_tuple().exponent < -places:
        raise RowError(_("{column} {value} has more than {places} decimals.").format(column=what, value=value,
                                                                                          places=places))
    return number


def parse_moment(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise RowError(_("{column} {value!r} is not a date and time such as 2026-11-25T14:03:00+01:00 or "
                     "25/11/2026 14:03.").format(column=what, value=value))


def _integer(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).replace(" ", "").replace("\u00a0", "")
    if not text.isdigit():
        raise RowError(_("{column} {value!r} is not a whole number.").format(column=what, value=value))
    return int(text)


def _card_number(value: Any) -> str:
    if isinstance(value, float):
        raise RowError(_("card_number is a number in the sheet (digits get lost): format the column as text."))
    text = str(value).replace(" ", "")
    if not text.isdigit() or len(text) > 19:
        raise RowError(_("card_number {value!r} is not a card number (up to 19 digits).").format(value=value))
    return text


_POSITIONS: list = [None, None]  # (the header index, its positions): one file at a time, looked up per row


def _positions(index: dict[str, int]) -> tuple:
    if _POSITIONS[0] is not index:
        _POSITIONS[0], _POSITIONS[1] = index, tuple(index.get(name) for name in COLUMNS)
    return _POSITIONS[1]


def parse_row(line: int, index: dict[str, int], values: tuple) -> ParsedTransaction:
    """The row typed and checked on its own (the card is looked up later); RowError says what is wrong."""
    (p_kind, p_id, p_card, p_rank, p_occurred, p_entry, p_station, p_city, p_country, p_product, p_quantity,
     p_price, p_excl, p_rate, p_incl, p_odometer, p_code, p_operator, p_entry_point, p_exit_point,
     p_class) = _positions(index)
    size = len(values)

    def cell(position: int | None, name: str, required: bool = True) -> Any:
        if position is None or position >= size:
            value = None
        else:
            value = values[position]
            if value.__class__ is str:
                value = value.strip() or None
        if value is None and required:
            raise RowError(_("{column} is empty.").format(column=name))
        return value

    def text(position: int | None, name: str) -> str:
        value = str(cell(position, name))
        if len(value) > _TEXT_LENGTHS[name]:
            raise RowError(_("{column} is longer than {maximum} characters.").format(column=name,
                                                                                   maximum=_TEXT_LENGTHS[name]))
        return value

    kind = cell(p_kind, "kind", False)
    kind = "fuel" if kind is None else str(kind).lower()
    if kind != "fuel" and kind != "toll":
        raise RowError(_("kind {kind!r} is neither fuel nor toll.").format(kind=kind))
    toll = kind == "toll"
    issuer_id = str(cell(p_id, "issuer_transaction_id"))
    if len(issuer_id) > 40:
        raise RowError(_("issuer_transaction_id is longer than 40 characters."))
    card_number = _card_number(cell(p_card, "card_number"))
    occurred_at = parse_moment(cell(p_occurred, "occurred_at"), "occurred_at")
    country = str(cell(p_country, "country")).upper()
    if len(country) != 2 or not country.isalpha():
        raise RowError(_("country {country!r} is not an ISO country code such as BE.").format(country=country))
    excl = parse_decimal(cell(p_excl, "amount_excl_vat"), "amount_excl_vat", 2)
    rate = parse_decimal(cell(p_rate, "vat_rate"), "vat_rate", 2)
    incl = parse_decimal(cell(p_incl, "amount_incl_vat"), "amount_incl_vat", 2)
    if not ZERO <= rate < HUNDRED:
        raise RowError(_("vat_rate {rate} is not a percentage between 0 and 100.").format(rate=rate))
    if abs(incl - excl - excl * rate / HUNDRED) > VAT_TOLERANCE:
        raise RowError(_("amount_incl_vat {incl} is not amount_excl_vat {excl} plus {rate}% VAT.").format(
            incl=incl, excl=excl, rate=rate))
    row = ParsedTransaction(line, toll, issuer_id, card_number, occurred_at, country, excl, rate, incl)
    if toll:
        row.operator = text(p_operator, "operator")
        row.entry_point = text(p_entry_point, "entry_point")
        row.exit_point = text(p_exit_point, "exit_point")
        row.vehicle_class = text(p_class, "vehicle_class")
        row.entry_at = parse_moment(cell(p_entry, "entry_at"), "entry_at")
        return row
    product_text = str(cell(p_product, "product")).lower()
    product = _PRODUCTS.get(product_text) or _PRODUCTS.get(product_text.replace(" ", "_"))
    if product is None:
        raise RowError(_("product {product!r} is unknown; use one of: {products}.").format(
            product=product_text, products=", ".join(p.value for p in FUEL_PRODUCTS)))
    row.product = product
    row.station = text(p_station, "station")
    row.city = text(p_city, "city")
    row.quantity = parse_decimal(cell(p_quantity, "quantity"), "quantity", 3)
    if row.quantity <= ZERO:
        raise RowError(_("quantity {quantity} must be more than 0.").format(quantity=row.quantity))
    row.unit_price = parse_decimal(cell(p_price, "unit_price"), "unit_price", 4)
    rank = cell(p_rank, "rank", False)
    if rank is not None:
        row.rank = _integer(rank, "rank")
    odometer = cell(p_odometer, "odometer_km", False)
    if odometer is not None:
        row.odometer_km = _integer(odometer, "odometer_km")
    code = cell(p_code, "driver_code", False)
    if code is not None:
        code = str(code).replace(" ", "")
        if len(code) != 8 or not code.isdigit():
            raise RowError(_("driver_code {code!r} is not 8 digits.").format(code=code))
        row.driver_code = code
    return row


# --- the cards, as the rules see them -----------------------------------------------------------------

# Read without SQLAlchemy's per-value result processing where a dictionary does it cheaper (an import reads
# these for every card it meets): enums and dates as their text, JSON lists as text parsed once per distinct
# value, numbers as the driver gives them (`_decimal`: as SQLAlchemy's Numeric would return them).
_CARD = Card.__table__.c
_CARD_COLUMNS = (
    _CARD.id, _CARD.number, _CARD.customer_number_id, type_coerce(_CARD.product_type, String), _CARD.rank,
    type_coerce(_CARD.status, String), _CARD.blocked_at, _CARD.cancelled_by_user,
    type_coerce(_CARD.renewal_status, String), type_coerce(_CARD.code_type, String), _CARD.odometer_prompt,
    type_coerce(_CARD.tank_capacity_l, NullType()), cast(_CARD.allowed_weekdays, Text),
    _CARD.allowed_hours_from, _CARD.allowed_hours_to, cast(_CARD.forbidden_days, Text),
    cast(_CARD.allowed_countries, Text), _CARD.max_transactions_per_day)
_LIMIT = CardLimit.__table__.c
_LIMIT_COLUMNS = (_LIMIT.card_id, type_coerce(_LIMIT.product, String), _LIMIT.allowed,
                  type_coerce(_LIMIT.amount, NullType()), type_coerce(_LIMIT.volume, NullType()),
                  type_coerce(_LIMIT.period, String), type_coerce(_LIMIT.action, String))
_PLASTIC = Plastic.__table__.c
_PLASTIC_COLUMNS = (_PLASTIC.card_id, _PLASTIC.rank, type_coerce(_PLASTIC.status, String),
                    type_coerce(_PLASTIC.expiry_date, String))
_LIMIT_QUERY = select(*_LIMIT_COLUMNS).where(_in_ids(_LIMIT.card_id))
_PLASTIC_QUERY = select(*_PLASTIC_COLUMNS).where(_in_ids(_PLASTIC.card_id))
_MONEY_SCALE = CardLimit.__table__.c.amount.type.scale
_VOLUME_SCALE = CardLimit.__table__.c.volume.type.scale
_TANK_SCALE = _CARD.tank_capacity_l.type.scale


class _Memo(dict):
    """Values read from the database made once per distinct raw value (cards share most of theirs)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


def _enum(cls):
    return _Memo(lambda value: None if value is None else cls(value))


def _decimal(scale: int):
    return _Memo(lambda value: value if value is None or isinstance(value, Decimal)
                 else Decimal("%.*f" % (scale, value)))


def _json_set(upper: bool = False):
    def make(text):
        import json

        values = (json.loads(text) if isinstance(text, str) else text) or ()
        return frozenset(value.upper() for value in values) if upper else frozenset(values)
    return _Memo(make)


def _expiry(value):
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)


_PRODUCT_TYPES, _CARD_STATUSES, _RENEWALS, _CODE_TYPES = (
    _enum(ProductType), _enum(CardStatus), _enum(RenewalStatus), _enum(CodeType))
_JSON_SETS, _JSON_UPPER_SETS = _json_set(), _json_set(upper=True)
_MINUTES = _Memo(minutes_of)
_TANKS = _decimal(_TANK_SCALE)
_LIMITS = _Memo(lambda key: Limit(Product(key[0]), bool(key[1]), None if key[2] is None else _AMOUNTS[key[2]],
                                  None if key[3] is None else _VOLUMES[key[3]], LimitPeriod(key[4]),
                                  LimitAction(key[5])))
_AMOUNTS, _VOLUMES = _decimal(_MONEY_SCALE), _decimal(_VOLUME_SCALE)
_PLASTICS = _Memo(lambda key: PlasticState(key[0], CardStatus(key[1]), _expiry(key[2])))


def _rows(session: Session, query, ids: list | None = None) -> list:
    """All rows of a Core query on the session's connection (no ORM layer: the import runs many of them);
    `ids` are the chunk's values for its `_in_ids`."""
    connection = session.connection()
    if ids is None:
        return connection.execute(query).all()
    return connection.execute(query, {"ids": json.dumps(ids) if connection.dialect.name == "sqlite"
                                      else list(ids)}).all()



class CustomerZones:
    """Per customer number: the customer's time zone and driver-code prefix (read once per run)."""

    def __init__(self, session: Session):
        rows = session.execute(select(CustomerNumber.id, Customer.timezone, Customer.driver_code_prefix)
                               .join(Customer, Customer.id == CustomerNumber.customer_id)).all()
        zones: dict[str, ZoneInfo] = {}
        self.zone: dict[int, ZoneInfo] = {}
        self.prefix: dict[int, str] = {}
        for number_id, zone_name, prefix in rows:
            self.zone[number_id] = zones.setdefault(zone_name, ZoneInfo(zone_name))
            self.prefix[number_id] = prefix


def load_card_configs(session: Session, zones: CustomerZones, *, numbers: Iterable[str] = (),
                      ids: Iterable[int] = ()) -> dict[int, tuple[str | None, CardConfig]]:
    """The rules' view of the cards with these numbers or ids, by card id: (number, config)."""
    numbers, ids = list(numbers), list(ids)
    cards = []
    for values, column in ((numbers, _CARD.number), (ids, _CARD.id)):
        for start in range(0, len(values), IN_CHUNK):
            cards.extend(_rows(session, select(*_CARD_COLUMNS).where(_in_ids(column)),
                               values[start:start + IN_CHUNK]))
    if not cards:
        return {}
    card_ids = [card[0] for card in cards]
    limits: dict[int, dict[Product, Limit]] = {}
    plastics: dict[int, dict[int, PlasticState]] = {}
    limit_of, plastic_of = _LIMITS, _PLASTICS
    for start in range(0, len(card_ids), IN_CHUNK):
        chunk = card_ids[start:start + IN_CHUNK]
        for card_id, *key in _rows(session, _LIMIT_QUERY, chunk):
            limit = limit_of[tuple(key)]
            mapping = limits.get(card_id)
            if mapping is None:
                mapping = limits[card_id] = {}
            mapping[limit.product] = limit
        for card_id, *key in _rows(session, _PLASTIC_QUERY, chunk):
            plastic = plastic_of[tuple(key)]
            mapping = plastics.get(card_id)
            if mapping is None:
                mapping = plastics[card_id] = {}
            mapping[plastic.rank] = plastic
    configs = {}
    zone_of, minutes, sets, upper_sets = zones.zone, _MINUTES, _JSON_SETS, _JSON_UPPER_SETS
    for (card_id, number, number_id, product_type, rank, _status, blocked_at, cancelled_by_user, renewal_status,
         code_type, odometer_prompt, tank, weekdays, hours_from, hours_to, forbidden_days, countries,
         max_per_day) in cards:
        configs[card_id] = (number, CardConfig(
            card_id=card_id, customer_number_id=number_id, zone=zone_of[number_id],
            is_obu=_PRODUCT_TYPES[product_type].is_obu, limits=limits.get(card_id, {}),
            allowed_weekdays=sets[weekdays], hours_from=minutes[hours_from], hours_to=minutes[hours_to],
            forbidden_days=sets[forbidden_days], allowed_countries=upper_sets[countries],
            tank_capacity_l=_TANKS[tank], odometer_prompt=bool(odometer_prompt),
            max_transactions_per_day=max_per_day, code_type=_CODE_TYPES[code_type], rank=rank,
            blocked_at=blocked_at,
            cancelled=bool(cancelled_by_user) or _RENEWALS[renewal_status] is RenewalStatus.CANCELLED,
            plastics=plastics.get(card_id, {})))
    return configs


class CardVersions:
    """A card's configurations over time (store.services.card_history): `at(moment)` is the one in force then,
    from its `valid_from` inclusive; a moment before the first version gets the first. `history` is the latest
    with every version's history periods and odometer prompt, so the history loaded serves them all."""

    __slots__ = ("starts", "configs", "history")

    def __init__(self, starts: list[datetime], configs: list[CardConfig]):
        self.starts, self.configs = starts, configs
        latest = configs[-1]
        if len(configs) == 1:
            self.history = latest
        else:
            history = replace(latest, odometer_prompt=any(c.odometer_prompt for c in configs))
            history.history_periods = frozenset().union(*(c.history_periods for c in configs))
            self.history = history

    def at(self, moment: datetime) -> CardConfig:
        if len(self.starts) == 1:
            return self.configs[0]
        index = bisect.bisect_right(self.starts, moment) - 1
        return self.configs[index if index > 0 else 0]


_VERSION = CardConfigVersion.__table__.c
_VERSION_QUERY = (select(_VERSION.card_id, _VERSION.valid_from, _VERSION.config)
                  .where(_in_ids(_VERSION.card_id)).order_by(_VERSION.card_id, _VERSION.valid_from))
_FIXED_COLUMNS = (_CARD.id, _CARD.number, _CARD.customer_number_id, type_coerce(_CARD.product_type, String))
_FIXED_QUERY = select(*_FIXED_COLUMNS).where(_in_ids(_CARD.number))
_SNAP_LIMITS = _Memo(lambda key: Limit(Product(key[0]), key[1], None if key[2] is None else Decimal(key[2]),
                                       None if key[3] is None else Decimal(key[3]), LimitPeriod(key[4]),
                                       LimitAction(key[5])))
_SNAP_MOMENTS = _Memo(lambda text: None if text is None else datetime.fromisoformat(text))
_SNAP_TANKS = _Memo(lambda text: None if text is None else Decimal(text))
_SNAP_SETS = _Memo(lambda key: frozenset(key))


def _config_of(card_id: int, number_id: int, zone: ZoneInfo, is_obu: bool, text: str) -> CardConfig:
    data = json.loads(text)
    limit_of = _SNAP_LIMITS
    limits = {}
    for line in data["limits"]:
        limit = limit_of[tuple(line)]
        limits[limit.product] = limit
    plastic_of = _PLASTICS
    hours_from, hours_to = data["hours"]
    return CardConfig(
        card_id=card_id, customer_number_id=number_id, zone=zone, is_obu=is_obu, limits=limits,
        allowed_weekdays=_SNAP_SETS[tuple(data["allowed_weekdays"])], hours_from=_MINUTES[hours_from],
        hours_to=_MINUTES[hours_to], forbidden_days=_SNAP_SETS[tuple(data["forbidden_days"])],
        allowed_countries=_SNAP_SETS[tuple(data["allowed_countries"])],
        tank_capacity_l=_SNAP_TANKS[data["tank_capacity_l"]], odometer_prompt=data["odometer_prompt"],
        max_transactions_per_day=data["max_transactions_per_day"], code_type=_CODE_TYPES[data["code_type"]],
        rank=data["rank"], blocked_at=_SNAP_MOMENTS[data["blocked_at"]], cancelled=data["cancelled"],
        plastics={rank: plastic_of[(rank, status, expiry)] for rank, status, expiry in data["plastics"]})


def load_card_versions(session: Session, zones: CustomerZones, numbers: Iterable[str]) -> dict[str, CardVersions]:
    """Each card's configurations over time, by number: one query for the cards and one for all their versions
    per IN_CHUNK cards. A card without versions (written before they existed, outside the services) is judged by
    its current configuration."""
    numbers = list(numbers)
    out: dict[str, CardVersions] = {}
    unversioned: list[int] = []
    zone_of = zones.zone
    for first in range(0, len(numbers), IN_CHUNK):
        cards = {row[0]: row for row in _rows(session, _FIXED_QUERY, numbers[first:first + IN_CHUNK])}
        if not cards:
            continue
        versions: dict[int, tuple[list, list]] = {}
        for card_id, valid_from, text in _rows(session, _VERSION_QUERY, list(cards)):
            _id, _number, number_id, product_type = cards[card_id]
            entry = versions.get(card_id)
            if entry is None:
                entry = versions[card_id] = ([], [])
            entry[0].append(valid_from)
            entry[1].append(_config_of(card_id, number_id, zone_of[number_id], _PRODUCT_TYPES[product_type].is_obu,
                                       text))
        for card_id, (_id, number, _number_id, _type) in cards.items():
            entry = versions.get(card_id)
            if entry is None:
                unversioned.append(card_id)
            else:
                out[number] = CardVersions(*entry)
    if unversioned:
        for number, config in load_card_configs(session, zones, ids=unversioned).values():
            out[number] = CardVersions([EPOCH], [config])
    return out


def load_driver_codes(session: Session, zones: CustomerZones, customer_number_id: int) -> DriverCodeBook:
    codes = {}
    for code, status, effective_at, blocked_at in session.execute(
            select(DriverCode.code, DriverCode.status, DriverCode.block_effective_at, DriverCode.blocked_at)
            .where(DriverCode.customer_number_id == customer_number_id)):
        blocked_from = None
        if status is DriverCodeStatus.BLOCKED:
            blocked_from = blocked_at or effective_at
        elif status is DriverCodeStatus.BLOCK_PENDING:
            blocked_from = effective_at
        codes[code] = DriverCodeState(status, blocked_from)
    return DriverCodeBook(zones.prefix.get(customer_number_id, ""), codes)


_EARLIER = FuelTransaction.__table__.alias("earlier")


def load_histories(session: Session, configs: dict[int, CardConfig], starts: dict[int, datetime],
                   odometer_from: dict[int, datetime], *, until: datetime | None = None,
                   histories: dict[int, CardHistory] | None = None) -> dict[int, CardHistory]:
    """Fill (or make) each card's history: its transactions since `starts[card]` (fuel, or tolls for an OBU),
    its last odometer reading before `odometer_from[card]` and every one after, and its product blocks that
    were still running then. `until` leaves out what came later (the what-if).

    One query per IN_CHUNK cards from the earliest start of them all: a few rows too many for the cards that
    need less cost far less than a query per start."""
    histories = histories if histories is not None else {}
    fuel, toll = FuelTransaction.__table__.c, TollTransaction.__table__.c
    if starts:
        start = min(starts.values())
        for card_id in starts:
            old = histories.get(card_id)
            fresh = CardHistory(loaded_from=start, odometer_from=old.odometer_from if old else None)
            if old is not None:  # keep the readings and blocks already known
                fresh.odometer_times, fresh.odometer_km, fresh.blocks = old.odometer_times, old.odometer_km, old.blocks
            histories[card_id] = fresh
        for obu in (False, True):
            card_ids = [card_id for card_id in starts if configs[card_id].is_obu is obu]
            for first in range(0, len(card_ids), IN_CHUNK):
                chunk = card_ids[first:first + IN_CHUNK]
                if obu:
                    query = select(toll.card_id, toll.exit_at, toll.amount_incl_vat).where(
                        toll.card_id.in_(chunk), toll.exit_at >= start)
                    if until is not None:
                        query = query.where(toll.exit_at < until)
                    for card_id, moment, amount in _rows(session, query.order_by(toll.card_id, toll.exit_at)):
                        histories[card_id].add(moment, Product.TOLLS, ZERO, amount)
                else:
                    query = select(fuel.card_id, fuel.occurred_at, fuel.product, fuel.quantity,
                                   fuel.amount_incl_vat).where(fuel.card_id.in_(chunk), fuel.occurred_at >= start)
                    if until is not None:
                        query = query.where(fuel.occurred_at < until)
                    for card_id, moment, product, quantity, amount in _rows(
                            session, query.order_by(fuel.card_id, fuel.occurred_at)):
                        histories[card_id].add(moment, product, quantity, amount)
                if until is not None:
                    continue  # the what-if makes its own blocks
                for card_id, product, blocked_from, block_until in _rows(
                        session, select(CardProductBlock.card_id, CardProductBlock.product, CardProductBlock.blocked_from,
                               CardProductBlock.until).where(CardProductBlock.card_id.in_(chunk),
                                                             CardProductBlock.until > start)):
                    history = histories[card_id]
                    if not any(b.product is product and b.blocked_from == blocked_from for b in history.blocks):
                        history.blocks.append(ProductBlock(product, blocked_from, block_until))
    if odometer_from:
        moment = min(odometer_from.values())
        for card_id in odometer_from:
            history = histories.get(card_id)
            if history is None:
                history = histories[card_id] = CardHistory()
            history.odometer_times, history.odometer_km, history.odometer_from = [], [], moment
        last_before = (select(func.max(_EARLIER.c.occurred_at))
                       .where(_EARLIER.c.card_id == fuel.card_id, _EARLIER.c.odometer_km.is_not(None),
                              _EARLIER.c.occurred_at < moment).scalar_subquery())
        card_ids = list(odometer_from)
        for first in range(0, len(card_ids), IN_CHUNK):
            query = (select(fuel.card_id, fuel.occurred_at, fuel.odometer_km)
                     .where(fuel.card_id.in_(card_ids[first:first + IN_CHUNK]), fuel.odometer_km.is_not(None),
                            fuel.occurred_at >= func.coalesce(last_before, moment)))
            if until is not None:
                query = query.where(fuel.occurred_at < until)
            for card_id, occurred_at, km in _rows(session, query.order_by(fuel.card_id, fuel.occurred_at)):
                histories[card_id].add_odometer(occurred_at, km)
    return histories


class BatchHistory(CardHistory):
    """A card's history as the import loads it for a batch: its events since `raw_from` (a local midnight, at or
    before the day of the card's first row in the batch) one by one, and before that, back to the earliest
    period start the rules need, only sums: per product one event per span between the card's period starts of
    `raw_from` (`sums_from`), at the span's start. A few rows per card instead of a month of transactions.

    Exact for every row at or after `raw_from` (`covers`): a week or month that starts before `raw_from` and
    holds such a row also holds `raw_from`, so it starts at one of `sums_from` and its sum is whole spans; a
    day (the daily limits, the transaction count) starts at or after `raw_from`, so it sees single events."""

    __slots__ = ("raw_from", "sums_from")

    def __init__(self, raw_from: datetime, sums_from: Iterable[datetime] = (),
                 odometer_from: datetime | None = None):
        sums_from = frozenset(sums_from)
        super().__init__(loaded_from=min(sums_from, default=raw_from), odometer_from=odometer_from)
        self.raw_from = raw_from
        self.sums_from = sums_from

    def covers(self, config: CardConfig, moment: datetime) -> bool:
        if moment < self.raw_from:
            return False
        for period in config.history_periods:
            start = period_bounds(period, moment, config.zone)[0]
            if start < self.raw_from and start not in self.sums_from:
                return False
        return True

    def forget_before(self, moment: datetime) -> None:
        super().forget_before(moment)
        if moment > self.raw_from:
            self.raw_from = moment
        self.sums_from = frozenset(start for start in self.sums_from if start >= moment)


def _sums_from(config: CardConfig, raw_from: datetime) -> tuple[datetime, ...]:
    """The week and month starts (of the card's limits) of `raw_from`'s day that lie before it, in order."""
    return tuple(sorted({start for start in (period_bounds(period, raw_from, config.zone)[0]
                                             for period in config.history_periods) if start < raw_from}))


def load_batch_histories(session: Session, configs: dict[int, CardConfig], raw_from: dict[int, datetime],
                         histories: dict[int, CardHistory]) -> None:
    """Make each card's BatchHistory from `raw_from[card]` (a local midnight of the card's zone): its sums per
    product over the spans before it (SUM ... GROUP BY card, product: one query per span and IN_CHUNK cards of
    the same spans), its events since then and its product blocks running then (one query each per IN_CHUNK
    cards). Odometer readings and blocks already known are kept."""
    fuel, toll = FuelTransaction.__table__.c, TollTransaction.__table__.c
    groups: dict[tuple, list[int]] = {}
    spans_of: dict[tuple, tuple[datetime, ...]] = {}
    for card_id, moment in raw_from.items():
        config = configs[card_id]
        old = histories.get(card_id)
        key = (config.history_periods, config.zone, moment)
        spans = spans_of.get(key)
        if spans is None:
            spans = spans_of[key] = _sums_from(config, moment)
        fresh = BatchHistory(moment, spans, odometer_from=old.odometer_from if old else None)
        if old is not None:  # keep the readings and blocks already known
            fresh.odometer_times, fresh.odometer_km, fresh.blocks = old.odometer_times, old.odometer_km, old.blocks
        histories[card_id] = fresh
        groups.setdefault((config.is_obu, moment, spans), []).append(card_id)
    for (obu, moment, spans), card_ids in groups.items():
        if obu:
            card_col, time_col, columns = toll.card_id, toll.exit_at, (toll.card_id, toll.exit_at, toll.amount_incl_vat)
            sums = (func.sum(toll.amount_incl_vat),)
        else:
            card_col, time_col = fuel.card_id, fuel.occurred_at
            columns = (fuel.card_id, fuel.occurred_at, fuel.product, fuel.quantity, fuel.amount_incl_vat)
            sums = (fuel.product, func.sum(fuel.quantity), func.sum(fuel.amount_incl_vat))
        bounds = spans + (moment,)
        span_queries = [select(card_col, *sums).where(_in_ids(card_col), time_col >= span_start,
                                                      time_col < bounds[index + 1])
                        .group_by(*((card_col,) if obu else (card_col, fuel.product)))
                        for index, span_start in enumerate(spans)]
        events = select(*columns).where(_in_ids(card_col), time_col >= moment)
        blocks = select(CardProductBlock.card_id, CardProductBlock.product, CardProductBlock.blocked_from,
                        CardProductBlock.until).where(_in_ids(CardProductBlock.card_id),
                                                      CardProductBlock.until > moment)
        for first in range(0, len(card_ids), IN_CHUNK):
            chunk = card_ids[first:first + IN_CHUNK]
            for span_start, query in zip(spans, span_queries):
                for row in _rows(session, query, chunk):
                    if obu:
                        histories[row[0]].add(span_start, Product.TOLLS, ZERO, row[1])
                    else:
                        histories[row[0]].add(span_start, row[1], row[2], row[3])
            if obu:
                for card_id, at, amount in _rows(session, events, chunk):
                    histories[card_id].add(at, Product.TOLLS, ZERO, amount)
            else:
                for card_id, at, product, quantity, amount in _rows(session, events, chunk):
                    histories[card_id].add(at, product, quantity, amount)
            for card_id, product, blocked_from, block_until in _rows(session, blocks, chunk):
                history = histories[card_id]
                if not any(b.product is product and b.blocked_from == blocked_from for b in history.blocks):
                    history.blocks.append(ProductBlock(product, blocked_from, block_until))


def load_odometers(session: Session, card_ids: Iterable[int], moment: datetime,
                   histories: dict[int, CardHistory]) -> None:
    """Each card's last odometer reading before `moment` and every one since (the odometer rule), per IN_CHUNK
    cards: one query for the last readings (a seek per card on the (card, time) index), one for the later ones."""
    fuel = FuelTransaction.__table__.c
    card_ids = list(card_ids)
    for card_id in card_ids:
        history = histories.get(card_id)
        if history is None:
            history = histories[card_id] = CardHistory()
        history.odometer_times, history.odometer_km, history.odometer_from = [], [], moment
    card = Card.__table__.c

    def last(column):
        return (select(column).where(_EARLIER.c.card_id == card.id, _EARLIER.c.odometer_km.is_not(None),
                                     _EARLIER.c.occurred_at < moment)
                .order_by(_EARLIER.c.occurred_at.desc(), _EARLIER.c.id.desc()).limit(1).scalar_subquery())

    last_readings = select(card.id, last(_EARLIER.c.occurred_at).label("at"),
                           last(_EARLIER.c.odometer_km).label("km")).where(_in_ids(card.id))
    later_readings = (select(fuel.card_id, fuel.occurred_at, fuel.odometer_km)
                      .where(_in_ids(fuel.card_id), fuel.odometer_km.is_not(None), fuel.occurred_at >= moment)
                      .order_by(fuel.card_id, fuel.occurred_at))
    for first in range(0, len(card_ids), IN_CHUNK):
        chunk = card_ids[first:first + IN_CHUNK]
        for card_id, occurred_at, km in _rows(session, last_readings, chunk):
            if occurred_at is not None:
                histories[card_id].add_odometer(occurred_at, km)
        for card_id, occurred_at, km in _rows(session, later_readings, chunk):
            histories[card_id].add_odometer(occurred_at, km)


# --- the ingest -----------------------------------------------------------------------------------------

_BY_CARD_FUEL = itemgetter("card_id", "occurred_at")
_BY_CARD_TOLL = itemgetter("card_id", "exit_at")
_FUEL_INSERT = insert(FuelTransaction.__table__)
_TOLL_INSERT = insert(TollTransaction.__table__)
_ANOMALY_INSERT = insert(Anomaly.__table__)
_CARD_TABLE = Card.__table__
_LAST_USE_UPDATE = (update(_CARD_TABLE)
                    .where(_CARD_TABLE.c.id == bindparam("b_id"),
                           or_(_CARD_TABLE.c.last_used_at.is_(None), _CARD_TABLE.c.last_used_at < bindparam("b_at")))
                    .values(last_used_at=bindparam("b_at")))

Progress = Callable[[ImportReport], None]


class TransactionIngest:
    """Checks and books parsed transactions in batches. The import and the simulator both feed it:

        ingest = TransactionIngest(session, now)
        for row in rows: ingest.add(row)
        report = ingest.finish()     # the last batch, then the alert digests
    """

    def __init__(self, session: Session, now: datetime, *, batch_rows: int = BATCH_ROWS, alerts: bool = True,
                 progress: Progress | None = None, report: ImportReport | None = None):
        self.session = session
        self.now = now
        self.batch_rows = batch_rows
        self.alerts = alerts
        self.progress = progress
        self.report = report or ImportReport()
        self.zones = CustomerZones(session)
        self.cards: OrderedDict[str, CardVersions] = OrderedDict()  # by number
        self.histories: OrderedDict[int, CardHistory] = OrderedDict()  # by card id
        self.codes: dict[int, DriverCodeBook] = {}
        self.buffer: list[ParsedTransaction] = []
        self.freeze_batches = False  # see collector_paused

    # -- input --

    def add(self, row: ParsedTransaction) -> None:
        self.report.rows += 1
        self.buffer.append(row)
        if len(self.buffer) >= self.batch_rows:
            self.flush()

    def reject(self, line: int, reason: str) -> None:
        self.report.rows += 1
        self.report.reject(line, reason)

    def finish(self) -> ImportReport:
        self.flush()
        if self.alerts:
            from ..services.alerts import send_anomaly_alerts

            self.report.alert_mails = send_anomaly_alerts(self.session, self.now).mails
        return self.report

    # -- one batch --

    def _existing(self, table, ids: list[str]) -> set[str]:
        column = table.c.issuer_transaction_id
        query = select(column).where(_in_ids(column))
        found: set[str] = set()
        for start in range(0, len(ids), IN_CHUNK):
            found.update(row[0] for row in _rows(self.session, query, ids[start:start + IN_CHUNK]))
        return found

    def _configs(self, numbers: set[str]) -> None:
        missing = [number for number in numbers if number not in self.cards]
        if missing:
            self.cards.update(load_card_versions(self.session, self.zones, missing))
        for number in numbers:
            if number in self.cards:
                self.cards.move_to_end(number)
        while len(self.cards) > CARD_CACHE:
            self.cards.popitem(last=False)

    def _driver_codes(self, customer_number_id: int) -> DriverCodeBook:
        book = self.codes.get(customer_number_id)
        if book is None:
            book = self.codes[customer_number_id] = load_driver_codes(self.session, self.zones, customer_number_id)
        return book

    def _prepare_histories(self, items: list[tuple[ParsedTransaction, CardConfig, Tx]],
                           history_configs: dict[int, CardConfig]) -> None:
        """Each card's history for the rules: kept from an earlier batch when it covers the card's rows, else
        loaded (load_batch_histories) from the local midnight of the earliest row of the cards loaded.
        `history_configs`: per card, the periods of all its versions (CardVersions.history)."""
        firsts: dict[int, datetime] = {}  # the earliest row of each card with period limits or a daily count
        stale: set[int] = set()
        odometer: dict[int, datetime] = {}
        configs: dict[int, CardConfig] = {}
        histories = self.histories
        for _row, tx_config, tx in items:
            card_id = tx_config.card_id
            config = configs[card_id] = history_configs[card_id]
            moment = tx.occurred_at
            if config.history_periods:
                first = firsts.get(card_id)
                if first is None or moment < first:
                    firsts[card_id] = moment
                if card_id not in stale:
                    history = histories.get(card_id)
                    if history is None or history.__class__ is not BatchHistory or not history.covers(config, moment):
                        stale.add(card_id)
            if tx_config.odometer_prompt and not tx.toll and tx.odometer_km is not None and (
                    card_id not in odometer or moment < odometer[card_id]):
                odometer[card_id] = moment
        for card_id, first in firsts.items():
            if card_id not in stale:
                history = histories[card_id]
                start = configs[card_id].history_start(first)
                if start - history.loaded_from > HISTORY_KEEP:
                    history.forget_before(start)
        if stale:
            # One midnight per time zone (the earliest day among these cards), so the cards share their queries.
            day_start: dict[ZoneInfo, datetime] = {}
            for card_id in stale:
                zone = configs[card_id].zone
                day = period_bounds(LimitPeriod.DAY, firsts[card_id], zone)[0]
                if zone not in day_start or day < day_start[zone]:
                    day_start[zone] = day
            load_batch_histories(self.session, configs,
                                 {card_id: day_start[configs[card_id].zone] for card_id in stale}, histories)
        reload_odometer = {}
        for card_id, moment in odometer.items():
            history = histories.get(card_id)
            if history is None or history.odometer_from is None or history.odometer_from > moment:
                reload_odometer[card_id] = moment
        if reload_odometer:
            load_odometers(self.session, reload_odometer, min(reload_odometer.values()), histories)
        for card_id in configs:
            if card_id in histories:
                histories.move_to_end(card_id)
        while len(histories) > HISTORY_CACHE:
            histories.popitem(last=False)

    def flush(self) -> None:
        rows, self.buffer = self.buffer, []
        if not rows:
            return
        report, session = self.report, self.session
        existing = self._existing(FuelTransaction.__table__, [r.issuer_transaction_id for r in rows if not r.toll])
        existing |= self._existing(TollTransaction.__table__, [r.issuer_transaction_id for r in rows if r.toll])
        self._configs({row.card_number for row in rows})
        items: list[tuple[ParsedTransaction, CardConfig, Tx]] = []
        history_configs: dict[int, CardConfig] = {}
        seen: set[str] = set()
        for row in rows:
            if row.issuer_transaction_id in existing or row.issuer_transaction_id in seen:
                report.already_there += 1
                continue
            versions = self.cards.get(row.card_number)
            if versions is None:
                report.reject(row.line, _("Unknown card number {number}.").format(number=row.card_number))
                continue
            config = versions.history
            if row.toll and not config.is_obu:
                report.reject(row.line, _("Card {number} is a fleet card, not an OBU: it has no tolls.").format(
                    number=row.card_number))
                continue
            if not row.toll and config.is_obu:
                report.reject(row.line, _("{number} is an OBU: only toll rows can be booked on it.").format(
                    number=row.card_number))
                continue
            seen.add(row.issuer_transaction_id)
            zone = config.zone  # the card's fixed facts (zone, OBU or not) are the same in every version
            if row.occurred_at.tzinfo is None:
                row.occurred_at = row.occurred_at.replace(tzinfo=zone)
            if row.occurred_at.tzinfo is not timezone.utc:
                row.occurred_at = row.occurred_at.astimezone(timezone.utc)
            if row.entry_at is not None:
                if row.entry_at.tzinfo is None:
                    row.entry_at = row.entry_at.replace(tzinfo=zone)
                row.entry_at = row.entry_at.astimezone(timezone.utc)
                if row.entry_at > row.occurred_at:
                    report.reject(row.line, _("entry_at is after the exit time (occurred_at)."))
                    seen.discard(row.issuer_transaction_id)
                    continue
            config = versions.at(row.occurred_at)  # the configuration in force at the transaction's time
            history_configs[config.card_id] = versions.history
            items.append((row, config, Tx(row.occurred_at, row.product, row.amount_incl_vat, row.quantity,
                                          row.country, row.odometer_km, row.driver_code, row.rank, row.toll)))
        items.sort(key=lambda item: item[2].occurred_at)
        self._prepare_histories(items, history_configs)
        fuel_rows, toll_rows, anomalies = [], [], []
        last_use: dict[int, datetime] = {}
        for row, config, tx in items:
            history = self.histories.get(config.card_id) or CardHistory()
            codes = self._driver_codes(config.customer_number_id) if config.code_type is CodeType.DRIVER_CODE \
                else None
            findings = check_transaction(tx, config, history, codes)
            started = history.record(tx, findings)
            if row.toll:
                toll_rows.append(dict(issuer_transaction_id=row.issuer_transaction_id, card_id=config.card_id,
                                      operator=row.operator, country=row.country, entry_point=row.entry_point,
                                      exit_point=row.exit_point, entry_at=row.entry_at, exit_at=row.occurred_at,
                                      vehicle_class=row.vehicle_class, amount_excl_vat=row.amount_excl_vat,
                                      vat_rate=row.vat_rate, amount_incl_vat=row.amount_incl_vat, invoice_id=None))
            else:
                fuel_rows.append(dict(issuer_transaction_id=row.issuer_transaction_id, card_id=config.card_id,
                                      rank=row.rank if row.rank is not None else config.rank,
                                      occurred_at=row.occurred_at, station=row.station, city=row.city,
                                      country=row.country, product=row.product, quantity=row.quantity,
                                      unit_price=row.unit_price, amount_excl_vat=row.amount_excl_vat,
                                      vat_rate=row.vat_rate, amount_incl_vat=row.amount_incl_vat,
                                      odometer_km=row.odometer_km, driver_code=row.driver_code, invoice_id=None))
            if findings:
                anomalies.append((row, config, findings, started))
            if config.card_id not in last_use or last_use[config.card_id] < row.occurred_at:
                last_use[config.card_id] = row.occurred_at
        connection = session.connection()
        # Inserted per card (the file's usual order), not in time order: the card indexes then take their new
        # entries page after page instead of all over the tree (fewer pages read, dirtied and spilled).
        fuel_rows.sort(key=_BY_CARD_FUEL)
        toll_rows.sort(key=_BY_CARD_TOLL)
        executemany(connection, "import fuel", _FUEL_INSERT, fuel_rows)
        executemany(connection, "import toll", _TOLL_INSERT, toll_rows)
        # Issue 8: the monthly reports read per-card month totals, kept in this same transaction.
        add_to_month_totals(connection, fuel_rows, toll_rows,  # the zones known here: no query for them
                            {config.card_id: config.zone for _row, config, _tx in items})
        if anomalies:
            self._store_anomalies(connection, anomalies)
        executemany(connection, "import last use", _LAST_USE_UPDATE,  # in id order: the table's pages in turn
                    [{"b_id": card_id, "b_at": last_use[card_id]} for card_id in sorted(last_use)])
        session.commit()
        report.fuel += len(fuel_rows)
        report.toll += len(toll_rows)
        if self.freeze_batches:
            gc.freeze()  # see collector_paused
        if self.progress is not None:
            self.progress(report)

    def _store_anomalies(self, connection, anomalies) -> None:
        ids: dict[tuple[bool, str], int] = {}
        for toll, table in ((False, FuelTransaction.__table__), (True, TollTransaction.__table__)):
            wanted = [row.issuer_transaction_id for row, _c, _f, _s in anomalies if row.toll is toll]
            for start in range(0, len(wanted), IN_CHUNK):
                for tx_id, issuer_id in connection.execute(select(table.c.id, table.c.issuer_transaction_id).where(
                        table.c.issuer_transaction_id.in_(wanted[start:start + IN_CHUNK]))):
                    ids[(toll, issuer_id)] = tx_id
        table, plain = Anomaly.__table__, []
        blocks = []
        for row, config, findings, started in anomalies:
            transaction_id = ids[(row.toll, row.issuer_transaction_id)]
            for finding in findings:
                values = dict(card_id=config.card_id, fuel_transaction_id=None if row.toll else transaction_id,
                              toll_transaction_id=transaction_id if row.toll else None, rule=finding.rule,
                              details=finding.details, action=finding.action, status=AnomalyStatus.NEW,
                              comment=None, detected_at=self.now, acknowledged_by_id=None, acknowledged_at=None,
                              notified_at=None)
                self.report.anomalies += 1
                self.report.by_rule[finding.rule] += 1
                block = next((b for b in started if finding.block_until is not None and b.until == finding.block_until),
                             None)
                if block is None:
                    plain.append(values)
                    continue
                started = [b for b in started if b is not block]  # one block per product and period
                anomaly_id = connection.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
                blocks.append(dict(card_id=config.card_id, product=block.product, blocked_from=block.blocked_from,
                                   until=block.until, anomaly_id=anomaly_id, created_at=self.now))
        executemany(connection, "import anomalies", _ANOMALY_INSERT, plain)
        if blocks:
            connection.execute(insert(CardProductBlock.__table__), blocks)
            self.report.product_blocks += len(blocks)


@contextmanager
def collector_paused(ingest: TransactionIngest) -> Iterator[TransactionIngest]:
    """Python's cyclic garbage collector paused while `ingest` runs, and told after each batch to leave alone
    what the batch left alive (gc.freeze); at the end both are undone. Its collections walked the ingest's
    caches of tens of thousands of cards again and again: about a sixth of a daily import's CPU. Objects are
    still freed as soon as nothing refers to them; only garbage in reference cycles waits for the end (a few
    hundred objects for a daily file)."""
    enabled = gc.isenabled()
    gc.disable()
    ingest.freeze_batches = True
    try:
        yield ingest
    finally:
        ingest.freeze_batches = False
        gc.unfreeze()
        if enabled:
            gc.enable()


def import_transactions(session: Session, path: Path | str, now: datetime, *, batch_rows: int = BATCH_ROWS,
                        alerts: bool = True, progress: Progress | None = None) -> ImportReport:
    """Import the issuer's file at `path` (see the module's docstring); ImportFileError when it cannot be read
    at all. Idempotent: a second import of the same file adds nothing and counts the rows as already there."""
    report = ImportReport()
    ingest = TransactionIngest(session, now, batch_rows=batch_rows, alerts=alerts, progress=progress, report=report)
    with collector_paused(ingest):
        for line, index, values in read_rows(Path(path), report):
            try:
                row = parse_row(line, index, values)
            except RowError as error:
                ingest.reject(line, str(error))
                continue
            ingest.add(row)
        return ingest.finish()
