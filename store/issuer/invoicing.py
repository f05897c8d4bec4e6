"""The monthly invoices (Fiche 11): `cardsonline issuer invoice --month YYYY-MM`.

One invoice per customer number and calendar month (in the customer's time zone), for the month's fuel,
service and toll transactions not yet invoiced, plus the monthly card fees (below). Numbers are gapless per
year of the issue date: `YYYY-NNNNNN`, the next sequence taken inside the invoice's own transaction (on
PostgreSQL under an advisory lock per year, so two runs can never take the same number; on SQLite the database
has one writer at a time, and the unique constraint (year, sequence) is the backstop either way).

**One commit per invoice.** Everything of one invoice happens in one database transaction: the number, the
invoice and its lines, the transactions marked with its id, the signed PDF and its `.p7s` (the `render`
callback runs before the commit), and the e-mails to the *customer alert settings* recipients (outbox). So a
failure leaves no half invoice: the invoice being made is rolled back whole (no number consumed, no
transaction marked, no mail), the invoices committed before it stay complete, and running the month again
makes only the missing ones. A customer number is never invoiced twice for a month (skipped when its invoice
exists; the unique constraint (customer_number_id, period_start) enforces it); a run that finds the whole
month already invoiced is refused (`MonthAlreadyInvoiced`).

**Late transactions.** A transaction dated in an earlier month that is *closed* for its customer number, and
not invoiced yet, goes on the customer number's next invoice (its line shows its real date; the document's
`late_from`/`late_to` let the PDF say so beside the period; it brings no fee). A month is closed once a run
without a customer number filter went through it (`_close_month` records an audit event), or for one customer
number once it has that month's invoice. A month not closed (never run, or a run stopped half-way) keeps its
transactions for its own run, so running months out of order moves nothing to the wrong invoice. The link
transaction → invoice (invoice_id) makes each transaction be invoiced once.

**Amounts.** Each transaction is one line with the amounts of the issuer's file (excl. VAT, rate, incl. VAT;
the line's VAT is incl. − excl.). The VAT summary per rate adds up the lines of that rate, so the lines, the
summary, the totals and the billing data file (TID) agree to the cent.

**Fees.** The store has no fee data of its own, so the issuer's monthly fee is a constant: `CARD_FEE` per fleet
card and `OBU_FEE` per OBU that was used in the month (at least one transaction dated in it), excl. VAT at
`FEE_VAT_RATE`, one line per card under that card (a card with only late transactions pays none); a month
without transactions has no fee and makes no invoice. Connection fees of toll conditions are not invoiced here.

`render(document) -> (signed PDF, DER .p7s)` comes from exports.invoicing (store never imports exports).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Iterable, Iterator, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, literal, or_, text, update
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from ..i18n import LANGUAGES, N_, _, ngettext, use_language
from ..models import (
    Address,
    AddressKind,
    AuditEvent,
    Card,
    Customer,
    CustomerNumber,
    CustomerOption,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    Product,
    ProductType,
    TollTransaction,
    User,
    UserCustomerNumber,
)
from ..queries.transactions import unit_of
from ..services import audit
from ..services.context import ISSUER
from ..services.errors import DomainError
from ..services.labels import enum_label
from ..services.notifications import invoice_recipients
from ..services.outbox import queue_email

CURRENCY = "EUR"
CARD_FEE = Decimal("1.50")  # per fleet card used in the month, excl. VAT
OBU_FEE = Decimal("4.00")  # per OBU used in the month, excl. VAT
FEE_VAT_RATE = Decimal("21.00")
FEE_QUANTITY = Decimal("1.000")  # as the database gives it back (3 places): the TID files show it so
PAYMENT_DAYS = 30
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
INSERT_BATCH = 2_000
ADVISORY_LOCK_BASE = 0x1C0_0000  # + the year: pg_advisory_xact_lock key for that year's invoice numbers
DEFAULT_PORTAL_LINK = "cardsonline://invoices/{number}"
MONTH_EVENT_TYPE, MONTH_EVENT_ACTION = "invoice month", "month invoiced"  # audit event of a complete run


@dataclass(frozen=True)
class Party:
    name: str
    lines: tuple[str, ...]  # address lines and the like, in order
    vat_number: str | None = None


# The issuer as it appears on every invoice (the demo issuer; a real one would configure this).
ISSUER_PARTY = Party("Cards Online Issuer NV", ("Avenue de l'Énergie 12", "1000 Bruxelles", "Belgique"),
                     "BE0412.345.678")


@dataclass(slots=True)
class InvoiceLineRow:
    """One invoice line as the PDF and the billing data file show it (transactions and fees alike)."""

    line_id: int
    kind: str  # "fuel", "toll" or "fee"
    card_id: int | None
    card_number: str | None
    card_label: str | None  # licence plate, else the embossed name
    product_type: ProductType | None
    moment: datetime | None  # when (toll: the exit), UTC; None for a fee
    day: date | None  # that moment's day in the customer's time zone
    issuer_transaction_id: str | None
    description: str
    product: str | None  # the product, "toll" or "fee"
    country: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    amount_excl_vat: Decimal
    vat_rate: Decimal
    vat_amount: Decimal
    amount_incl_vat: Decimal


@dataclass(frozen=True)
class CardGroup:
    card_number: str | None
    card_label: str | None
    product_type: ProductType | None
    lines: tuple[InvoiceLineRow, ...]
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal


@dataclass(frozen=True)
class VatRow:
    rate: Decimal
    base: Decimal  # excl. VAT
    vat: Decimal
    total: Decimal  # incl. VAT


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything the invoice PDF shows, as plain data."""

    invoice_id: int
    number: str
    issue_date: date
    due_date: date
    period_start: date
    period_end: date
    language: str  # the customer's: en, nl or fr
    issuer: Party
    customer: Party
    customer_number: str
    customer_number_name: str
    groups: tuple[CardGroup, ...]
    vat: tuple[VatRow, ...]
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    line_count: int
    currency: str = CURRENCY
    timezone: str = "Europe/Brussels"  # the customer's: the billing data file gives local times
    # Late transactions (dated before the period, arrived after their month was invoiced): their first and last
    # day, None when there are none. The PDF says so beside the period.
    late_from: date | None = None
    late_to: date | None = None


