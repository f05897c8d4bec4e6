"""My driver codes (Fiches 13-16): search, create, modify, block, unblock, reissue.

A personalised driver code has 8 digits: the customer's 4 issuer digits (`Customer.driver_code_prefix`)
followed by 4 digits the customer chooses per driver. The 4 customer digits are unique within a customer
number; after creation only the driver's name (at most 25 characters) and the fleet division can change.

Blocking a code never blocks a card (the card stays active: block the card itself on loss or theft).
Blocking 5 codes or fewer in one action takes effect at once; blocking more than 5 in one action puts them in
"block pending": the issuer's nightly run (`store.issuer.nightly`) applies them the next morning, 06:00 in the
customer's time zone. A pending code keeps working until then; unblocking it cancels the pending block.

Each change is one transaction (`atomic`) with one audit event per driver code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import func, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..i18n import N_, _, ngettext
from ..models import (
    AuditEvent,
    Card,
    CodeType,
    Customer,
    CustomerNumber,
    DriverCode,
    DriverCodeStatus,
    FleetDivision,
    Request,
    RequestKind,
    Right,
)
from . import audit
from .atomic import atomic
from .cards import FINAL_CARD_STATUSES, OPEN_REQUEST_STATUSES, card_label
from .context import ISSUER, Actor
from .errors import DomainError, NotFound, StaleObject
from .labels import enum_label

NAME_MAX: int = DriverCode.__table__.c.driver_name.type.length  # 25 (Fiche 16)
IMMEDIATE_BLOCK_MAX = 5  # Fiche 16: more than 5 codes blocked at once take effect the next morning
NEXT_MORNING = time(6, 0)  # when the nightly run applies pending blocks, in the customer's time zone
DRIVER_CODE_PAGE = 50
BLOCK_DOES_NOT_BLOCK_CARDS = N_("A blocked driver code does not block any card: the cards stay active. If a card "
                                "is lost or stolen, block the card itself.")
# Fiche 13: in these countries the driver types the driver code before the card's code.
DRIVER_CODE_FIRST_COUNTRIES: tuple[str, ...] = ("DE", "IT", "HU", "CZ", "PL", "SK")
_FOUR_DIGITS = re.compile(r"[0-9]{4}")
_EIGHT_DIGITS = re.compile(r"[0-9]{8}")


# --- read models ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DriverCodeRow:
    """One line of Search driver codes."""

    id: int
    customer_number_id: int
    customer_number: str
    division_id: int
    division: str
    code: str  # the customer's 4 digits
    full_code: str  # the 8-digit personalised code: issuer prefix + code
    driver_name: str
    status: DriverCodeStatus
    block_effective_at: datetime | None
    blocked_at: datetime | None
    version: int

    @property
    def after(self) -> tuple[str, int]:
        """The keyset position of this row: pass it as `after` for the next page."""
        return (self.driver_name.lower(), self.id)


@dataclass(frozen=True)
class DriverCodeFilter:
    customer_number_id: int | None = None  # None: every customer number of the actor
    division_id: int | None = None
    name: str = ""  # part of the driver's name, any case
    code: str = ""  # the start of the 4 digits, or the full 8-digit code
    statuses: tuple[DriverCodeStatus, ...] = ()  # empty: every status


@dataclass(frozen=True)
class BlockPlan:
    """What blocking these codes together will do, told to the user before they confirm."""

    count: int
    immediate: bool
    effective_at: datetime  # UTC: now when immediate, else the next morning 06:00 local
    timezone: str

    @property
    def effective_local(self) -> datetime:
        return self.effective_at.astimezone(ZoneInfo(self.timezone))

    @property
    def explanation(self) -> str:
        if self.immediate:
            return ngettext("{count} driver code will be blocked immediately (blocking {maximum} or fewer at once "
                            "takes effect at once).",
                            "{count} driver codes will be blocked immediately (blocking {maximum} or fewer at once "
                            "takes effect at once).", self.count).format(count=self.count, maximum=IMMEDIATE_BLOCK_MAX)
        return _("{count} driver codes will be block pending and blocked on {day:%d/%m/%Y} at {time:%H:%M} "
                 "({zone}): blocking more than {maximum} codes at once takes effect the next morning. Until then "
                 "the codes keep working.").format(count=self.count, day=self.effective_local,
                                                   time=self.effective_local, zone=self.timezone,
                                                   maximum=IMMEDIATE_BLOCK_MAX)


@dataclass(frozen=True)
class ReissueCard:
    """The card a reissue of driver codes refers to, as the reissue dialog shows it."""

    card_id: int
    number: str
    customer_number_id: int
    division_id: int
    division: str
    code_type: CodeType
    allowed_countries: tuple[str, ...]
    driver_code_first: tuple[str, ...]  # of the card's countries, those where the driver code is typed first


def driver_code_first(allowed_countries: Iterable[str] | None) -> tuple[str, ...]:
    """Of a card's allowed countries (ISO 3166 alpha-2; none means everywhere), those where the driver types the
    driver code before the card's code (Fiche 13: Germany, Italy, Hungary, Czechia, Poland, Slovakia)."""
    countries = {country.upper() for country in allowed_countries or ()}
    if not countries:
        return DRIVER_CODE_FIRST_COUNTRIES
    return tuple(country for country in DRIVER_CODE_FIRST_COUNTRIES if country in countries)


