"""*My invoices* (Fiche 11), the customer's side: re-authentication on entry, search, download, reconciliation.

- `reauthenticate`: the portal asks user name and password again every time the user enters *My invoices*, and
  the one-time code of a user with two-factor sign-in. It is a password check (`auth.check_credentials`; no new
  "last login") and a code check (`users.claim_totp`: a code is accepted once only): a wrong password or code
  counts toward the lockout like a failed login. The user name must be the logged-in user's own.
- `search_invoices` / `count_invoices`: the invoices of the actor's customer numbers (or the one asked for),
  filtered by status (original / duplicate), invoice number, issue date range and amount range (incl. VAT);
  newest first, keyset-paged on (issue date, id).
- `invoice_details`: what the properties window shows before a download (no file bytes).
- `record_download`: hands out the signed PDF and its `.p7s`. The first download of an **original** turns it
  into a **duplicate** and records who and when; a duplicate can be downloaded without limit. The invoice row
  is locked and the change is a conditional update, so two simultaneous first downloads make exactly one
  original → duplicate transition. `deliver(invoice)` (e.g. writing both files) runs inside the transaction:
  when it fails, nothing is recorded.
- `reconcile`: an invoice's lines against the fuel and toll transactions of its customer number in the
  invoice period (customer's time zone), per card: matched, a line without transaction, a transaction not
  invoiced, a transaction on another invoice (a late one, on the next invoice: which one), and amounts that
  differ, with totals.

Every function needs the invoice-download right (reading also accepts the billing-data-files right), the
customer's invoices-online option, and an invoice of a customer number the actor may act for.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, select

from ..i18n import _
from ..models import (
    Card,
    Customer,
    CustomerNumber,
    CustomerOption,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Right,
    TollTransaction,
    User,
)
from . import audit
from .auth import LoginPolicy, check_credentials, count_failed_login, refuse_used_code
from .context import Actor
from .errors import AuthenticationFailed, DomainError, NotFound
from .labels import enum_label
from .users import CODE_USED, CODE_WRONG, claim_totp, code_problem

INVOICE_PAGE = 50
ZERO = Decimal("0")
CENT = Decimal("0.01")
READ_RIGHTS = (Right.INVOICE_DOWNLOAD, Right.INVOICE_DATA_FILES)


# --- scope: rights, option, customer numbers ------------------------------------------------------------

def _require_any(actor: Actor, rights: tuple[Right, ...]) -> None:
    if not any(actor.has(r) for r in rights):
        actor.require(rights[0])  # raises, naming the first right


def _customer(session: Session, actor: Actor, customer_number_id: int | None = None) -> Customer | None:
    customer = session.get(Customer, actor.customer_id) if actor.customer_id else None
    if customer is None and customer_number_id is not None:
        number = session.get(CustomerNumber, customer_number_id)
        customer = session.get(Customer, number.customer_id) if number else None
    return customer


def _require_option(session: Session, actor: Actor, customer_number_id: int | None = None) -> None:
    if actor.is_issuer:
        return
    customer = _customer(session, actor, customer_number_id)
    if customer is None or CustomerOption.INVOICES_ONLINE.value not in (customer.options or []):
        raise DomainError(_("Your company does not have the invoices-online option: invoices are not available in "
                            "the portal. Ask your contact person at the issuer."))


def _zone(session: Session, actor: Actor, customer_number_id: int | None = None) -> ZoneInfo:
    customer = _customer(session, actor, customer_number_id)
    try:
        return ZoneInfo(customer.timezone if customer else "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name must not stop the invoices
        return ZoneInfo("UTC")


def _invoice(session: Session, actor: Actor, invoice_id: int, *, lock: bool = False) -> Invoice:
    query = select(Invoice).where(Invoice.id == invoice_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    invoice = session.exec(query).first()
    if invoice is None:
        raise NotFound(_("This invoice does not exist (any more). Search again."))
    actor.require_customer_number(invoice.customer_number_id)
    _require_option(session, actor, invoice.customer_number_id)
    return invoice


# --- re-authentication ----------------------------------------------------------------------------------

class AccountLocked(AuthenticationFailed):
    """The wrong password of a re-authentication locked the account: the portal logs the user out."""


class CodeNeeded(AuthenticationFailed):
    """The user has two-factor sign-in and gave no one-time code: ask it (nothing was counted)."""


def reauthenticate(session: Session, actor: Actor, username: str, password: str, now: datetime,
                   policy: LoginPolicy = LoginPolicy(), code: str | None = None) -> None:
    """Entering *My invoices*: the logged-in user types their user name and password again, and, when they have
    two-factor sign-in, the current one-time code.

    Raises AuthenticationFailed (message fit to show) when they are wrong; a wrong password or a wrong code counts
    toward the lockout like a failed login, and the attempt that locks the account raises AccountLocked. A code
    accepted once (at the login, a previous entry …) is refused, not counted (`users.claim_totp`). Without a code
    for a user who has two-factor sign-in: CodeNeeded. Another user's name is refused without trying it (nobody
    else's failure count moves).
    """
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise AuthenticationFailed(_("Log in again: your session is no longer valid."))
    if username.strip() != user.username:
        raise AuthenticationFailed(_("Type your own user name, the one you logged in with."))
    try:
        checked, _customer = check_credentials(session, username, password, now, policy)
    except AuthenticationFailed as failure:
        session.refresh(user)
        if user.locked_until is not None and user.locked_until > now:
            until = user.locked_until.astimezone(_zone(session, actor))
            raise AccountLocked(_("Too many wrong passwords: your account is locked until {until:%H:%M} and you "
                                  "have been logged out. Try again later or ask an administrator to unlock "
                                  "it.").format(until=until)) from failure
        raise
    if checked.id != user.id:  # cannot happen: the names are equal
        raise AuthenticationFailed(_("Type your own user name, the one you logged in with."))
    if user.totp_secret is not None:
        if not (code or "").strip():
            raise CodeNeeded(_("Two-factor sign-in is on for you: type also the 6-digit code your authenticator app "
                               "shows now."), field="code")
        outcome = claim_totp(session, user, user.totp_secret, code, now)
        if outcome == CODE_USED:
            refuse_used_code(session, user, now)
        if outcome == CODE_WRONG:
            count_failed_login(session, user, now, policy, "second factor failed")
            if user.locked_until is not None and user.locked_until > now:
                until = user.locked_until.astimezone(_zone(session, actor))
                raise AccountLocked(_("Too many wrong codes: your account is locked until {until:%H:%M} and you have "
                                      "been logged out. Try again later or ask an administrator to unlock "
                                      "it.").format(until=until), field="code")
            raise AuthenticationFailed(code_problem(outcome), field="code")
    user.failed_logins = 0  # the right password (and code), as at a login; but no new "last login"
    audit.record(session, actor, now, "user", user.id, "re-authenticated", after={"for": "My invoices"})
    session.commit()


# --- search ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceFilter:
    """The criteria of *Search invoices*; every field optional. `number`: part of the invoice number;
    `date_from`/`date_to`: the issue date; `amount_min`/`amount_max`: the total including VAT."""

    customer_number_id: int | None = None
    status: InvoiceStatus | None = None
    number: str = ""
    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str
    customer_number_id: int
    customer_number: str
    issue_date: date
    period_start: date
    period_end: date
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    status: InvoiceStatus
    has_files: bool
    first_downloaded_at: datetime | None

    @property
    def after(self) -> tuple[date, int]:
        """The keyset position of this row: pass it as `after` for the next page."""
        return (self.issue_date, self.id)


def _numbers(actor: Actor, customer_number_id: int | None) -> list[int] | None:
    if customer_number_id is not None:
        actor.require_customer_number(customer_number_id)
        return [customer_number_id]
    return None if actor.is_issuer else list(actor.customer_number_ids)


def _check_filter(where: InvoiceFilter) -> None:
    if where.date_from and where.date_to and where.date_from > where.date_to:
        raise DomainError(_("The From date ({start:%d/%m/%Y}) is after the To date ({end:%d/%m/%Y}).").format(
            start=where.date_from, end=where.date_to), field="date_from")
    if where.amount_min is not None and where.amount_max is not None and where.amount_min > where.amount_max:
        raise DomainError(_("The lowest amount is above the highest amount."), field="amount_min")


def _search_query(session: Session, actor: Actor, where: InvoiceFilter, columns, right: Right | None):
    if right is None:
        _require_any(actor, READ_RIGHTS)
    else:
        actor.require(right)
    numbers = _numbers(actor, where.customer_number_id)
    _require_option(session, actor, where.customer_number_id)
    _check_filter(where)
    query = select(*columns).select_from(Invoice)
    if numbers is not None:
        query = query.where(Invoice.customer_number_id.in_(numbers))
    if where.status is not None:
        query = query.where(Invoice.status == where.status)
    text = "".join((where.number or "").split())
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Invoice.number.like(f"%{escaped}%", escape="\\"))
    if where.date_from is not None:
        query = query.where(Invoice.issue_date >= where.date_from)
    if where.date_to is not None:
        query = query.where(Invoice.issue_date <= where.date_to)
    if where.amount_min is not None:
        query = query.where(Invoice.total_incl_vat >= where.amount_min)
    if where.amount_max is not None:
        query = query.where(Invoice.total_incl_vat <= where.amount_max)
    return query


def search_invoices(session: Session, actor: Actor, where: InvoiceFilter | None = None,
                    after: tuple[date, int] | None = None, limit: int = INVOICE_PAGE,
                    right: Right | None = None) -> list[InvoiceRow]:
    """One page of the matching invoices, newest issue date first (ties by id, descending). For the next page
    pass the last row's `after`. Either invoice right reads the list; `right` asks for that one (the screen's)."""
    where = where or InvoiceFilter()
    has_files = and_(Invoice.pdf.is_not(None), Invoice.signature_p7s.is_not(None))
    query = (_search_query(session, actor, where, (
        Invoice.id, Invoice.number, Invoice.customer_number_id, CustomerNumber.number, Invoice.issue_date,
        Invoice.period_start, Invoice.period_end, Invoice.total_excl_vat, Invoice.total_vat, Invoice.total_incl_vat,
        Invoice.status, has_files, Invoice.first_downloaded_at), right)
        .join(CustomerNumber, CustomerNumber.id == Invoice.customer_number_id))
    if after is not None:
        day, row_id = after
        query = query.where(or_(Invoice.issue_date < day, and_(Invoice.issue_date == day, Invoice.id < row_id)))
    query = query.order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(limit)
    return [InvoiceRow(id=r[0], number=r[1], customer_number_id=r[2], customer_number=r[3], issue_date=r[4],
                       period_start=r[5], period_end=r[6], total_excl_vat=r[7], total_vat=r[8], total_incl_vat=r[9],
                       status=r[10], has_files=bool(r[11]), first_downloaded_at=r[12])
            for r in session.exec(query).all()]


def count_invoices(session: Session, actor: Actor, where: InvoiceFilter | None = None,
                   right: Right | None = None) -> int:
    """How many invoices `search_invoices` pages through."""
    return int(session.exec(_search_query(session, actor, where or InvoiceFilter(), (func.count(Invoice.id),),
                                          right)).one())


# --- details and download -------------------------------------------------------------------------------

def pdf_name(number: str) -> str:
    return f"{number}.pdf"


def signature_name(number: str) -> str:
    return f"{number}.pdf.p7s"


@dataclass(frozen=True)
class InvoiceDetails:
    """The properties window: everything but the file bytes."""

    id: int
    number: str
    customer_number: str
    customer_name: str
    issue_date: date
    period_start: date
    period_end: date
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    status: InvoiceStatus
    pdf_name: str
    signature_name: str
    pdf_size: int | None
    signature_size: int | None
    pdf_sha256: str | None
    first_downloaded_by: str | None
    first_downloaded_at: datetime | None
    lines: int

    @property
    def has_files(self) -> bool:
        return self.pdf_size is not None and self.signature_size is not None


def invoice_details(session: Session, actor: Actor, invoice_id: int) -> InvoiceDetails:
    _require_any(actor, READ_RIGHTS)
    invoice = _invoice(session, actor, invoice_id)
    number = session.get(CustomerNumber, invoice.customer_number_id)
    sizes = session.exec(select(func.length(Invoice.pdf), func.length(Invoice.signature_p7s))
                         .where(Invoice.id == invoice.id)).one()
    by = session.get(User, invoice.first_downloaded_by_id) if invoice.first_downloaded_by_id else None
    lines = session.exec(select(func.count(InvoiceLine.id)).where(InvoiceLine.invoice_id == invoice.id)).one()
    return InvoiceDetails(
        id=invoice.id, number=invoice.number, customer_number=number.number if number else "",
        customer_name=number.name if number else "", issue_date=invoice.issue_date,
        period_start=invoice.period_start, period_end=invoice.period_end, total_excl_vat=invoice.total_excl_vat,
        total_vat=invoice.total_vat, total_incl_vat=invoice.total_incl_vat, status=invoice.status,
        pdf_name=pdf_name(invoice.number), signature_name=signature_name(invoice.number),
        pdf_size=None if sizes[0] is None else int(sizes[0]),
        signature_size=None if sizes[1] is None else int(sizes[1]), pdf_sha256=invoice.pdf_sha256,
        first_downloaded_by=(by.display_name or by.username) if by else None,
        first_downloaded_at=invoice.first_downloaded_at, lines=int(lines or 0))


@dataclass(frozen=True)
class Download:
    """What `record_download` hands out. `first`: this download turned the original into a duplicate."""

    invoice: Invoice
    first: bool
    delivered: object = None  # what `deliver` returned (e.g. the paths of the written files)


def record_download(session: Session, actor: Actor, now: datetime, invoice_id: int,
                    deliver: Callable[[Invoice], object] | None = None) -> Download:
    """Download an invoice's PDF and signature: the first download of an original makes it a duplicate.

    `deliver(invoice)` runs after the row is locked and before the commit; if it raises, the transaction is
    rolled back (the status stays as it was) and the error goes to the caller.
    """
    actor.require(Right.INVOICE_DOWNLOAD)
    try:
        invoice = _invoice(session, actor, invoice_id, lock=True)
        if not invoice.pdf or not invoice.signature_p7s:
            raise DomainError(_("Invoice {number} has no signed PDF yet, so it cannot be downloaded. Try again later "
                                "or ask your contact person at the issuer.").format(number=invoice.number))
        before = invoice.status
        delivered = deliver(invoice) if deliver is not None else None
        first = False
        if before is InvoiceStatus.ORIGINAL:
            # Conditional: of two simultaneous first downloads only one changes the row.
            changed = session.execute(
                update(Invoice).where(Invoice.id == invoice.id, Invoice.status == InvoiceStatus.ORIGINAL)
                .values(status=InvoiceStatus.DUPLICATE, first_downloaded_by_id=actor.user_id,
                        first_downloaded_at=now))
            first = changed.rowcount == 1
            session.refresh(invoice)
        audit.record(session, actor, now, "invoice", invoice.id,
                     "first download" if first else "downloaded",
                     before={"status": before} if first else None,
                     after={"status": invoice.status, "number": invoice.number},
                     customer_id=_customer(session, actor, invoice.customer_number_id).id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Download(invoice=invoice, first=first, delivered=delivered)


def invoice_for_files(session: Session, actor: Actor, invoice_id: int) -> Invoice:
    """The invoice, for its billing data files (TID): needs the billing-data-files right."""
    actor.require(Right.INVOICE_DATA_FILES)
    return _invoice(session, actor, invoice_id)


# --- reconciliation -------------------------------------------------------------------------------------

class Match(str, enum.Enum):
    MATCHED = "matched"
    CHARGE = "charge"  # a line that names no transaction: a fee (the monthly card/OBU fee); not a difference
    AMOUNT_DIFFERS = "amount differs"
    LINE_WITHOUT_TRANSACTION = "line without transaction"
    NOT_INVOICED = "transaction not invoiced"
    # A transaction of the period that is on another invoice: one that arrived after its month was invoiced
    # and went on the customer number's next invoice. Not a difference of this invoice.
    OTHER_INVOICE = "on another invoice"


@dataclass(frozen=True)
class ReconciliationRow:
    match: Match
    moment: datetime | None  # the transaction's time (fuel: when; toll: exit), None for a line without one
    description: str
    line_id: int | None
    transaction_id: int | None
    kind: str  # "fuel", "toll" or "" (a line without transaction)
    invoiced: Decimal | None  # the line's amount incl. VAT
    transacted: Decimal | None  # the transaction's amount incl. VAT
    # OTHER_INVOICE: the invoice the transaction is on (its number and its period's first day).
    other_invoice_number: str | None = None
    other_invoice_month: date | None = None

    @property
    def difference(self) -> Decimal:
        """Invoiced minus transacted; 0 for a charge (a fee has no transaction to differ from) and for a
        transaction on another invoice (this invoice is right not to bill it)."""
        if self.match in (Match.CHARGE, Match.OTHER_INVOICE):
            return ZERO
        return (self.invoiced or ZERO) - (self.transacted or ZERO)


_NOT_DIFFERENCES = (Match.MATCHED, Match.CHARGE, Match.OTHER_INVOICE)


@dataclass
class CardReconciliation:
    card_id: int | None  # None: lines on no card (fees, …)
    card_number: str | None
    license_plate: str | None
    name: str | None
    rows: list[ReconciliationRow] = field(default_factory=list)

    @property
    def invoiced(self) -> Decimal:
        return sum((r.invoiced or ZERO for r in self.rows), ZERO)

    @property
    def transacted(self) -> Decimal:
        """The period's transactions that belong on this invoice (those on another invoice left out)."""
        return sum((r.transacted or ZERO for r in self.rows if r.match is not Match.OTHER_INVOICE), ZERO)

    @property
    def elsewhere(self) -> Decimal:
        """The period's transactions that are on another invoice (late ones, on the next invoice)."""
        return sum((r.transacted or ZERO for r in self.rows if r.match is Match.OTHER_INVOICE), ZERO)

    @property
    def charges(self) -> Decimal:
        return sum((r.invoiced or ZERO for r in self.rows if r.match is Match.CHARGE), ZERO)

    @property
    def difference(self) -> Decimal:
        """What was invoiced beyond (or short of) the transactions, fees left out."""
        return self.invoiced - self.charges - self.transacted

    def count(self, match: Match) -> int:
        return sum(1 for r in self.rows if r.match is match)

    @property
    def differences(self) -> int:
        return sum(1 for r in self.rows if r.match not in _NOT_DIFFERENCES)


