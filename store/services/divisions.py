"""My account -> Manage fleet divisions (Fiche 02; issue 5): list, create, rename, delete, move cards and
driver codes.

A fleet division groups cards and driver codes inside ONE customer number. Its name is trimmed, at most
`NAME_MAX` characters and unique within the customer number (case does not make a name different). A division
is deleted only when no card (of any status: a blocked card keeps its division for its history) and no driver
code refers to it, and never the last division of a customer number (a card cannot be created without one).

Create, rename, delete and the driver-code move are each one transaction (`atomic`) with an audit event.
Cards move through `store.services.bulk.move_to_division`, one card per transaction like every bulk action,
so one refused card never stops the others; that service needs the right to manage cards as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..i18n import N_, _, ngettext
from ..models import AuditEvent, Card, CustomerNumber, DriverCode, FleetDivision, Right
from . import audit
from .atomic import atomic
from .bulk import move_to_division
from .cards import FINAL_CARD_STATUSES, CardActionResult, card_label
from .context import Actor
from .errors import DomainError, NotFound, PermissionDenied, StaleObject
from .labels import right_label

NAME_MAX: int = FleetDivision.__table__.c.name.type.length  # the model's limit (60)


@dataclass(frozen=True)
class DivisionRow:
    """One line of the division list."""

    id: int
    name: str
    version: int
    cards: int  # every card/OBU in the division, whatever its status
    movable_cards: int  # those not blocked, deleted or expired (the others cannot change division)
    driver_codes: int


@dataclass(frozen=True)
class MoveResult:
    """What `move_cards` / `move_driver_codes` did."""

    moved: int
    results: tuple[CardActionResult, ...] = ()  # per card (cards only); refused ones with their reason
    staying: int = 0  # cards left behind because they are blocked, deleted or expired

    @property
    def refused(self) -> tuple[CardActionResult, ...]:
        return tuple(result for result in self.results if not result.ok)


# --- reading ---------------------------------------------------------------------------------------------

def _customer_number(session: Session, actor: Actor, customer_number_id: int) -> CustomerNumber:
    actor.require_customer_number(customer_number_id)
    number = session.get(CustomerNumber, customer_number_id)
    if number is None:
        raise NotFound(_("This customer number does not exist."))
    return number


def list_divisions(session: Session, actor: Actor, customer_number_id: int) -> list[DivisionRow]:
    """The fleet divisions of a customer number by name, with how many cards and driver codes each holds."""
    actor.require(Right.DIVISIONS)
    _customer_number(session, actor, customer_number_id)
    cards = (select(Card.division_id, func.count().label("n")).group_by(Card.division_id).subquery())
    movable = (select(Card.division_id, func.count().label("n"))
               .where(Card.status.not_in(FINAL_CARD_STATUSES)).group_by(Card.division_id).subquery())
    codes = (select(DriverCode.division_id, func.count().label("n")).group_by(DriverCode.division_id).subquery())
    query = (
        select(FleetDivision.id, FleetDivision.name, FleetDivision.version,
               func.coalesce(cards.c.n, 0), func.coalesce(movable.c.n, 0), func.coalesce(codes.c.n, 0))
        .outerjoin(cards, cards.c.division_id == FleetDivision.id)
        .outerjoin(movable, movable.c.division_id == FleetDivision.id)
        .outerjoin(codes, codes.c.division_id == FleetDivision.id)
        .where(FleetDivision.customer_number_id == customer_number_id)
        .order_by(func.lower(FleetDivision.name), FleetDivision.id)
    )
    try:
        return [DivisionRow(int(i), name, int(version), int(n_cards), int(n_movable), int(n_codes))
                for i, name, version, n_cards, n_movable, n_codes in session.exec(query).all()]
    finally:
        session.rollback()  # a read-only look: release whatever the reads began


# --- rules -----------------------------------------------------------------------------------------------

NAME_TAKEN = N_("Customer number {number} already has a fleet division named “{name}”: choose another name.")


def clean_name(name: str | None) -> str:
    """The name as it is stored: trimmed, inner runs of spaces made one."""
    return " ".join((name or "").split())


def name_problem(name: str) -> str | None:
    if not name:
        return _("Type a name for the fleet division.")
    if len(name) > NAME_MAX:
        return _("A fleet division's name has at most {maximum} characters (this one has {count}): shorten "
                 "it.").format(maximum=NAME_MAX, count=len(name))
    return None


def _check_name(session: Session, number: CustomerNumber, name: str, except_id: int | None = None) -> None:
    problem = name_problem(name)
    if problem:
        raise DomainError(problem, field="name")
    query = select(FleetDivision.id).where(FleetDivision.customer_number_id == number.id,
                                           func.lower(FleetDivision.name) == name.lower())
    if except_id is not None:
        query = query.where(FleetDivision.id != except_id)
    if session.exec(query).first() is not None:
        raise DomainError(_(NAME_TAKEN).format(number=number.number, name=name), field="name")


def _flush(session: Session, number: CustomerNumber, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:  # someone created the same name at the same moment
        session.rollback()
        raise DomainError(_(NAME_TAKEN).format(number=number.number, name=name), field="name") from None


def _division_for_update(session: Session, actor: Actor, division_id: int) -> FleetDivision:
    division = session.get(FleetDivision, division_id, populate_existing=True, with_for_update=True)
    if division is None:
        raise NotFound(_("This fleet division does not exist (any more): refresh the list."))
    actor.require_customer_number(division.customer_number_id)
    return division


def _check_version(session: Session, division: FleetDivision, expected_version: int | None) -> None:
    if expected_version is None or division.version == expected_version:
        return
    last = session.exec(
        select(AuditEvent).where(AuditEvent.object_type == "fleet_division",
                                 AuditEvent.object_id == str(division.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    if last:
        raise StaleObject(_("The fleet division {division} was changed by {actor} meanwhile: look at it again and "
                            "retry.").format(division=division.name, actor=last.actor_label))
    raise StaleObject(_("The fleet division {division} was changed meanwhile: look at it again and retry.").format(
        division=division.name))


def _record(session: Session, actor: Actor, now: datetime, number: CustomerNumber, division_id: int,
            action: str, before: dict | None = None, after: dict | None = None) -> None:
    audit.record(session, actor, now, "fleet_division", division_id, action, before=before, after=after,
                 customer_id=number.customer_id)


# --- changes ---------------------------------------------------------------------------------------------

@atomic
def create_division(session: Session, actor: Actor, now: datetime, customer_number_id: int,
                    name: str) -> FleetDivision:
    """A new, empty fleet division in `customer_number_id`."""
    actor.require(Right.DIVISIONS)
    number = _customer_number(session, actor, customer_number_id)
    name = clean_name(name)
    _check_name(session, number, name)
    division = FleetDivision(customer_number_id=number.id, name=name)
    session.add(division)
    _flush(session, number, name)
    _record(session, actor, now, number, division.id, "created",
            after={"name": name, "customer_number": number.number})
    return division


@atomic
def rename_division(session: Session, actor: Actor, now: datetime, division_id: int, name: str,
                    expected_version: int | None = None) -> FleetDivision:
    """Give a division another name; its cards and driver codes stay in it."""
    actor.require(Right.DIVISIONS)
    division = _division_for_update(session, actor, division_id)
    _check_version(session, division, expected_version)
    number = session.get(CustomerNumber, division.customer_number_id)
    name = clean_name(name)
    if name == division.name:
        return division  # nothing changes
    _check_name(session, number, name, except_id=division.id)
    before = division.name
    division.name = name
    division.version += 1
    session.add(division)
    _flush(session, number, name)
    _record(session, actor, now, number, division.id, "renamed", before={"name": before}, after={"name": name})
    return division


def _count(session: Session, model, division_id: int, *where) -> int:
    return int(session.exec(select(func.count()).select_from(model)
                            .where(model.division_id == division_id, *where)).one())


@atomic
def delete_division(session: Session, actor: Actor, now: datetime, division_id: int,
                    expected_version: int | None = None) -> None:
    """Delete an empty division: no card (of any status) and no driver code, and not the customer number's
    last one."""
    actor.require(Right.DIVISIONS)
    division = _division_for_update(session, actor, division_id)
    _check_version(session, division, expected_version)
    number = session.get(CustomerNumber, division.customer_number_id)
    cards = _count(session, Card, division.id)
    codes = _count(session, DriverCode, division.id)
    if cards or codes:
        card_text = ngettext("{count} card/OBU", "{count} cards/OBUs", cards).format(count=cards)
        code_text = ngettext("{count} driver code", "{count} driver codes", codes).format(count=codes)
        if cards and codes:
            held = _("{cards} and {codes}").format(cards=card_text, codes=code_text)
        else:
            held = card_text if cards else code_text
        message = _("The fleet division {division} still holds {held}: move them to another division first, then "
                    "delete it.").format(division=division.name, held=held)
        final = _count(session, Card, division.id, Card.status.in_(FINAL_CARD_STATUSES))
        if final:
            message += " " + ngettext(
                "{count} of the cards is blocked, deleted or expired and cannot move: they keep this division for "
                "their history, so it cannot be deleted.",
                "{count} of the cards are blocked, deleted or expired and cannot move: they keep this division for "
                "their history, so it cannot be deleted.", final).format(count=final)
        raise DomainError(message)
    others = session.exec(select(func.count()).select_from(FleetDivision).where(
        FleetDivision.customer_number_id == division.customer_number_id, FleetDivision.id != division.id)).one()
    if not others:
        raise DomainError(_("{division} is the only fleet division of customer number {number}: every card needs "
                            "one. Create another division first if you want to replace it.").format(
                                division=division.name, number=number.number))
    _record(session, actor, now, number, division.id, "deleted", before={"name": division.name})
    session.delete(division)


def _target(session: Session, actor: Actor, source: FleetDivision, target_id: int) -> FleetDivision:
    target = session.get(FleetDivision, target_id, populate_existing=True)
    if target is None:
        raise NotFound(_("The fleet division to move to does not exist (any more): refresh the list."))
    actor.require_customer_number(target.customer_number_id)
    if target.customer_number_id != source.customer_number_id:
        raise DomainError(_("The division {division} belongs to another customer number: cards and driver codes "
                            "only move between divisions of the same customer number.").format(division=target.name))
    if target.id == source.id:
        raise DomainError(_("Choose another division than the one they are in."))
    return target


def move_cards(session: Session, actor: Actor, now: datetime, division_id: int, target_id: int,
               card_ids: Iterable[int] | None = None) -> MoveResult:
    """Move cards/OBUs of `division_id` (the given ones, or every one that can move) to `target_id`.

    Each card goes through `bulk.move_to_division` in its own transaction; a refused card is listed with its
    reason and does not stop the others. Blocked, deleted and expired cards cannot move.
    """
    actor.require(Right.DIVISIONS)
    if not actor.has(Right.CARD_MANAGE):
        raise PermissionDenied(_("Moving cards needs the right “{right}” as well. Ask an administrator to grant "
                                 "it.").format(right=right_label(Right.CARD_MANAGE)))
    try:
        source = session.get(FleetDivision, division_id, populate_existing=True)
        if source is None:
            raise NotFound(_("This fleet division does not exist (any more): refresh the list."))
        actor.require_customer_number(source.customer_number_id)
        target = _target(session, actor, source, target_id)
        target_id = target.id
        staying = 0
        if card_ids is None:
            card_ids = list(session.exec(select(Card.id).where(
                Card.division_id == source.id, Card.status.not_in(FINAL_CARD_STATUSES)).order_by(Card.id)).all())
            staying = _count(session, Card, source.id, Card.status.in_(FINAL_CARD_STATUSES))
        else:
            card_ids = list(card_ids)
    finally:
        session.rollback()
    results: list[CardActionResult] = []
    for card_id in card_ids:
        card = session.get(Card, card_id, populate_existing=True)
        label = card_label(card) if card is not None else f"#{card_id}"
        if card is not None and card.division_id != division_id:
            session.rollback()
            results.append(CardActionResult(card_id, False,
                                            _("This card or OBU is not in this division (any more)."), label))
            continue
        try:
            move_to_division(session, actor, now, card_id, target_id)
        except DomainError as exc:
            results.append(CardActionResult(card_id, False, " ".join(exc.problems), label))
        else:
            results.append(CardActionResult(card_id, True, _("Moved."), label))
    return MoveResult(moved=sum(1 for r in results if r.ok), results=tuple(results), staying=staying)


@atomic
def move_driver_codes(session: Session, actor: Actor, now: datetime, division_id: int, target_id: int,
                      code_ids: Iterable[int] | None = None) -> MoveResult:
    """Move driver codes of `division_id` (the given ones, or all) to `target_id`, in one transaction.

    A driver code's division may change whatever its status (Fiche 16: name and division stay editable).
    Moving them is managing driver codes too: both rights are needed, as moving cards needs both.
    """
    actor.require(Right.DIVISIONS)
    actor.require(Right.DRIVER_CODES_MANAGE)
    source = _division_for_update(session, actor, division_id)
    target = _target(session, actor, source, target_id)
    query = select(DriverCode).where(DriverCode.division_id == source.id)
    if code_ids is not None:
        wanted = set(code_ids)
        query = query.where(DriverCode.id.in_(sorted(wanted)))
    codes = list(session.exec(query.order_by(DriverCode.id).with_for_update()).all())
    if code_ids is not None and len(codes) != len(wanted):
        missing = len(wanted) - len(codes)
        raise DomainError(ngettext(
            "{count} of the chosen driver codes is not in the division {division} (any more): refresh the list and "
            "choose again.",
            "{count} of the chosen driver codes are not in the division {division} (any more): refresh the list and "
            "choose again.", missing).format(count=missing, division=source.name))
    number = session.get(CustomerNumber, source.customer_number_id)
    for code in codes:
        code.division_id = target.id
        code.version += 1
        session.add(code)
        audit.record(session, actor, now, "driver_code", code.id, "moved to division",
                     before={"division_id": source.id, "division": source.name},
                     after={"division_id": target.id, "division": target.name}, customer_id=number.customer_id)
    return MoveResult(moved=len(codes))