def next_morning(now: datetime, zone: str) -> datetime:
    """The first 06:00 in time zone `zone` strictly after `now`, in UTC: when a pending block takes effect."""
    local = now.astimezone(ZoneInfo(zone))
    morning = datetime.combine(local.date(), NEXT_MORNING, tzinfo=ZoneInfo(zone))
    if morning <= local:
        morning = datetime.combine(local.date() + timedelta(days=1), NEXT_MORNING, tzinfo=ZoneInfo(zone))
    return morning.astimezone(timezone.utc)


def plan_block(count: int, now: datetime, zone: str) -> BlockPlan:
    """The rule of Fiche 16 for blocking `count` codes in one action at `now` for a customer in `zone`."""
    if count <= IMMEDIATE_BLOCK_MAX:
        return BlockPlan(count, True, now, zone)
    return BlockPlan(count, False, next_morning(now, zone), zone)


# --- helpers ----------------------------------------------------------------------------------------------

def clean_name(name: str | None) -> str:
    """The driver's name as stored: trimmed, inner runs of spaces made one."""
    return " ".join((name or "").split())


def name_problem(name: str) -> str | None:
    if not name:
        return _("Type the driver's name.")
    if len(name) > NAME_MAX:
        return _("A driver's name has at most {maximum} characters (this one has {count}): shorten it.").format(
            maximum=NAME_MAX, count=len(name))
    return None


def code_problem(code: str) -> str | None:
    if not _FOUR_DIGITS.fullmatch(code or ""):
        return _("A driver code is 4 digits (0-9), for example 0042; the issuer's 4 digits are put in front of it.")
    return None


def _customer_number(session: Session, actor: Actor, customer_number_id: int) -> CustomerNumber:
    actor.require_customer_number(customer_number_id)
    number = session.get(CustomerNumber, customer_number_id)
    if number is None:
        raise NotFound(_("This customer number does not exist."))
    return number


def _customer(session: Session, number: CustomerNumber) -> Customer:
    return session.get(Customer, number.customer_id)


def _division(session: Session, number: CustomerNumber, division_id: int | None) -> FleetDivision:
    if division_id is None:
        raise DomainError(_("Choose the fleet division of the driver code."), field="division")
    division = session.get(FleetDivision, division_id)
    if division is None:
        raise DomainError(_("This fleet division does not exist (any more): choose another one."), field="division")
    if division.customer_number_id != number.id:
        raise DomainError(_("The fleet division {division} belongs to another customer number: choose a division "
                            "of customer number {number}.").format(division=division.name, number=number.number),
                          field="division")
    return division