Renderer = Callable[[InvoiceDocument], tuple[bytes, bytes]]


@dataclass
class IssuedInvoice:
    number: str
    customer_number: str
    lines: int
    total_incl_vat: Decimal
    mails: int


@dataclass
class InvoicingReport:
    month: date
    issued: list[IssuedInvoice] = field(default_factory=list)
    already_invoiced: int = 0  # customer numbers whose invoice for the month exists (skipped)
    nothing_to_invoice: int = 0  # customer numbers without transactions in the month
    # Invoices made by an earlier run whose missing files this run wrote (exports.invoicing, with a folder).
    files_rewritten: list[str] = field(default_factory=list)

    @property
    def mails(self) -> int:
        return sum(i.mails for i in self.issued)

    def __str__(self) -> str:
        total = sum((i.total_incl_vat for i in self.issued), ZERO)
        head = _("Invoices for {month:%m/%Y}: {issued} issued ({total:,.2f} EUR incl. VAT, {lines:,} lines), "
                 "{already} already invoiced, {empty} without transactions; {mails} e-mails queued.").format(
            month=self.month, issued=len(self.issued), total=total, lines=sum(i.lines for i in self.issued),
            already=self.already_invoiced, empty=self.nothing_to_invoice, mails=self.mails)
        line = _("{lines:>6,} lines")
        rewritten = [ngettext("Missing files written for {count} invoice made before: {numbers}.",
                              "Missing files written for {count} invoices made before: {numbers}.",
                              len(self.files_rewritten)).format(count=len(self.files_rewritten),
                                                                numbers=", ".join(self.files_rewritten))
                     ] if self.files_rewritten else []
        return "\n".join([head, *(f"  {i.number}  {i.customer_number}  {line.format(lines=i.lines)}  "
                                  f"{i.total_incl_vat:>12,.2f} EUR" for i in self.issued), *rewritten])


class MonthAlreadyInvoiced(DomainError):
    """`report`: what the refused run found (every customer number in it already invoiced)."""

    report: InvoicingReport | None = None


class InvoicingFailed(Exception):
    """The run stopped at one customer number; its invoice was rolled back whole, the earlier ones are kept."""

    def __init__(self, report: InvoicingReport, customer_number: str, cause: BaseException):
        super().__init__(_("Invoicing {month:%m/%Y} stopped at customer number {number}: {cause}. {issued} invoices "
                           "were issued before it and are complete; nothing of {number}'s invoice was kept. Run the "
                           "command again to complete the month.").format(
            month=report.month, number=customer_number, cause=cause, issued=len(report.issued)))
        self.report = report
        self.customer_number = customer_number
        self.cause = cause


# --- texts -------------------------------------------------------------------------------------------------

