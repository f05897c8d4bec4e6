"""Bulk actions on a selection of cards and OBUs (Fiche 06): block, cancel, PIN reissue, move to a division,
apply a limit/control template.

Each card goes through the same service a single-card action uses, in its OWN transaction: one refused or
failing card never stops the others, and nothing is half-applied on a card (the service rolls its card back).
`preview_bulk` tells per card what would happen (refused and why, immediate, or reproduction) without writing;
`apply_bulk` does it and returns a `CardActionResult` per card.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Iterator, Literal

from sqlmodel import Session, select

from ..i18n import _
from ..models import BlockReason, Card, FleetDivision, RequestKind, Right
from .atomic import atomic
from ..queries.card_filter import CardFilter, apply_card_filter, scoped_filter
from .card_specs import CardSpec, Controls, FieldProblem, InvalidSpec, LimitSpec, _check_controls, _check_limits
from .cards import (
    FINAL_CARD_STATUSES,
    CardAction,
    CardActionResult,
    ChangeEffect,
    _audit,
    _card_for_update,
    _open_requests,
    apply_change,
    block_card,
    cancel_card,
    card_label,
    preview_change,
    refusal,
    reissue_pins,
    spec_from_card,
    what,
)
from .context import Actor
from .errors import DomainError, NotFound, PermissionDenied
from .labels import enum_label, right_label

log = logging.getLogger(__name__)

Outcome = Literal["refused", "immediate", "reproduction"]
OUTCOMES: tuple[Outcome, ...] = ("immediate", "reproduction", "refused")


class BulkAction(str, enum.Enum):
    BLOCK = "block"
    CANCEL = "cancel"
    PIN_REISSUE = "pin reissue"
    MOVE_DIVISION = "move division"
    APPLY_TEMPLATE = "apply template"


@dataclass(frozen=True)
class BulkParams:
    """What the user chose once for the whole selection."""

    reason: BlockReason | None = None  # BLOCK
    duplicate: bool = False  # BLOCK: order a duplicate for each blocked card
    division_id: int | None = None  # MOVE_DIVISION
    # APPLY_TEMPLATE: each LimitSpec replaces the card's limit for its product (others are kept);
    # `controls`, when given, replaces the card's controls as a whole.
    limits: tuple[LimitSpec, ...] = ()
    controls: Controls | None = None


@dataclass(frozen=True)
class BulkPreview:
    card_id: int
    label: str
    outcome: Outcome
    message: str


# --- the selection ---------------------------------------------------------------------------------------

def resolve_selection(session: Session, actor: Actor, card_filter: CardFilter) -> list[int]:
    """The ids of every card/OBU that matches `card_filter` and that `actor` may act on, in id order.

    "Mark all that match" of the card list: the filter is scoped to the actor's customer numbers (a customer
    number not theirs raises PermissionDenied); the actor needs the right to manage cards.
    """
    actor.require(Right.CARD_MANAGE)
    scoped = scoped_filter(session, actor, card_filter)
    try:
        return list(session.exec(apply_card_filter(select(Card.id), scoped).order_by(Card.id)).all())
    finally:
        session.rollback()


# --- move to another fleet division ------------------------------------------------------------------

def _move_refusal(session: Session, card: Card, division_id: int | None) -> str | None:
    obu = card.product_type.is_obu
    if card.status in FINAL_CARD_STATUSES:
        message = (_("This OBU is {status}: it can no longer be moved to another division.") if obu else
                   _("This card is {status}: it can no longer be moved to another division."))
        return message.format(status=enum_label(card.status))
    division = session.get(FleetDivision, division_id) if division_id is not None else None
    if division is None:
        return _("This fleet division does not exist.")
    if division.customer_number_id != card.customer_number_id:
        message = (_("The division {division} belongs to another customer number: an OBU can only move to a "
                     "division of its own customer number.") if obu else
                   _("The division {division} belongs to another customer number: a card can only move to a "
                     "division of its own customer number."))
        return message.format(division=division.name)
    if division.id == card.division_id:
        message = (_("This OBU is already in the division {division}.") if obu else
                   _("This card is already in the division {division}."))
        return message.format(division=division.name)
    return None


@atomic
def move_to_division(session: Session, actor: Actor, now: datetime, card_id: int, division_id: int) -> Card:
    """Move a card or OBU to another fleet division of the same customer number; active at once."""
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    reason = _move_refusal(session, card, division_id)
    if reason:
        raise DomainError(reason)
    before = session.get(FleetDivision, card.division_id)
    after = session.get(FleetDivision, division_id)
    card.division_id = division_id
    card.version += 1
    session.add(card)
    _audit(session, actor, now, card, "moved to division",
           before={"division_id": before.id if before else None, "division": before.name if before else None},
           after={"division_id": after.id, "division": after.name})
    return card


# --- templates -----------------------------------------------------------------------------------------

def template_spec(current: CardSpec, params: BulkParams) -> CardSpec:
    """The card's spec with the template's limits and controls laid over it."""
    limits = {limit.product: limit for limit in current.limits}
    for limit in params.limits:
        limits[limit.product] = limit
    spec = replace(current, limits=tuple(limits.values()))
    if params.controls is not None:
        spec = replace(spec, controls=params.controls)
    return spec


def template_problems(params: BulkParams) -> list[FieldProblem]:
    """What is wrong with the template itself (the same checks as the card form), per field."""
    problems: list[FieldProblem] = []

    def add(field_path: str, message: str) -> None:
        problems.append(FieldProblem(field_path, message))

    if not params.limits and params.controls is None:
        add("template", _("The template sets no limit and no control: fill in a product's limit or tick "
                          "\"Replace the controls\"."))
    _check_limits(params.limits, add)
    if params.controls is not None:
        _check_controls(params.controls, add)
    return problems


# --- preview -------------------------------------------------------------------------------------------

def _check_params(action: BulkAction, params: BulkParams) -> None:
    if action is BulkAction.BLOCK and params.reason is None:
        raise DomainError(_("Choose the reason for blocking."))
    if action is BulkAction.MOVE_DIVISION and params.division_id is None:
        raise DomainError(_("Choose the fleet division to move the cards to."))
    if action is BulkAction.APPLY_TEMPLATE:
        problems = template_problems(params)
        if problems:
            raise InvalidSpec(problems)


def _preview_one(session: Session, actor: Actor, card_id: int, action: BulkAction,
                 params: BulkParams) -> BulkPreview:
    card = session.get(Card, card_id, populate_existing=True)
    if card is None:
        return BulkPreview(card_id, f"#{card_id}", "refused", _("This card or OBU does not exist."))
    label = card_label(card)
    if not actor.is_issuer and card.customer_number_id not in actor.customer_number_ids:
        return BulkPreview(card_id, label, "refused", _("You may not act for this card's customer number."))
    obu = card.product_type.is_obu
    if action is BulkAction.BLOCK:
        reason = refusal(card, CardAction.BLOCK)
        if reason:
            return BulkPreview(card_id, label, "refused", reason)
        if params.duplicate:
            text = _("Blocked for good ({reason}). A duplicate (new number, same settings) is ordered.")
        else:
            text = _("Blocked for good ({reason}).")
        return BulkPreview(card_id, label, "immediate", text.format(reason=enum_label(params.reason)))
    if action is BulkAction.CANCEL:
        reason = refusal(card, CardAction.CANCEL)
        if reason:
            return BulkPreview(card_id, label, "refused", reason)
        text = (_("Not renewed; stays active until {expiry:%d/%m/%Y}.").format(expiry=card.expiry_date)
                if card.expiry_date else _("Not renewed; stays active."))
        return BulkPreview(card_id, label, "immediate", text)
    if action is BulkAction.PIN_REISSUE:
        reason = refusal(card, CardAction.PIN_REISSUE)
        if not reason and _open_requests(session, card, [RequestKind.PIN_REISSUE]):
            reason = _("A new PIN is already requested for this card.")
        if reason:
            return BulkPreview(card_id, label, "refused", reason)
        return BulkPreview(card_id, label, "reproduction",
                           _("A new OBU (same number, next rank) with a PIN the issuer computes.") if obu else
                           _("A new card (same number, next rank) with a PIN the issuer computes."))
    if action is BulkAction.MOVE_DIVISION:
        reason = _move_refusal(session, card, params.division_id)
        if reason:
            return BulkPreview(card_id, label, "refused", reason)
        division = session.get(FleetDivision, params.division_id)
        return BulkPreview(card_id, label, "immediate",
                           _("Moved to the division {division}.").format(division=division.name))
    if action is BulkAction.APPLY_TEMPLATE:
        try:
            changes = preview_change(session, card_id, template_spec(spec_from_card(session, card_id), params))
        except DomainError as exc:
            return BulkPreview(card_id, label, "refused", " ".join(exc.problems))
        if not changes:
            return BulkPreview(card_id, label, "immediate",
                               _("Nothing changes: the card already has these settings."))
        fields = ", ".join(change.label for change in changes)
        if any(change.effect is ChangeEffect.REPRODUCTION for change in changes):
            text = _("A new OBU follows for: {fields}.") if obu else _("A new card follows for: {fields}.")
            return BulkPreview(card_id, label, "reproduction", text.format(fields=fields))
        return BulkPreview(card_id, label, "immediate", _("Changed at once: {fields}.").format(fields=fields))
    raise ValueError(action)


def iter_preview_bulk(session: Session, actor: Actor, card_ids: Iterable[int], action: BulkAction,
                      params: BulkParams | None = None) -> Iterator[BulkPreview]:
    """`preview_bulk` one card at a time: a caller may stop between cards (a big selection, a cancel key).

    The right and the parameters are checked before the first card is looked at.
    """
    params = params or BulkParams()
    action = BulkAction(action)
    actor.require(Right.CARD_MANAGE)
    _check_params(action, params)
    return _previews(session, actor, card_ids, action, params)


def _previews(session: Session, actor: Actor, card_ids: Iterable[int], action: BulkAction,
              params: BulkParams) -> Iterator[BulkPreview]:
    try:
        for card_id in card_ids:
            yield _preview_one(session, actor, card_id, action, params)
    finally:
        session.rollback()  # a read-only look: release whatever the reads began


def preview_bulk(session: Session, actor: Actor, card_ids: Iterable[int], action: BulkAction,
                 params: BulkParams | None = None) -> list[BulkPreview]:
    """What `apply_bulk` would do to each card, in the order given. Writes nothing."""
    return list(iter_preview_bulk(session, actor, card_ids, action, params))


# --- apply ---------------------------------------------------------------------------------------------

def _label(session: Session, card_id: int) -> str:
    card = session.get(Card, card_id, populate_existing=True)
    return card_label(card) if card is not None else f"#{card_id}"


def _apply_one(session: Session, actor: Actor, now: datetime, card_id: int, action: BulkAction,
               params: BulkParams) -> CardActionResult:
    label = _label(session, card_id)
    if action is BulkAction.BLOCK:
        result = block_card(session, actor, now, card_id, params.reason, params.duplicate)
        if result.duplicate_request is not None:
            return CardActionResult(card_id, True, _("Blocked; a duplicate is ordered (request {request}).").format(
                request=result.duplicate_request.id), label, result.duplicate_request.id)
        return CardActionResult(card_id, True, _("Blocked."), label)
    if action is BulkAction.CANCEL:
        cancel_card(session, actor, now, card_id)
        return CardActionResult(card_id, True, _("Cancelled: it will not be renewed."), label)
    if action is BulkAction.PIN_REISSUE:
        return reissue_pins(session, actor, now, [card_id])[0]
    if action is BulkAction.MOVE_DIVISION:
        move_to_division(session, actor, now, card_id, params.division_id)
        division = session.get(FleetDivision, params.division_id)
        return CardActionResult(card_id, True, _("Moved to the division {division}.").format(division=division.name),
                                label)
    if action is BulkAction.APPLY_TEMPLATE:
        card = session.get(Card, card_id, populate_existing=True)
        if card is None:
            raise NotFound(_("This card or OBU does not exist."))
        spec = template_spec(spec_from_card(session, card_id), params)
        result = apply_change(session, actor, now, card_id, spec, card.version)
        if not result.changes:
            return CardActionResult(card_id, True, _("Nothing changed: the card already had these settings."), label)
        if result.reproduction_request is not None:
            text = (_("Changed; a new OBU follows (request {request}).") if result.card.product_type.is_obu else
                    _("Changed; a new card follows (request {request})."))
            return CardActionResult(card_id, True, text.format(request=result.reproduction_request.id), label,
                                    result.reproduction_request.id)
        return CardActionResult(card_id, True, _("Changed at once."), label)
    raise ValueError(action)


def iter_apply_bulk(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int],
                    action: BulkAction, params: BulkParams | None = None) -> Iterator[CardActionResult]:
    """`apply_bulk` one card at a time, each card committed before its result is yielded.

    A caller that stops iterating (a cancel key) leaves the cards done so far done and the rest untouched.
    The right and the parameters are checked before the first card.
    """
    params = params or BulkParams()
    action = BulkAction(action)
    if not actor.has(Right.CARD_MANAGE):
        raise PermissionDenied(_("You need the right “{right}” for this. Ask an administrator to grant it.").format(
            right=right_label(Right.CARD_MANAGE)))
    _check_params(action, params)
    return _applications(session, actor, now, card_ids, action, params)


def _applications(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int], action: BulkAction,
                  params: BulkParams) -> Iterator[CardActionResult]:
    for card_id in card_ids:
        try:
            result = _apply_one(session, actor, now, card_id, action, params)
        except DomainError as exc:
            session.rollback()
            result = CardActionResult(card_id, False, " ".join(exc.problems), _label(session, card_id))
        except Exception:
            log.exception("Bulk %s failed on card %s", action.value, card_id)
            session.rollback()
            result = CardActionResult(card_id, False, _("This could not be done right now; nothing was changed on "
                                                        "this card."), _label(session, card_id))
        yield result


def apply_bulk(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int], action: BulkAction,
               params: BulkParams | None = None) -> list[CardActionResult]:
    """Do `action` on each card, each in its own transaction; a refused card is listed with its reason."""
    return list(iter_apply_bulk(session, actor, now, card_ids, action, params))