def _record(session: Session, actor: Actor, now: datetime, number: CustomerNumber, code: DriverCode, action: str,
            before: dict | None = None, after: dict | None = None) -> None:
    audit.record(session, actor, now, "driver_code", code.id, action, before=before, after=after,
                 customer_id=number.customer_id)


def _label(customer: Customer, code: DriverCode) -> str:
    return f"{customer.driver_code_prefix}{code.code} ({code.driver_name})"


def _codes_for_update(session: Session, actor: Actor, code_ids: Iterable[int]) -> list[DriverCode]:
    wanted = sorted(set(code_ids))
    if not wanted:
        raise DomainError(_("Select at least one driver code (space bar), then choose the action."))
    codes = list(session.exec(select(DriverCode).where(DriverCode.id.in_(wanted)).order_by(DriverCode.id)
                              .with_for_update().execution_options(populate_existing=True)).all())
    if len(codes) != len(wanted):
        missing = len(wanted) - len(codes)
        raise NotFound(ngettext("{count} of the selected driver codes no longer exists: refresh the list and select "
                                "again.",
                                "{count} of the selected driver codes no longer exist: refresh the list and select "
                                "again.", missing).format(count=missing))
    for code in codes:
        actor.require_customer_number(code.customer_number_id)
    return codes


def _zone_of(session: Session, codes: list[DriverCode]) -> str:
    number = session.get(CustomerNumber, codes[0].customer_number_id)
    return _customer(session, number).timezone