# The "invoice available" e-mail in English (the source), translated into each recipient's language.
_MAIL = (N_("Invoice {number} is available"),
         N_("Hello {name},\n\nInvoice {number} of {company} (customer number {customer_number}) for {period} is "
            "available: {total} EUR incl. VAT.\n\nDownload it with its digital signature in Cards Online, My "
            "invoices:\n{link}\n\nKeep both files, the PDF and its signature (.p7s)."))


def _amount(value: Decimal, language: str) -> str:
    text_ = f"{value:,.2f}"
    if language in ("nl", "fr"):
        sep = "." if language == "nl" else "\u202f"
        text_ = text_.replace(",", "\x00").replace(".", ",").replace("\x00", sep)
    return text_


# --- time ----------------------------------------------------------------------------------------------------

def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month in `zone`, as UTC datetimes."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (datetime.combine(first, time(0), zone).astimezone(timezone.utc),
            datetime.combine(following, time(0), zone).astimezone(timezone.utc))


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# --- reading an invoice ---------------------------------------------------------------------------------------

def invoice_lines(session: Session, invoice_id: int, zone: ZoneInfo | None = None) -> Iterator[InvoiceLineRow]:
    """The invoice's lines grouped by card (by card number), each card's transactions in time order and its
    fee last; streamed from the database."""
    if zone is None:
        zone = invoice_zone(session, invoice_id)
    line, card = InvoiceLine.__table__, Card.__table__
    fuel, toll = FuelTransaction.__table__, TollTransaction.__table__
    moment = func.coalesce(fuel.c.occurred_at, toll.c.exit_at)
    query = (core_select(line, card.c.number.label("card_number"),
                         func.coalesce(card.c.license_plate, card.c.embossed_name).label("card_label"),
                         card.c.product_type, moment.label("moment"),
                         func.coalesce(fuel.c.issuer_transaction_id, toll.c.issuer_transaction_id).label("issuer_id"),
                         fuel.c.product, func.coalesce(fuel.c.country, toll.c.country).label("country"),
                         fuel.c.unit_price)
             .select_from(line.outerjoin(card, card.c.id == line.c.card_id)
                          .outerjoin(fuel, fuel.c.id == line.c.fuel_transaction_id)
                          .outerjoin(toll, toll.c.id == line.c.toll_transaction_id))
             .where(line.c.invoice_id == invoice_id)
             .order_by(func.coalesce(card.c.number, ""), line.c.card_id,
                       or_(line.c.fuel_transaction_id.is_not(None), line.c.toll_transaction_id.is_not(None)).desc(),
                       moment, line.c.id))
    # yield_per on the statement (Connection.execution_options would change the connection for what follows).
    result = session.connection().execute(query.execution_options(yield_per=INSERT_BATCH))
    for row in result:
        when = _as_utc(row.moment)
        day = when.astimezone(zone).date() if when is not None else None
        if row.fuel_transaction_id is not None:
            product = Product(row.product)
            kind, unit, product = "fuel", unit_of(product), product.value
        elif row.toll_transaction_id is not None:
            kind, unit, product = "toll", None, "toll"
        else:
            kind, unit, product = "fee", "pcs", "fee"
        product_type = row.product_type
        if product_type is not None:
            product_type = ProductType(product_type)
        yield InvoiceLineRow(
            line_id=row.id, kind=kind, card_id=row.card_id, card_number=row.card_number, card_label=row.card_label,
            product_type=product_type, moment=when, day=day,
            issuer_transaction_id=row.issuer_id, description=row.description, product=product, country=row.country,
            quantity=row.quantity, unit=unit, unit_price=row.unit_price, amount_excl_vat=row.amount_excl_vat,
            vat_rate=row.vat_rate, vat_amount=row.vat_amount, amount_incl_vat=row.amount_incl_vat)


def invoice_zone(session: Session, invoice_id: int) -> ZoneInfo:
    name = session.exec(select(Customer.timezone).join(CustomerNumber, CustomerNumber.customer_id == Customer.id)
                        .join(Invoice, Invoice.customer_number_id == CustomerNumber.id)
                        .where(Invoice.id == invoice_id)).first()
    return ZoneInfo(name or "Europe/Brussels")