@dataclass
class Reconciliation:
    invoice_id: int
    number: str
    customer_number: str
    period_start: date
    period_end: date
    total_incl_vat: Decimal  # the invoice's own total
    cards: list[CardReconciliation]

    @property
    def invoiced(self) -> Decimal:
        return sum((c.invoiced for c in self.cards), ZERO)

    @property
    def transacted(self) -> Decimal:
        return sum((c.transacted for c in self.cards), ZERO)

    @property
    def charges(self) -> Decimal:
        return sum((c.charges for c in self.cards), ZERO)

    @property
    def elsewhere(self) -> Decimal:
        return sum((c.elsewhere for c in self.cards), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.invoiced - self.charges - self.transacted

    def count(self, match: Match) -> int:
        return sum(c.count(match) for c in self.cards)

    @property
    def differences(self) -> int:
        return sum(c.differences for c in self.cards)


def _period_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (datetime.combine(start, time(), tzinfo=zone), datetime.combine(end + timedelta(days=1), time(), tzinfo=zone))


def _money(value) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0)).quantize(CENT)
    except InvalidOperation:
        return ZERO


def reconcile(session: Session, actor: Actor, invoice_id: int) -> Reconciliation:
    """The invoice's lines against the fuel and toll transactions of its customer number in the invoice period
    (local days of the customer's time zone), per card. A line is matched to the transaction it names; a line
    naming a transaction that is not there (another customer number's, or one an earlier line of the invoice
    already names) is a line without transaction; a line naming none is a charge (the monthly fee), not a
    difference; a transaction of the period that no line of this invoice names is on another invoice when it
    is linked to one (it arrived after the month was invoiced and went on the next invoice: the row names that
    invoice; no difference), else not invoiced; a matched pair whose amounts (excl. or incl. VAT) differ is an
    amount that differs. Totals leave the charges and the transactions on other invoices out of the
    difference."""
    _require_any(actor, READ_RIGHTS)
    invoice = _invoice(session, actor, invoice_id)
    number = session.get(CustomerNumber, invoice.customer_number_id)
    start, end = _period_bounds(invoice.period_start, invoice.period_end,
                                _zone(session, actor, invoice.customer_number_id))
    cards_of_number = select(Card.id).where(Card.customer_number_id == invoice.customer_number_id)
    fuel = {t.id: t for t in session.exec(select(FuelTransaction).where(
        FuelTransaction.card_id.in_(cards_of_number), FuelTransaction.occurred_at >= start,
        FuelTransaction.occurred_at < end))}
    toll = {t.id: t for t in session.exec(select(TollTransaction).where(
        TollTransaction.card_id.in_(cards_of_number), TollTransaction.exit_at >= start,
        TollTransaction.exit_at < end))}
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                         .order_by(InvoiceLine.id)).all()
    # Lines may name a transaction outside the period: read those too (still the same customer number).
    extra_fuel = {line.fuel_transaction_id for line in lines if line.fuel_transaction_id} - set(fuel)
    extra_toll = {line.toll_transaction_id for line in lines if line.toll_transaction_id} - set(toll)
    if extra_fuel:
        fuel.update({t.id: t for t in session.exec(select(FuelTransaction).where(
            FuelTransaction.id.in_(extra_fuel), FuelTransaction.card_id.in_(cards_of_number)))})
    if extra_toll:
        toll.update({t.id: t for t in session.exec(select(TollTransaction).where(
            TollTransaction.id.in_(extra_toll), TollTransaction.card_id.in_(cards_of_number)))})

    by_card: dict[int | None, list[ReconciliationRow]] = {}
    used_fuel: set[int] = set()
    used_toll: set[int] = set()
    for line in lines:
        tx, kind = None, ""
        if line.fuel_transaction_id and line.fuel_transaction_id in fuel and line.fuel_transaction_id not in used_fuel:
            tx, kind = fuel[line.fuel_transaction_id], "fuel"
            used_fuel.add(tx.id)
        elif (line.toll_transaction_id and line.toll_transaction_id in toll
              and line.toll_transaction_id not in used_toll):
            tx, kind = toll[line.toll_transaction_id], "toll"
            used_toll.add(tx.id)
        invoiced = _money(line.amount_incl_vat)
        if tx is None:
            named = line.fuel_transaction_id is not None or line.toll_transaction_id is not None
            row = ReconciliationRow(Match.LINE_WITHOUT_TRANSACTION if named else Match.CHARGE, None,
                                    line.description, line.id, None, "", invoiced, None)
            card_id = line.card_id
        else:
            same = (_money(tx.amount_incl_vat) == invoiced
                    and _money(tx.amount_excl_vat) == _money(line.amount_excl_vat))
            moment = tx.occurred_at if kind == "fuel" else tx.exit_at
            row = ReconciliationRow(Match.MATCHED if same else Match.AMOUNT_DIFFERS, moment, line.description,
                                    line.id, tx.id, kind, invoiced, _money(tx.amount_incl_vat))
            card_id = tx.card_id
        by_card.setdefault(card_id, []).append(row)
    unbilled = ([(t, "fuel", t.occurred_at) for t in fuel.values()
                 if t.id not in used_fuel and start <= _aware(t.occurred_at) < end]
                + [(t, "toll", t.exit_at) for t in toll.values()
                   if t.id not in used_toll and start <= _aware(t.exit_at) < end])
    # The invoices those are on (late transactions, on a later invoice), read once.
    other_ids = {t.invoice_id for t, _kind, _moment in unbilled if t.invoice_id and t.invoice_id != invoice.id}
    others = ({row[0]: (row[1], row[2]) for row in session.exec(
        select(Invoice.id, Invoice.number, Invoice.period_start).where(Invoice.id.in_(other_ids)))}
        if other_ids else {})
    toll_text = _("toll {operator}, {entry} - {exit}")
    for t, kind, moment in unbilled:
        if kind == "fuel":
            description = f"{enum_label(t.product)}, {t.station}, {t.city} ({t.country})"
        else:
            description = toll_text.format(operator=t.operator, entry=t.entry_point, exit=t.exit_point)
        other = others.get(t.invoice_id)
        by_card.setdefault(t.card_id, []).append(ReconciliationRow(
            Match.OTHER_INVOICE if other else Match.NOT_INVOICED, moment, description, None, t.id, kind, None,
            _money(t.amount_incl_vat), other_invoice_number=other[0] if other else None,
            other_invoice_month=other[1] if other else None))

    card_ids = [c for c in by_card if c is not None]
    cards = {c.id: c for c in session.exec(select(Card).where(Card.id.in_(card_ids)))} if card_ids else {}
    result = []
    for card_id, rows in by_card.items():
        rows.sort(key=lambda r: (r.moment is None, _aware(r.moment) if r.moment else datetime.min.replace(
            tzinfo=ZoneInfo("UTC")), r.line_id or 0, r.transaction_id or 0))
        card = cards.get(card_id)
        result.append(CardReconciliation(card_id=card_id, card_number=card.number if card else None,
                                         license_plate=card.license_plate if card else None,
                                         name=(card.embossed_name or card.driver_name) if card else None,
                                         rows=rows))
    # Cards with differences first, then by card number; the lines on no card last.
    result.sort(key=lambda c: (c.card_id is None, c.differences == 0, c.card_number or "", c.card_id or 0))
    return Reconciliation(invoice_id=invoice.id, number=invoice.number, customer_number=number.number if number else "",
                          period_start=invoice.period_start, period_end=invoice.period_end,
                          total_incl_vat=_money(invoice.total_incl_vat), cards=result)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes from some queries: make them aware for comparisons."""
    from datetime import timezone

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


__all__ = [
    "AccountLocked", "CardReconciliation", "CodeNeeded", "Download", "INVOICE_PAGE", "InvoiceDetails", "InvoiceFilter",
    "InvoiceRow", "Match", "Reconciliation", "ReconciliationRow", "count_invoices",
    "invoice_details", "invoice_for_files", "pdf_name", "reauthenticate", "record_download", "reconcile",
    "search_invoices", "signature_name",
]