def _check_version(session: Session, code: DriverCode, expected_version: int | None) -> None:
    if expected_version is None or code.version == expected_version:
        return
    last = session.exec(
        select(AuditEvent).where(AuditEvent.object_type == "driver_code", AuditEvent.object_id == str(code.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    if last:
        raise StaleObject(_("The driver code of {driver} was changed by {actor} meanwhile; your input is kept — look "
                            "at it again and save again.").format(driver=code.driver_name, actor=last.actor_label))
    raise StaleObject(_("The driver code of {driver} was changed meanwhile; your input is kept — look at it again "
                        "and save again.").format(driver=code.driver_name))


# --- reading ----------------------------------------------------------------------------------------------

def _search_query(session: Session, actor: Actor, where: DriverCodeFilter):
    actor.require(Right.DRIVER_CODES_MANAGE)
    if where.customer_number_id is not None:
        _customer_number(session, actor, where.customer_number_id)
        numbers = [where.customer_number_id]
    else:
        numbers = None if actor.is_issuer else list(actor.customer_number_ids)
    query = (
        select(DriverCode, CustomerNumber.number, FleetDivision.name, Customer.driver_code_prefix)
        .join(CustomerNumber, CustomerNumber.id == DriverCode.customer_number_id)
        .join(Customer, Customer.id == CustomerNumber.customer_id)
        .join(FleetDivision, FleetDivision.id == DriverCode.division_id)
    )
    if numbers is not None:
        query = query.where(DriverCode.customer_number_id.in_(numbers))
    if where.division_id is not None:
        query = query.where(DriverCode.division_id == where.division_id)
    name = clean_name(where.name).lower()
    if name:
        query = query.where(func.lower(DriverCode.driver_name).contains(name, autoescape=True))
    code = (where.code or "").strip()
    if code:
        if _EIGHT_DIGITS.fullmatch(code):  # the full personalised code: the prefix must match too
            query = query.where(Customer.driver_code_prefix == code[:4], DriverCode.code == code[4:])
        else:
            query = query.where(DriverCode.code.startswith(code, autoescape=True))
    if where.statuses:
        query = query.where(DriverCode.status.in_(list(where.statuses)))
    return query


def search_driver_codes(session: Session, actor: Actor, where: DriverCodeFilter | None = None,
                        after: tuple[str, int] | None = None, limit: int = DRIVER_CODE_PAGE) -> list[DriverCodeRow]:
    """One page of driver codes matching `where`, by driver name (any case), ties by id.

    Pages are keyset positions: pass the last row's `after` for the next page.
    """
    query = _search_query(session, actor, where or DriverCodeFilter())
    key = func.lower(DriverCode.driver_name)
    if after is not None:
        query = query.where(tuple_(key, DriverCode.id) > tuple_(*after))
    rows = session.exec(query.order_by(key, DriverCode.id).limit(limit)).all()
    return [
        DriverCodeRow(id=code.id, customer_number_id=code.customer_number_id, customer_number=number,
                      division_id=code.division_id, division=division, code=code.code, full_code=prefix + code.code,
                      driver_name=code.driver_name, status=code.status, block_effective_at=code.block_effective_at,
                      blocked_at=code.blocked_at, version=code.version)
        for code, number, division, prefix in rows
    ]


def driver_code_divisions(session: Session, actor: Actor, customer_number_id: int) -> tuple[str, list[tuple[int, str]]]:
    """For the forms: the customer's 4-digit issuer prefix and the fleet divisions of a customer number by name.
    Either driver-code right will do (creating needs them as much as managing)."""
    if not actor.has(Right.DRIVER_CODES_CREATE):
        actor.require(Right.DRIVER_CODES_MANAGE)
    try:
        number = _customer_number(session, actor, customer_number_id)
        query = (select(FleetDivision.id, FleetDivision.name)
                 .where(FleetDivision.customer_number_id == number.id).order_by(FleetDivision.name))
        return _customer(session, number).driver_code_prefix, [(i, name) for i, name in session.exec(query).all()]
    finally:
        session.rollback()


def count_driver_codes(session: Session, actor: Actor, where: DriverCodeFilter | None = None) -> int:
    """How many driver codes match `where`."""
    query = _search_query(session, actor, where or DriverCodeFilter())
    return int(session.exec(select(func.count()).select_from(query.subquery())).one())


def block_plan(session: Session, actor: Actor, now: datetime, code_ids: Iterable[int]) -> BlockPlan:
    """What `block_driver_codes(code_ids)` would do now: immediate, or block pending until when. Refuses, as
    the block itself would, a selection with codes that are not active."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    try:
        codes = _codes_for_update(session, actor, code_ids)
        _require_active(session, codes)
        return plan_block(len(codes), now, _zone_of(session, codes))
    finally:
        session.rollback()  # a look only: release the rows


def reissue_card(session: Session, actor: Actor, card_number: str) -> ReissueCard:
    """The card a driver-code reissue names, with its division and the countries where the driver code is typed
    first; refuses an unknown card, one of another customer number, or one that cannot be used any more."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    try:
        return _reissue_card(session, actor, card_number)
    finally:
        session.rollback()  # a look only


def _reissue_card(session: Session, actor: Actor, card_number: str) -> ReissueCard:
    number = "".join((card_number or "").split())
    if not number:
        raise DomainError(_("Type the number of the card the driver codes are used with."), field="card_number")
    row = session.exec(select(Card, FleetDivision.name).join(FleetDivision, FleetDivision.id == Card.division_id)
                       .where(Card.number == number)).first()
    if row is None or (not actor.is_issuer and row[0].customer_number_id not in actor.customer_number_ids):
        raise DomainError(_("No card with number {number} in your customer numbers: check the number.").format(
            number=number), field="card_number")
    card, division = row
    if card.product_type.is_obu:
        raise DomainError(_("{number} is an OBU: driver codes are used with fleet cards. Type a card number.").format(
            number=number), field="card_number")
    if card.status in FINAL_CARD_STATUSES:
        raise DomainError(_("Card {number} is {status}: choose a card that is still in use.").format(
            number=number, status=enum_label(card.status)), field="card_number")
    return ReissueCard(card.id, card.number, card.customer_number_id, card.division_id, division, card.code_type,
                       tuple(card.allowed_countries or ()), driver_code_first(card.allowed_countries))


def accepts_driver_code(session: Session, card: Card, full_code: str, at: datetime) -> bool:
    """Whether a card with code type "driver code" accepts `full_code` at moment `at` (for the transaction
    checks): any code of the card's customer number that is active, or block pending with its block not yet in
    effect. No actor: the issuer's side asks."""
    if card.code_type is not CodeType.DRIVER_CODE or not _EIGHT_DIGITS.fullmatch(full_code or ""):
        return False
    number = session.get(CustomerNumber, card.customer_number_id)
    if _customer(session, number).driver_code_prefix != full_code[:4]:
        return False
    code = session.exec(select(DriverCode).where(DriverCode.customer_number_id == card.customer_number_id,
                                                 DriverCode.code == full_code[4:])).first()
    if code is None or code.status is DriverCodeStatus.BLOCKED:
        return False
    if code.status is DriverCodeStatus.BLOCK_PENDING and code.block_effective_at is not None:
        return at < code.block_effective_at
    return True


# --- changes ----------------------------------------------------------------------------------------------

@atomic
def create_driver_code(session: Session, actor: Actor, now: datetime, customer_number_id: int,
                       division_id: int | None, code: str, driver_name: str) -> DriverCode:
    """A new active driver code: 4 digits unique within the customer number, the driver's name (≤ 25)."""
    actor.require(Right.DRIVER_CODES_CREATE)
    number = _customer_number(session, actor, customer_number_id)
    problems: list[tuple[str, str]] = []
    code = (code or "").strip()
    name = clean_name(driver_name)
    if problem := code_problem(code):
        problems.append(("code", problem))
    if problem := name_problem(name):
        problems.append(("driver_name", problem))
    if problems:
        raise DomainError(problems[0][1], field=problems[0][0], problems=[p for _, p in problems])
    division = _division(session, number, division_id)
    customer = _customer(session, number)
    taken = session.exec(select(DriverCode).where(DriverCode.customer_number_id == number.id,
                                                  DriverCode.code == code)).first()
    if taken is not None:
        raise DomainError(_taken(number, customer, code, taken.driver_name), field="code")
    driver_code = DriverCode(customer_number_id=number.id, division_id=division.id, code=code, driver_name=name,
                             status=DriverCodeStatus.ACTIVE, created_at=now)
    session.add(driver_code)
    try:
        session.flush()
    except IntegrityError:  # the same digits created at the same moment
        session.rollback()
        raise DomainError(_taken(number, customer, code, None), field="code") from None
    _record(session, actor, now, number, driver_code, "created",
            after={"code": customer.driver_code_prefix + code, "driver_name": name, "division": division.name,
                   "customer_number": number.number})
    return driver_code


def _taken(number: CustomerNumber, customer: Customer, code: str, holder: str | None) -> str:
    if holder:
        return _("Customer number {number} already has driver code {code} (driver {driver}): choose 4 other "
                 "digits.").format(number=number.number, code=customer.driver_code_prefix + code, driver=holder)
    return _("Customer number {number} already has driver code {code}: choose 4 other digits.").format(
        number=number.number, code=customer.driver_code_prefix + code)


@atomic
def modify_driver_code(session: Session, actor: Actor, now: datetime, code_id: int, *,
                       driver_name: str | None = None, division_id: int | None = None, code: str | None = None,
                       expected_version: int | None = None) -> DriverCode:
    """Change the driver's name and/or the fleet division (whatever the status). The 4 digits never change:
    passing another `code` is refused with the reason."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    [driver_code] = _codes_for_update(session, actor, [code_id])
    _check_version(session, driver_code, expected_version)
    number = session.get(CustomerNumber, driver_code.customer_number_id)
    if code is not None and code.strip() != driver_code.code:
        raise DomainError(_("The digits of a driver code cannot change once it is created: only the driver's name "
                            "and the fleet division can. To give a driver other digits, block this code and create a "
                            "new one."), field="code")
    before, after = {}, {}
    if driver_name is not None:
        name = clean_name(driver_name)
        if problem := name_problem(name):
            raise DomainError(problem, field="driver_name")
        if name != driver_code.driver_name:
            before["driver_name"], after["driver_name"] = driver_code.driver_name, name
            driver_code.driver_name = name
    if division_id is not None and division_id != driver_code.division_id:
        division = _division(session, number, division_id)
        old = session.get(FleetDivision, driver_code.division_id)
        before["division"], after["division"] = old.name if old else None, division.name
        driver_code.division_id = division.id
    if not after:
        return driver_code  # nothing changes
    driver_code.version += 1
    session.add(driver_code)
    _record(session, actor, now, number, driver_code, "modified", before=before, after=after)
    return driver_code


def _require_active(session: Session, codes: list[DriverCode]) -> None:
    not_active = [code for code in codes if code.status is not DriverCodeStatus.ACTIVE]
    if not_active:
        names = ", ".join(f"{code.driver_name} ({enum_label(code.status)})" for code in not_active[:5])
        if len(not_active) > 5:
            names = _("{names} and {count} more").format(names=names, count=len(not_active) - 5)
        raise DomainError(ngettext("Only active driver codes can be blocked; {names} is not active: leave it out of "
                                   "the selection.",
                                   "Only active driver codes can be blocked; {names} are not active: leave them out "
                                   "of the selection.", len(not_active)).format(names=names))


@atomic
def block_driver_codes(session: Session, actor: Actor, now: datetime, code_ids: Iterable[int]) -> BlockPlan:
    """Block the selected active codes: 5 or fewer at once are blocked now; more than 5 are block pending until
    the next morning 06:00 in the customer's time zone (`block_plan` tells which beforehand). No card is
    blocked."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    codes = _codes_for_update(session, actor, code_ids)
    _require_active(session, codes)
    plan = plan_block(len(codes), now, _zone_of(session, codes))
    numbers: dict[int, CustomerNumber] = {}
    for code in codes:
        number = numbers.setdefault(code.customer_number_id, session.get(CustomerNumber, code.customer_number_id))
        code.block_effective_at = plan.effective_at
        if plan.immediate:
            code.status, code.blocked_at = DriverCodeStatus.BLOCKED, now
        else:
            code.status = DriverCodeStatus.BLOCK_PENDING
        code.version += 1
        session.add(code)
        _record(session, actor, now, number, code, "blocked" if plan.immediate else "block requested",
                before={"status": DriverCodeStatus.ACTIVE},
                after={"status": code.status, "effective_at": plan.effective_at, "selected": len(codes)})
    return plan


@atomic
def unblock_driver_codes(session: Session, actor: Actor, now: datetime, code_ids: Iterable[int]) -> int:
    """Make blocked codes active again; a block pending is cancelled. Returns how many were unblocked."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    codes = _codes_for_update(session, actor, code_ids)
    active = [code for code in codes if code.status is DriverCodeStatus.ACTIVE]
    if active:
        names = ", ".join(code.driver_name for code in active[:5])
        raise DomainError(ngettext("Only blocked (or block pending) driver codes can be unblocked; {names} is "
                                   "active: leave it out of the selection.",
                                   "Only blocked (or block pending) driver codes can be unblocked; {names} are "
                                   "active: leave them out of the selection.", len(active)).format(names=names))
    for code in codes:
        number = session.get(CustomerNumber, code.customer_number_id)
        before = {"status": code.status, "blocked_at": code.blocked_at, "effective_at": code.block_effective_at}
        code.status, code.blocked_at, code.block_effective_at = DriverCodeStatus.ACTIVE, None, None
        code.version += 1
        session.add(code)
        _record(session, actor, now, number, code, "unblocked", before=before, after={"status": code.status})
    return len(codes)


@atomic
def reissue_driver_codes(session: Session, actor: Actor, now: datetime, code_ids: Iterable[int], card_number: str,
                         division_id: int | None) -> Request:
    """Ask the issuer to send the selected active codes again by post (Fiche 16): needs the number of the card
    they are used with and its fleet division. One request (kind DRIVER_CODE_REISSUE) for the whole selection."""
    actor.require(Right.DRIVER_CODES_MANAGE)
    codes = _codes_for_update(session, actor, code_ids)
    card_info = _reissue_card(session, actor, card_number)
    card = session.get(Card, card_info.card_id)
    if division_id is None:
        raise DomainError(_("Choose the fleet division of the card."), field="division")
    if division_id != card.division_id:
        division = session.get(FleetDivision, division_id)
        if division:
            message = _("Card {number} is in the fleet division {division}, not in {chosen}: check the card number "
                        "and the division.").format(number=card.number, division=card_info.division,
                                                    chosen=division.name)
        else:
            message = _("Card {number} is in the fleet division {division}, not in this one: check the card number "
                        "and the division.").format(number=card.number, division=card_info.division)
        raise DomainError(message, field="division")
    if card.code_type is not CodeType.DRIVER_CODE:
        raise DomainError(_("Card {number} is used with a PIN, not with driver codes: type the number of a card "
                            "with code type “driver code”.").format(number=card.number), field="card_number")
    others = [code for code in codes if code.customer_number_id != card.customer_number_id]
    if others:
        raise DomainError(_("Card {number} belongs to another customer number than {drivers}: reissue codes per "
                            "customer number.").format(number=card.number,
                                                       drivers=", ".join(code.driver_name for code in others[:5])),
                          field="card_number")
    not_active = [code for code in codes if code.status is not DriverCodeStatus.ACTIVE]
    if not_active:
        names = ", ".join(f"{c.driver_name} ({enum_label(c.status)})" for c in not_active[:5])
        raise DomainError(ngettext("Only active driver codes can be reissued; {names}: leave it out of the selection, "
                                   "or unblock first.",
                                   "Only active driver codes can be reissued; {names}: leave them out of the "
                                   "selection, or unblock first.", len(not_active)).format(names=names))
    open_request = session.exec(
        select(Request).where(Request.card_id == card.id, Request.kind == RequestKind.DRIVER_CODE_REISSUE,
                              Request.status.in_(list(OPEN_REQUEST_STATUSES)))).first()
    wanted = {code.id for code in codes}
    if open_request is not None and wanted <= set(open_request.details.get("driver_code_ids", [])):
        raise DomainError(_("These driver codes are already asked again with card {number} (request {request}): "
                            "follow it in My requests.").format(number=card.number, request=open_request.id))
    number = session.get(CustomerNumber, card.customer_number_id)
    request = Request(customer_number_id=number.id, card_id=card.id, kind=RequestKind.DRIVER_CODE_REISSUE,
                      details={"driver_code_ids": sorted(wanted), "drivers": [code.driver_name for code in codes],
                               "division": card_info.division, "card_number": card.number,
                               "note": "The driver codes are sent by post."},
                      created_by_id=actor.user_id, created_at=now)
    session.add(request)
    session.flush()
    for code in codes:
        _record(session, actor, now, number, code, "reissue requested",
                after={"request_id": request.id, "card": card_label(card)})
    return request


# --- the issuer's nightly run -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PendingBlocksResult:
    applied: int
    still_pending: int


@atomic
def apply_pending_blocks(session: Session, now: datetime) -> PendingBlocksResult:
    """Block every block-pending code whose effective moment has come (issuer side, from the nightly run).
    Idempotent: a second run at the same `now` finds nothing left to do."""
    due = list(session.exec(
        select(DriverCode).where(DriverCode.status == DriverCodeStatus.BLOCK_PENDING,
                                 DriverCode.block_effective_at <= now)
        .order_by(DriverCode.id).with_for_update()).all())
    for code in due:
        number = session.get(CustomerNumber, code.customer_number_id)
        code.status, code.blocked_at = DriverCodeStatus.BLOCKED, now
        code.version += 1
        session.add(code)
        _record(session, ISSUER, now, number, code, "blocked",
                before={"status": DriverCodeStatus.BLOCK_PENDING},
                after={"status": DriverCodeStatus.BLOCKED, "effective_at": code.blocked_at})
    pending = session.exec(select(func.count()).select_from(DriverCode)
                           .where(DriverCode.status == DriverCodeStatus.BLOCK_PENDING,
                                  DriverCode.block_effective_at > now)).one()
    return PendingBlocksResult(applied=len(due), still_pending=int(pending))