def _customer_party(session: Session, customer: Customer, number: CustomerNumber) -> Party:
    addresses = session.exec(select(Address).where(Address.customer_number_id == number.id,
                                                   Address.kind.in_([AddressKind.BILLING, AddressKind.SHIPPING]))
                             .order_by(Address.id)).all()
    address = next((a for a in addresses if a.kind == AddressKind.BILLING), addresses[0] if addresses else None)
    lines: list[str] = []
    if number.name and number.name != customer.name:
        lines.append(number.name)
    if address is not None:
        if address.name and address.name not in (customer.name, number.name):
            lines.append(address.name)
        lines += [address.street, f"{address.postal_code} {address.city}".strip(), address.country]
    return Party(customer.name, tuple(line for line in lines if line), customer.vat_number)


def line_order(row: InvoiceLineRow) -> tuple:
    """The order of invoice_lines, for lines made in memory: by card number, card, transactions before the
    fee, time, line id."""
    return (row.card_number or "", row.card_id or 0, row.kind == "fee",
            row.moment or datetime.min.replace(tzinfo=timezone.utc), row.line_id)


def invoice_document(session: Session, invoice_id: int,
                     lines: Iterable[InvoiceLineRow] | None = None) -> InvoiceDocument:
    """The invoice as the PDF shows it. `lines`: its lines in invoice_lines order when the caller already has
    them (the batch, which just made them); read from the database otherwise. Raises ValueError when the lines
    do not add up to the invoice's totals."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise ValueError(f"No invoice with id {invoice_id}.")
    number = session.get(CustomerNumber, invoice.customer_number_id)
    customer = session.get(Customer, number.customer_id)
    zone = ZoneInfo(customer.timezone or "Europe/Brussels")
    groups: list[CardGroup] = []
    by_rate: dict[Decimal, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    count = 0
    current: list[InvoiceLineRow] = []
    late: list[date | None] = [None, None]

    def close() -> None:
        if current:
            first = current[0]
            groups.append(CardGroup(first.card_number, first.card_label, first.product_type, tuple(current),
                                    sum((r.amount_excl_vat for r in current), ZERO),
                                    sum((r.vat_amount for r in current), ZERO),
                                    sum((r.amount_incl_vat for r in current), ZERO)))
            current.clear()

    for row in (invoice_lines(session, invoice_id, zone) if lines is None else lines):
        if current and current[0].card_id != row.card_id:
            close()
        current.append(row)
        if row.day is not None and row.day < invoice.period_start:
            late[0] = row.day if late[0] is None else min(late[0], row.day)
            late[1] = row.day if late[1] is None else max(late[1], row.day)
        sums = by_rate[Decimal(row.vat_rate).quantize(CENT)]
        sums[0] += row.amount_excl_vat
        sums[1] += row.vat_amount
        sums[2] += row.amount_incl_vat
        count += 1
    close()
    vat = tuple(VatRow(rate, *sums) for rate, sums in sorted(by_rate.items()))
    totals = (sum((v.base for v in vat), ZERO), sum((v.vat for v in vat), ZERO), sum((v.total for v in vat), ZERO))
    if totals != (invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat):
        raise ValueError(f"Invoice {invoice.number}: its lines add up to {totals[0]} / {totals[1]} / {totals[2]}, "
                         f"not to its totals {invoice.total_excl_vat} / {invoice.total_vat} / "
                         f"{invoice.total_incl_vat}.")
    language = customer.language if customer.language in LANGUAGES else "en"
    return InvoiceDocument(
        invoice_id=invoice.id, number=invoice.number, issue_date=invoice.issue_date,
        due_date=invoice.issue_date + timedelta(days=PAYMENT_DAYS), period_start=invoice.period_start,
        period_end=invoice.period_end, language=language, issuer=ISSUER_PARTY,
        customer=_customer_party(session, customer, number), customer_number=number.number,
        customer_number_name=number.name, groups=tuple(groups), vat=vat, total_excl_vat=invoice.total_excl_vat,
        total_vat=invoice.total_vat, total_incl_vat=invoice.total_incl_vat, line_count=count, timezone=zone.key,
        late_from=late[0], late_to=late[1])


def store_signed_files(invoice: Invoice, pdf: bytes, p7s: bytes) -> None:
    """Keep the signed PDF, its detached signature and the PDF's SHA-256 on the invoice (caller commits)."""
    if not pdf or not p7s:
        raise ValueError(f"Invoice {invoice.number}: the renderer returned no PDF or no signature.")
    invoice.pdf = pdf
    invoice.signature_p7s = p7s
    invoice.pdf_sha256 = hashlib.sha256(pdf).hexdigest()


# --- making invoices ------------------------------------------------------------------------------------------

