"""Monthly reports → Budget follow-up: the monthly budgets a user sets per fleet division or per card.

A budget is an amount in EUR, excluding VAT (it is compared with the spend excluding VAT in
store.queries.reports.budget_followup), for one calendar month (stored as the month's first day) and for
exactly one fleet division or one card/OBU of a customer number. Setting a budget where one exists replaces
it; clearing removes it. Each call is one transaction (`atomic`) with one audit event per month changed, and
needs the right `reports.budget` and the customer number.

The table's unique constraint (customer number, division, card, month) does not hold: the target's other
column is NULL, and NULL never equals NULL. So each call first locks its division or card row (`_lock_target`)
and only then looks for the budget it replaces: two simultaneous calls for one target run one after the other
and the second finds the first one's budget instead of inserting a second one.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import update
from sqlmodel import Session, select

from ..i18n import _
from ..models import Budget, Card, CustomerNumber, FleetDivision, Right
from . import audit
from .atomic import atomic
from .context import Actor
from .errors import DomainError, NotFound

MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_MONTHS_AT_ONCE = 24


def parse_amount(value: Decimal | str | int) -> Decimal:
    """A budget amount as stored: a positive number of euros with at most 2 decimals ("1 250,50" is read too)."""
    if isinstance(value, float):
        raise DomainError(_("Give the budget as a decimal number, not a float."), field="amount")
    if isinstance(value, str):
        text = value.strip().replace(" ", "").replace("\u00a0", "").replace("€", "")
        if "," in text and "." in text:
            text = text.replace(".", "") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
        text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise DomainError(_("“{value}” is no amount: type the budget in euros, e.g. 1500 or 1500,50.").format(
                value=value), field="amount") from None
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0:
        raise DomainError(_("A budget must be more than 0 euro. To remove a budget, clear it."), field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_("A budget has at most 2 decimals (cents)."), field="amount")
    if amount > MAX_AMOUNT:
        raise DomainError(_("This budget is too large."), field="amount")
    return amount.quantize(Decimal("0.01"))


def _months(month: date, until: date | None) -> list[date]:
    first = month.replace(day=1)
    last = (until or first).replace(day=1)
    if last < first:
        raise DomainError(_("The last month comes before the first: swap them."), field="until")
    months = []
    while first <= last:
        months.append(first)
        first = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        if len(months) > MAX_MONTHS_AT_ONCE:
            raise DomainError(_("Set a budget for at most {count} months at once.").format(count=MAX_MONTHS_AT_ONCE),
                              field="until")
    return months


def _target(session: Session, actor: Actor, customer_number_id: int, division_id: int | None,
            card_id: int | None) -> tuple[CustomerNumber, str]:
    """The customer number (checked) and a label of the division or card a budget is for."""
    actor.require(Right.REPORT_BUDGET)
    actor.require_customer_number(customer_number_id)
    number = session.get(CustomerNumber, customer_number_id)
    if number is None:
        raise NotFound(_("This customer number does not exist."))
    if (division_id is None) == (card_id is None):
        raise DomainError(_("A budget is for one fleet division or for one card: choose one of them."))
    if division_id is not None:
        division = session.get(FleetDivision, division_id)
        if division is None or division.customer_number_id != number.id:
            raise NotFound(_("This fleet division does not exist in customer number {number}.").format(
                number=number.number))
        return number, division.name
    card = session.get(Card, card_id)
    if card is None or card.customer_number_id != number.id:
        raise NotFound(_("This card/OBU does not exist in customer number {number}.").format(number=number.number))
    return number, card.number or card.license_plate or f"#{card.id}"


def _lock_target(session: Session, division_id: int | None, card_id: int | None) -> None:
    """Lock the division or card a budget is for until the call's commit (see the module's docstring)."""
    table = (Card if card_id is not None else FleetDivision).__table__
    row = table.c.id == (card_id if card_id is not None else division_id)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and ignores FOR UPDATE: a write (that changes nothing) takes the database's
        # write lock now, before the read, so the other call waits for this one's commit.
        session.execute(update(table).where(row).values(version=table.c.version))
    else:
        # The row only, and FOR NO KEY UPDATE: inserts referencing the card (transactions) are not held up.
        session.execute(select(table.c.id).where(row).with_for_update(key_share=True))


def _existing(session: Session, customer_number_id: int, division_id: int | None, card_id: int | None,
              month: date) -> Budget | None:
    query = select(Budget).where(Budget.customer_number_id == customer_number_id, Budget.month == month)
    query = query.where(Budget.card_id == card_id) if card_id is not None else query.where(
        Budget.division_id == division_id, Budget.card_id.is_(None))
    return session.exec(query.with_for_update()).first()


def _what(division_id: int | None, card_id: int | None, label: str, month: date) -> dict:
    return {"month": month, ("card" if card_id is not None else "division"): label}


@atomic
def set_budget(session: Session, actor: Actor, now: datetime, customer_number_id: int, month: date,
               amount: Decimal | str, *, division_id: int | None = None, card_id: int | None = None,
               until: date | None = None) -> list[Budget]:
    """Set the monthly budget of a division or a card for `month` (any day of it), or for every month from
    `month` through `until`; replaces a budget already set. Returns the budgets, by month."""
    number, label = _target(session, actor, customer_number_id, division_id, card_id)
    amount = parse_amount(amount)
    _lock_target(session, division_id, card_id)
    budgets = []
    for first in _months(month, until):
        budget = _existing(session, number.id, division_id, card_id, first)
        what = _what(division_id, card_id, label, first)
        if budget is None:
            budget = Budget(customer_number_id=number.id, division_id=division_id, card_id=card_id, month=first,
                            amount=amount)
            session.add(budget)
            session.flush()
            audit.record(session, actor, now, "budget", budget.id, "set", after={**what, "amount": amount},
                         customer_id=number.customer_id)
        elif Decimal(budget.amount) != amount:
            before = Decimal(budget.amount)
            budget.amount = amount
            session.add(budget)
            audit.record(session, actor, now, "budget", budget.id, "changed", before={**what, "amount": before},
                         after={**what, "amount": amount}, customer_id=number.customer_id)
        budgets.append(budget)
    return budgets


@atomic
def clear_budget(session: Session, actor: Actor, now: datetime, customer_number_id: int, month: date, *,
                 division_id: int | None = None, card_id: int | None = None, until: date | None = None) -> int:
    """Remove the budget of a division or a card for `month` (through `until`); how many were removed."""
    number, label = _target(session, actor, customer_number_id, division_id, card_id)
    _lock_target(session, division_id, card_id)
    removed = 0
    for first in _months(month, until):
        budget = _existing(session, number.id, division_id, card_id, first)
        if budget is None:
            continue
        audit.record(session, actor, now, "budget", budget.id, "cleared",
                     before={**_what(division_id, card_id, label, first), "amount": Decimal(budget.amount)},
                     customer_id=number.customer_id)
        session.delete(budget)
        removed += 1
    return removed


def find_budget_card(session: Session, actor: Actor, customer_number_id: int, text: str) -> tuple[int, str]:
    """The card/OBU of the customer number whose number or licence plate is `text` (case and spaces
    ignored), for a card budget: (id, label). NotFound when there is none."""
    actor.require(Right.REPORT_BUDGET)
    actor.require_customer_number(customer_number_id)
    wanted = "".join((text or "").split()).upper()
    if not wanted:
        raise DomainError(_("Type the card number or the licence plate."), field="card")
    from sqlalchemy import func, or_

    card = session.exec(
        select(Card).where(Card.customer_number_id == customer_number_id,
                           or_(Card.number == wanted, func.upper(func.replace(Card.license_plate, " ", "")) == wanted))
        .order_by(Card.id.desc())
    ).first()
    if card is None:
        raise NotFound(_("No card or OBU with number or plate “{text}” in this customer number.").format(
            text=text.strip()), field="card")
    return card.id, " ".join(part for part in (card.number, card.license_plate) if part)