def _next_sequence(session: Session, year: int) -> int:
    if session.get_bind().dialect.name == "postgresql":
        # Held until this transaction ends: a second run waits here, then sees this run's number.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_BASE + year})
    last = session.exec(select(func.max(Invoice.sequence)).where(Invoice.year == year)).one()
    return (last or 0) + 1


def _day(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"  # dd/mm/yyyy, without strftime's cost


class _LineTexts:
    """The words of the invoice lines in the customer's language, translated once per invoice (the lines are
    stored with the invoice: its legal text)."""

    def __init__(self, language: str | None) -> None:
        with use_language(language):
            self.products = {product: enum_label(product) for product in Product}
            self.toll = _("{day} toll {operator}, {entry} - {exit}")
            self.fees = (_("Monthly card fee {month:%m/%Y}"), _("Monthly OBU fee {month:%m/%Y}"))


def _toll_description(day: date, row, texts: _LineTexts) -> str:
    return texts.toll.format(day=_day(day), operator=row.operator, entry=row.entry_point, exit=row.exit_point)


def _recipients(session: Session, customer: Customer, number: CustomerNumber) -> list[User]:
    if CustomerOption.INVOICES_ONLINE.value not in (customer.options or []):
        return []  # without the invoices-online option no invoice is announced (Fiche 11)
    users = invoice_recipients(session, customer.id)
    if not users:
        return []
    allowed = set(session.exec(select(UserCustomerNumber.user_id).where(
        UserCustomerNumber.customer_number_id == number.id,
        UserCustomerNumber.user_id.in_([u.id for u in users]))).all())
    return [u for u in users if u.id in allowed]


def _queue_mails(session: Session, now: datetime, invoice: Invoice, customer: Customer, number: CustomerNumber,
                 portal_link: str) -> int:
    sent = 0
    for user in _recipients(session, customer, number):
        language = user.language if user.language in LANGUAGES else "en"
        values = dict(number=invoice.number, name=user.display_name or user.username, company=customer.name,
                      customer_number=number.number, period=f"{invoice.period_start:%m/%Y}",
                      total=_amount(invoice.total_incl_vat, language),
                      link=portal_link.format(number=invoice.number))
        with use_language(language):  # in the recipient's language
            subject, body = _(_MAIL[0]).format(**values), _(_MAIL[1]).format(**values)
        queue_email(session, now, to_address=user.email, subject=subject, body=body, language=language,
                    user_id=user.id)
        sent += 1
    return sent


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def closed_months(session: Session, before: date) -> set[date]:
    """The months before `before` whose invoicing run went through every customer number (see invoice_month)."""
    return {date.fromisoformat(f"{key}-01") for key in session.exec(
        select(AuditEvent.object_id).where(AuditEvent.object_type == MONTH_EVENT_TYPE,
                                           AuditEvent.action == MONTH_EVENT_ACTION)).all()
            if key and date.fromisoformat(f"{key}-01") < before}


def _windows(months: Iterable[date], zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The months as few [start, end) UTC ranges as possible (consecutive months make one range)."""
    ranges: list[tuple[datetime, datetime]] = []
    run_first = run_last = None
    for month in sorted(set(months)) + [None]:
        if month is not None and run_last is not None and month == _next_month(run_last):
            run_last = month
            continue
        if run_first is not None:
            ranges.append((month_bounds(run_first, zone)[0], month_bounds(run_last, zone)[1]))
        run_first = run_last = month
    return ranges


def _not_invoiced(table, moment_column, cards, windows: list[tuple[datetime, datetime]]):
    # "Not invoiced" as coalesce(invoice_id, 0) = 0, not invoice_id IS NULL: SQLite would otherwise pick the
    # invoice_id index and read every uninvoiced transaction of every customer number for each invoice, instead
    # of this customer number's cards in the month through (card_id, time). Usually one window (the month, or the
    # closed months before it and the month), so the range stays on that index.
    ranges = [and_(moment_column >= start, moment_column < end) for start, end in windows]
    return (ranges[0] if len(ranges) == 1 else or_(*ranges), table.c.card_id.in_(cards),
            func.coalesce(table.c.invoice_id, 0) == 0)


def _issue_one(session: Session, now: datetime, month: date, customer: Customer, number: CustomerNumber,
               render: Renderer, portal_link: str, closed: set[date]) -> IssuedInvoice | None:
    """Make, render and store one invoice in the session's transaction (the caller commits or rolls back).
    None when the customer number has nothing to invoice or its invoice exists."""
    zone = ZoneInfo(customer.timezone or "Europe/Brussels")
    start, end = month_bounds(month, zone)
    fuel, toll, card = FuelTransaction.__table__, TollTransaction.__table__, Card.__table__
    cards = core_select(card.c.id).where(card.c.customer_number_id == number.id)
    # Late transactions: not invoiced yet, dated in an earlier month that is closed for this customer number (a
    # complete run of that month, or this customer number's own invoice for it). A month not closed yet keeps
    # its transactions for its own run.
    own = session.exec(select(Invoice.period_start).where(Invoice.customer_number_id == number.id,
                                                          Invoice.period_start < month)).all()
    windows = _windows({month, *closed, *own}, zone)
    fuel_where = _not_invoiced(fuel, fuel.c.occurred_at, cards, windows)
    toll_where = _not_invoiced(toll, toll.c.exit_at, cards, windows)
    connection = session.connection()
    anything = connection.execute(core_select(literal(1)).where(
        or_(core_select(fuel.c.id).where(*fuel_where).exists(),
            core_select(toll.c.id).where(*toll_where).exists()))).first()
    if anything is None:
        return None
    issue_date = now.astimezone(zone).date()
    sequence = _next_sequence(session, issue_date.year)
    if session.exec(select(Invoice.id).where(Invoice.customer_number_id == number.id,
                                             Invoice.period_start == month)).first() is not None:
        return None  # another run invoiced it meanwhile
    following = _next_month(month)
    invoice = Invoice(customer_number_id=number.id, number=f"{issue_date.year}-{sequence:06d}", year=issue_date.year,
                      sequence=sequence, issue_date=issue_date, period_start=month,
                      period_end=following - timedelta(days=1), total_excl_vat=ZERO, total_vat=ZERO,
                      total_incl_vat=ZERO, created_at=now)
    session.add(invoice)
    session.flush()
    # Mark first, then read back what was marked: a transaction imported meanwhile is either in both or in neither.
    connection.execute(update(fuel).where(*fuel_where).values(invoice_id=invoice.id))
    connection.execute(update(toll).where(*toll_where).values(invoice_id=invoice.id))
    totals = [ZERO, ZERO, ZERO]
    used: dict[int, tuple] = {}  # card id -> (product type, number, label) of the cards used in the month
    made: list[tuple[InvoiceLineRow, dict]] = []  # each line as the PDF shows it and as it is inserted
    texts = _LineTexts(customer.language)

    def add(values: dict, row: InvoiceLineRow) -> None:
        row.line_id = len(made)  # until inserted: the order made, the last key of line_order
        made.append((row, values))
        totals[0] += row.amount_excl_vat
        totals[1] += row.vat_amount
        totals[2] += row.amount_incl_vat

    invoice_id = invoice.id  # a plain int: the ORM attribute is slower to read in the loops below
    cards_seen: dict[int, tuple] = {}  # card id -> (product type, number, label)

    def card_of(tx, when: datetime) -> tuple:
        found = cards_seen.get(tx.card_id)
        if found is None:
            found = cards_seen[tx.card_id] = (ProductType(tx.product_type), tx.card_number, tx.card_label)
        # The fee is for the cards used in the month: a late transaction brings none (its month's fee was
        # charged with that month, or the card was not otherwise used then).
        if when >= start:
            used[tx.card_id] = found
        return found

    label = func.coalesce(card.c.license_plate, card.c.embossed_name).label("card_label")
    card_columns = (card.c.product_type, card.c.number.label("card_number"), label)
    fuel_rows = (core_select(fuel.c.id, fuel.c.issuer_transaction_id, fuel.c.card_id, fuel.c.occurred_at,
                             fuel.c.station, fuel.c.city, fuel.c.country, fuel.c.product, fuel.c.quantity,
                             fuel.c.unit_price, fuel.c.amount_excl_vat, fuel.c.vat_rate, fuel.c.amount_incl_vat,
                             *card_columns)
                 .join(card, card.c.id == fuel.c.card_id).where(fuel.c.invoice_id == invoice_id)
                 .order_by(fuel.c.card_id, fuel.c.occurred_at, fuel.c.id))
    units: dict[Product, str] = {}
    for tx in connection.execute(fuel_rows):
        excl, incl = tx.amount_excl_vat, tx.amount_incl_vat
        vat = incl - excl
        when = _as_utc(tx.occurred_at)
        product_type, card_number, card_label = card_of(tx, when)
        day = when.astimezone(zone).date()
        product = Product(tx.product)
        unit = units.get(product) or units.setdefault(product, unit_of(product))
        description = f"{_day(day)} {texts.products[product]}, {tx.station}, {tx.city} ({tx.country})"
        add(dict(invoice_id=invoice_id, card_id=tx.card_id, description=description, quantity=tx.quantity,
                 amount_excl_vat=excl, vat_rate=tx.vat_rate, vat_amount=vat, amount_incl_vat=incl,
                 fuel_transaction_id=tx.id, toll_transaction_id=None),
            InvoiceLineRow(0, "fuel", tx.card_id, card_number, card_label, product_type, when, day,
                           tx.issuer_transaction_id, description, product.value, tx.country, tx.quantity,
                           unit, tx.unit_price, excl, tx.vat_rate, vat, incl))
    toll_rows = (core_select(toll.c.id, toll.c.issuer_transaction_id, toll.c.card_id, toll.c.exit_at,
                             toll.c.operator, toll.c.country, toll.c.entry_point, toll.c.exit_point,
                             toll.c.amount_excl_vat, toll.c.vat_rate, toll.c.amount_incl_vat, *card_columns)
                 .join(card, card.c.id == toll.c.card_id).where(toll.c.invoice_id == invoice_id)
                 .order_by(toll.c.card_id, toll.c.exit_at, toll.c.id))
    for tx in connection.execute(toll_rows):
        excl, incl = tx.amount_excl_vat, tx.amount_incl_vat
        vat = incl - excl
        when = _as_utc(tx.exit_at)
        product_type, card_number, card_label = card_of(tx, when)
        day = when.astimezone(zone).date()
        description = _toll_description(day, tx, texts)
        add(dict(invoice_id=invoice_id, card_id=tx.card_id, description=description, quantity=None,
                 amount_excl_vat=excl, vat_rate=tx.vat_rate, vat_amount=vat, amount_incl_vat=incl,
                 fuel_transaction_id=None, toll_transaction_id=tx.id),
            InvoiceLineRow(0, "toll", tx.card_id, card_number, card_label, product_type, when, day,
                           tx.issuer_transaction_id, description, "toll", tx.country, None, None, None, excl,
                           tx.vat_rate, vat, incl))
    for card_id, (product_type, card_number, card_label) in sorted(used.items()):
        fee = OBU_FEE if product_type.is_obu else CARD_FEE
        vat = (fee * FEE_VAT_RATE / 100).quantize(CENT, ROUND_HALF_UP)
        description = texts.fees[product_type.is_obu].format(month=month)
        add(dict(invoice_id=invoice_id, card_id=card_id, description=description, quantity=FEE_QUANTITY,
                 amount_excl_vat=fee, vat_rate=FEE_VAT_RATE, vat_amount=vat, amount_incl_vat=fee + vat,
                 fuel_transaction_id=None, toll_transaction_id=None),
            InvoiceLineRow(0, "fee", card_id, card_number, card_label, product_type, None, None, None,
                           description, "fee", None, FEE_QUANTITY, "pcs", None, fee, FEE_VAT_RATE, vat, fee + vat))
    # Inserted in the invoice's order (invoice_lines' order, whose last key is the line id), as a plain
    # executemany: RETURNING the ids would make SQLAlchemy insert row by row on SQLite (sort_by_parameter_order),
    # several times slower. The ids are read back in one query; they follow the insert order.
    made.sort(key=lambda pair: line_order(pair[0]))
    rows = [row for row, _values in made]
    table = InvoiceLine.__table__
    for start_at in range(0, len(made), INSERT_BATCH):
        connection.execute(insert(table), [values for _row, values in made[start_at:start_at + INSERT_BATCH]])
    del made
    ids = connection.execute(core_select(table.c.id).where(table.c.invoice_id == invoice.id)
                             .order_by(table.c.id)).scalars().all()
    for row, line_id in zip(rows, ids, strict=True):
        row.line_id = line_id
    count = len(rows)
    invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat = totals
    session.add(invoice)
    session.flush()
    # The document from the rows just made (the same as invoice_document reads back, without reading).
    pdf, p7s = render(invoice_document(session, invoice.id, rows))
    store_signed_files(invoice, pdf, p7s)
    session.add(invoice)
    mails = _queue_mails(session, now, invoice, customer, number, portal_link)
    audit.record(session, ISSUER, now, "invoice", invoice.id, "invoice issued", after={
        "number": invoice.number, "customer_number": number.number, "period": f"{month:%Y-%m}", "lines": count,
        "total_incl_vat": str(invoice.total_incl_vat), "pdf_sha256": invoice.pdf_sha256}, customer_id=customer.id)
    return IssuedInvoice(invoice.number, number.number, count, invoice.total_incl_vat, mails)


def invoice_month(session: Session, month: date, now: datetime, render: Renderer, *,
                  customer_numbers: Optional[Iterable[str]] = None, portal_link: str = DEFAULT_PORTAL_LINK,
                  progress: Callable[[InvoicingReport], None] | None = None) -> InvoicingReport:
    """Invoice `month` (any day of it) for every customer number (or only `customer_numbers`), one commit per
    invoice (see the module's docstring). Refuses a month that is not over for every customer
    (DomainError) or that is already invoiced (MonthAlreadyInvoiced). On a failure the invoice being made is
    rolled back and InvoicingFailed is raised with the report of what was issued before it."""
    if now.tzinfo is None:
        raise ValueError("invoice_month needs a timezone-aware time")
    month = month.replace(day=1)
    report = InvoicingReport(month)
    query = (select(CustomerNumber, Customer).join(Customer, Customer.id == CustomerNumber.customer_id)
             .order_by(CustomerNumber.number))
    wanted = [n.strip() for n in customer_numbers] if customer_numbers is not None else None
    if wanted is not None:
        query = query.where(CustomerNumber.number.in_(wanted))
    pairs = list(session.exec(query).all())
    if wanted is not None:
        unknown = sorted(set(wanted) - {number.number for number, _customer in pairs})
        if unknown:
            session.rollback()
            raise DomainError(_("Unknown customer number {number}.").format(number=unknown[0]))
    for _number, customer in pairs:
        zone = ZoneInfo(customer.timezone or "Europe/Brussels")
        _start, end = month_bounds(month, zone)
        if now < end:
            session.rollback()
            raise DomainError(_("{month:%m/%Y} is not over yet in {zone} (it ends {end:%d/%m/%Y %H:%M}): invoice it "
                                "from then on.").format(month=month, zone=zone.key, end=end.astimezone(zone)))
    done = set(session.exec(select(Invoice.customer_number_id).where(Invoice.period_start == month)).all())
    closed = closed_months(session, month)
    session.rollback()  # end the read transaction: each invoice gets its own
    # The customer numbers and customers read above are only read here: keep them loaded across the commits
    # (two queries fewer per invoice) instead of reloading them after each.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        for number, customer in pairs:
            if number.id in done:
                report.already_invoiced += 1
                continue
            try:
                issued = _issue_one(session, now, month, customer, number, render, portal_link, closed)
                if issued is None:
                    session.rollback()
                    report.nothing_to_invoice += 1
                    continue
                session.commit()
            except BaseException as exc:
                session.rollback()
                if isinstance(exc, Exception):
                    raise InvoicingFailed(report, number.number, exc) from exc
                raise
            report.issued.append(issued)
            if progress is not None:
                progress(report)
    finally:
        session.expire_on_commit = expire_on_commit
    if wanted is None:
        _close_month(session, now, month)
    if not report.issued and report.already_invoiced:
        refusal = MonthAlreadyInvoiced(ngettext(
            "{month} is already invoiced: {count} customer number has its invoice for it, and an invoice is never "
            "made twice. Transactions of {month} that arrive late go on the next month's invoice.",
            "{month} is already invoiced: {count} customer numbers have their invoice for it, and an invoice is "
            "never made twice. Transactions of {month} that arrive late go on the next month's invoice.",
            report.already_invoiced).format(month=f"{month:%m/%Y}", count=report.already_invoiced))
        refusal.report = report
        raise refusal
    return report


def _close_month(session: Session, now: datetime, month: date) -> None:
    """Record that the month's run went through every customer number (once): from then on a transaction of the
    month that arrives late goes on its customer number's next invoice."""
    key = f"{month:%Y-%m}"
    if session.exec(select(AuditEvent.id).where(AuditEvent.object_type == MONTH_EVENT_TYPE,
                                                AuditEvent.action == MONTH_EVENT_ACTION,
                                                AuditEvent.object_id == key)).first() is None:
        audit.record(session, ISSUER, now, MONTH_EVENT_TYPE, key, MONTH_EVENT_ACTION)
        session.commit()
    else:
        session.rollback()


def invoices_without_files(session: Session, limit: int | None = None) -> list[int]:
    """Ids of invoices that have no signed PDF yet (e.g. the demo's), oldest first."""
    query = select(Invoice.id).where(or_(Invoice.pdf.is_(None), Invoice.signature_p7s.is_(None))).order_by(Invoice.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())
