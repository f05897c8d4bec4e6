"""Card renewal on the customer's side (Fiche 12): the renewal status list, cancel, renew, change the
configuration of the renewed card, and the renewal board.

The campaign itself is the issuer's batch (`store.issuer.renewals.run_renewals`). Both follow one timeline per
expiry month M (the month of the card's expiry date), in the customer's time zone:

    first day of M-3   notice: the card becomes Candidate for renewal, or Cancelled when it was not used in
                       the 3 months before; the fleet manager gets an e-mail and a letter listing both groups
    first day of M-2   reminder e-mail for the cards nobody has reviewed yet
    first day of M-1   the update window is closed (the last day to change anything is the day before):
                       Candidates go In renewal and a new plastic is made (same number, rank + 1, expiry 4 years
                       later, with the configuration the card has then)
    first day of M     activation: the new plastic is active, the old one expires (renewal status Renewed);
                       a Cancelled card stays active until its expiry date and then expires

Only Candidate and Cancelled cards can be edited, inside the update window. The card row always holds the
configuration of the card's next plastic (see store.services.cards), so a configuration change here is written
to the card at once without ordering a separate new plastic: the renewed plastic carries it. Limits and controls
that the terminal checks online work at once on the current plastic too.

A card counts as *reviewed* once a portal user acted on it since its notice (an audit event by a user), or when
the user had cancelled it themselves.
"""
from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from ..i18n import N_, _
from ..models import (
    AuditEvent,
    Card,
    CardStatus,
    Customer,
    CustomerNumber,
    FleetDivision,
    ProductType,
    RenewalStatus,
    Right,
)
from .atomic import atomic
from .auth import local_date
from .card_specs import CardSpec
from .card_history import record_card_versions
from .cards import (
    CardActionResult,
    FieldChange,
    _audit,
    _card_for_update,
    _changes,
    _check_immutable,
    _check_version,
    _checked,
    _write_limits,
    _write_pin,
    _write_settings,
    card_label,
    spec_from_card,
)
from .context import Actor
from .errors import DomainError, NotFound
from .labels import enum_label

CAMPAIGN_STATUSES = (RenewalStatus.CANDIDATE, RenewalStatus.CANCELLED, RenewalStatus.IN_RENEWAL)
EDITABLE_STATUSES = (RenewalStatus.CANDIDATE, RenewalStatus.CANCELLED)
UNUSED_MONTHS = 3  # Fiche 12: a card not used in the last 3 months is not renewed unless the user acts
BOARD_MONTHS = 12
# What a renewal configuration change may touch: the tabs of the renewal screen (fuel/energy, car wash,
# services, limits, controls). Name, plate, PIN, division … are changed in Manage cards and OBUs.
CONFIGURATION_PREFIXES = ("limits.", "controls.")


# --- the timeline -----------------------------------------------------------------------------------

def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after (or before) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Timeline:
    """The dates that matter for the cards expiring in one month."""

    month: date  # the first day of the expiry month M
    notice: date  # M-3: notice, Candidate or Cancelled
    reminder: date  # M-2: reminder e-mail
    update_until: date  # the last day a change counts (the day before M-1)
    production: date  # M-1: the new plastics are made
    activation: date  # M: the new plastic is active

    @property
    def unused_since(self) -> date:
        """A card whose last use is before this day is Cancelled at the notice."""
        return months_before(self.notice, UNUSED_MONTHS)


def timeline(expiry: date) -> Timeline:
    month = month_start(expiry)
    production = add_months(month, -1)
    return Timeline(month=month, notice=add_months(month, -3), reminder=add_months(month, -2),
                    update_until=production - timedelta(days=1), production=production, activation=month)


def campaign_started(expiry: date | None, today: date) -> bool:
    return expiry is not None and today >= timeline(expiry).notice


def window_open(expiry: date, today: date) -> bool:
    """Whether the update window of this expiry month is open today (notice .. the day before production)."""
    line = timeline(expiry)
    return line.notice <= today < line.production


def campaign_limit(today: date) -> date:
    """Cards expiring before this day are in a campaign that has started (their notice day has come)."""
    return add_months(today, 4)


def local_midnight(customer: Customer, day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(customer.timezone)).astimezone(timezone.utc)


def _customer_of_number(session: Session, customer_number_id: int) -> Customer:
    number = session.get(CustomerNumber, customer_number_id)
    if number is None:
        raise NotFound(_("This customer number does not exist."))
    return session.get(Customer, number.customer_id)


def reviewed_card_ids(session: Session, customer: Customer, cards: Iterable[Card]) -> set[int]:
    """The cards a portal user acted on since their notice, or that the user cancelled themselves."""
    cards = list(cards)
    reviewed = {card.id for card in cards if card.cancelled_by_user}
    starts = {card.id: local_midnight(customer, timeline(card.expiry_date).notice)
              for card in cards if card.expiry_date is not None and card.id not in reviewed}
    if not starts:
        return reviewed
    earliest = min(starts.values())
    ids = [str(card_id) for card_id in starts]
    for offset in range(0, len(ids), 500):
        rows = session.exec(
            select(AuditEvent.object_id, func.max(AuditEvent.occurred_at))
            .where(AuditEvent.object_type == "card", AuditEvent.object_id.in_(ids[offset:offset + 500]),
                   AuditEvent.actor_user_id.is_not(None), AuditEvent.occurred_at >= earliest)
            .group_by(AuditEvent.object_id)
        ).all()
        for object_id, last in rows:
            if last.tzinfo is None:
                last = last.replace(tzinfo=timezone.utc)
            if last >= starts[int(object_id)]:
                reviewed.add(int(object_id))
    return reviewed


def cancelled_reason(card: Card, customer: Customer) -> str:
    """One line: why a card will not be renewed."""
    if card.renewal_status is not RenewalStatus.CANCELLED:
        return ""
    if card.cancelled_by_user:
        return _("Cancelled by your company: not renewed; it stays active until its expiry date.")
    if card.last_used_at is None:
        return _("Never used: not renewed unless you choose Renew.")
    last = card.last_used_at.astimezone(ZoneInfo(customer.timezone)).date()
    return _("Not used since {last:%d/%m/%Y}: not renewed unless you choose Renew.").format(last=last)


# --- the status list ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenewalCard:
    card_id: int
    number: str
    rank: int
    license_plate: str | None
    embossed_name: str | None
    driver_name: str | None
    division: str
    expiry_date: date
    renewal_status: RenewalStatus
    reason: str  # why it is Cancelled; "" otherwise
    reviewed: bool
    editable: bool
    version: int


@dataclass(frozen=True)
class RenewalMonth:
    timeline: Timeline
    cards: list[RenewalCard]


def _campaign_cards(session: Session, customer_number_id: int, today: date) -> list[Card]:
    return list(session.exec(
        select(Card).where(Card.customer_number_id == customer_number_id,
                           Card.product_type == ProductType.FLEET_CARD, Card.status == CardStatus.ACTIVE,
                           Card.renewal_status.in_(list(CAMPAIGN_STATUSES)),
                           Card.expiry_date < campaign_limit(today))
        .order_by(Card.expiry_date, Card.number, Card.id)
    ).all())


def renewal_status_list(session: Session, actor: Actor, now: datetime, customer_number_id: int) -> list[RenewalMonth]:
    """*My cards and OBUs -> Renewal status*: the cards of the campaign, grouped by expiry month."""
    actor.require(Right.CARD_RENEWAL)
    actor.require_customer_number(customer_number_id)
    customer = _customer_of_number(session, customer_number_id)
    today = local_date(customer, now)
    cards = _campaign_cards(session, customer_number_id, today)
    reviewed = reviewed_card_ids(session, customer, cards)
    divisions = dict(session.exec(select(FleetDivision.id, FleetDivision.name)
                                  .where(FleetDivision.customer_number_id == customer_number_id)).all())
    months: dict[date, list[RenewalCard]] = defaultdict(list)
    for card in cards:
        line = timeline(card.expiry_date)
        editable = card.renewal_status in EDITABLE_STATUSES and today < line.production
        months[line.month].append(RenewalCard(
            card.id, card.number or "", card.rank, card.license_plate, card.embossed_name, card.driver_name,
            divisions.get(card.division_id, ""), card.expiry_date, card.renewal_status,
            cancelled_reason(card, customer), card.id in reviewed, editable, card.version))
    return [RenewalMonth(timeline(month), rows) for month, rows in sorted(months.items())]


# --- cancel, renew, change configuration --------------------------------------------------------------

def renewal_refusal(card: Card, today: date, action: str) -> str | None:
    """Why `action` ("cancel", "renew", "configure") is not possible on `card` today, or None."""
    if card.product_type.is_obu:
        return _("OBUs are not part of the renewal campaign.")
    if card.status is not CardStatus.ACTIVE:
        return _("Only an active card takes part in the renewal; this one is {status}.").format(
            status=enum_label(card.status))
    if card.renewal_status not in EDITABLE_STATUSES or not campaign_started(card.expiry_date, today):
        if card.renewal_status is RenewalStatus.IN_RENEWAL:
            return _("Only cards that are Candidate for renewal or Cancelled can be changed here; this card is "
                     "already in renewal: the new card is being made.")
        if card.renewal_status is RenewalStatus.RENEWED:
            return _("Only cards that are Candidate for renewal or Cancelled can be changed here; this card is "
                     "already renewed.")
        return _("Only cards that are Candidate for renewal or Cancelled can be changed here; this card is not in "
                 "a renewal campaign yet.")
    line = timeline(card.expiry_date)
    if today >= line.production:
        return _("The update window for the cards expiring in {month:%m/%Y} closed on {until:%d/%m/%Y}: nothing "
                 "can be changed any more.").format(month=line.month, until=line.update_until)
    if action == "cancel" and card.renewal_status is not RenewalStatus.CANDIDATE:
        return _("This card is already Cancelled: it will not be renewed. Choose Renew to renew it after all.")
    if action == "renew" and card.renewal_status is not RenewalStatus.CANCELLED:
        return _("This card is already Candidate for renewal: it will be renewed without any action.")
    return None


def _require(card: Card, today: date, action: str) -> None:
    reason = renewal_refusal(card, today, action)
    if reason:
        raise DomainError(reason)


def _today(session: Session, card: Card, now: datetime) -> date:
    return local_date(_customer_of_number(session, card.customer_number_id), now)


@atomic
def cancel_renewal(session: Session, actor: Actor, now: datetime, card_id: int) -> Card:
    """Fiche 12: a Candidate will not be renewed; it stays active until its expiry date."""
    actor.require(Right.CARD_RENEWAL)
    card = _card_for_update(session, actor, card_id)
    _require(card, _today(session, card, now), "cancel")
    before = {"renewal_status": card.renewal_status, "cancelled_by_user": card.cancelled_by_user}
    card.renewal_status, card.cancelled_by_user = RenewalStatus.CANCELLED, True
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "renewal cancelled", before=before,
           after={"renewal_status": card.renewal_status, "cancelled_by_user": True})
    return card


@atomic
def restore_renewal(session: Session, actor: Actor, now: datetime, card_id: int) -> Card:
    """Fiche 12 "Renew": a Cancelled card goes back to Candidate for renewal."""
    actor.require(Right.CARD_RENEWAL)
    card = _card_for_update(session, actor, card_id)
    _require(card, _today(session, card, now), "renew")
    before = {"renewal_status": card.renewal_status, "cancelled_by_user": card.cancelled_by_user}
    card.renewal_status, card.cancelled_by_user = RenewalStatus.CANDIDATE, False
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "renewal restored", before=before,
           after={"renewal_status": card.renewal_status, "cancelled_by_user": False})
    return card


def _configuration_changes(session: Session, card: Card, spec: CardSpec) -> tuple[CardSpec, list[FieldChange]]:
    _check_immutable(card, spec)
    spec = _checked(session, spec, card)
    changes = _changes(session, card, spec)
    other = [c.label for c in changes if not c.field.startswith(CONFIGURATION_PREFIXES)]
    if other:
        raise DomainError(_("The renewal only changes fuel/energy, car wash, services, limits and controls; change "
                            "{fields} in Manage cards and OBUs.").format(fields=", ".join(other)))
    return spec, changes


def preview_renewal_configuration(session: Session, actor: Actor, now: datetime, card_id: int,
                                  spec: CardSpec) -> list[FieldChange]:
    """What `change_renewal_configuration` would change, field by field, without writing."""
    actor.require(Right.CARD_RENEWAL)
    card = session.get(Card, card_id)
    if card is None:
        raise NotFound(_("This card does not exist."))
    actor.require_customer_number(card.customer_number_id)
    _require(card, _today(session, card, now), "configure")
    return _configuration_changes(session, card, spec)[1]


@atomic
def change_renewal_configuration(session: Session, actor: Actor, now: datetime, card_id: int, spec: CardSpec,
                                 expected_version: int) -> list[FieldChange]:
    """Change the fuel/energy, car wash, services, limits and controls the renewed card will carry.

    No separate new plastic is ordered: the renewal's new plastic carries the change. `expected_version` is the
    card's version when the form was loaded (a second writer gets "changed by X meanwhile").
    """
    actor.require(Right.CARD_RENEWAL)
    card = _card_for_update(session, actor, card_id)
    _require(card, _today(session, card, now), "configure")
    _check_version(session, card, expected_version)
    spec, changes = _configuration_changes(session, card, spec)
    if not changes:
        return []
    _write_settings(card, spec)
    _write_pin(card, spec)
    _write_limits(session, card, spec)
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "renewal configuration changed",
           before={c.field: c.before for c in changes},
           after={**{c.field: c.after for c in changes}, "applies_to": "the renewed card"})
    return changes


# --- on a selection ------------------------------------------------------------------------------------

def _each(session: Session, actor: Actor, card_ids: Iterable[int], do, done: str) -> list[CardActionResult]:
    """One transaction per card: a refused card never stops the others."""
    results = []
    for card_id in card_ids:
        card = session.get(Card, card_id)
        label = card_label(card) if card is not None else f"#{card_id}"
        try:
            do(card_id)
        except DomainError as error:
            results.append(CardActionResult(card_id, False, error.message, label))
        else:
            results.append(CardActionResult(card_id, True, done, label))
    return results


def cancel_renewals(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int]) -> list[CardActionResult]:
    """Cancel the renewal of each card of a selection; every refused card is listed with its reason."""
    actor.require(Right.CARD_RENEWAL)
    return _each(session, actor, card_ids, lambda card_id: cancel_renewal(session, actor, now, card_id),
                 _("Cancelled: it will not be renewed."))


def restore_renewals(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int]) -> list[CardActionResult]:
    """Renew each Cancelled card of a selection after all."""
    actor.require(Right.CARD_RENEWAL)
    return _each(session, actor, card_ids, lambda card_id: restore_renewal(session, actor, now, card_id),
                 _("Candidate for renewal again."))


def change_renewal_configurations(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int],
                                  limits=(), controls=None) -> list[CardActionResult]:
    """Lay the same limits (per product, the others kept) and optionally controls over each card's renewal.

    `limits` is a sequence of LimitSpec; `controls` a Controls that replaces the card's controls as a whole.
    """
    actor.require(Right.CARD_RENEWAL)
    if not limits and controls is None:
        raise DomainError(_("Fill in a product's limit or the controls to apply to the selected cards."))

    def one(card_id: int) -> None:
        current = spec_from_card(session, card_id)
        wanted = {limit.product: limit for limit in current.limits}
        wanted.update({limit.product: limit for limit in limits})
        spec = replace(current, limits=tuple(wanted.values()),
                       controls=controls if controls is not None else current.controls)
        card = session.get(Card, card_id, populate_existing=True)
        change_renewal_configuration(session, actor, now, card_id, spec, card.version)

    return _each(session, actor, card_ids, one, _("Configuration changed: the renewed card carries it."))


# --- the renewal board --------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardMonth:
    timeline: Timeline
    expiring: int  # active fleet cards whose expiry date is in the month
    candidate: int
    cancelled: int
    in_renewal: int
    not_reviewed: int | None  # None before the notice: nothing to review yet
    started: bool  # the notice day has come


def renewal_board(session: Session, actor: Actor, now: datetime, customer_number_id: int) -> list[BoardMonth]:
    """The next 12 months from this one: how many cards expire, per renewal status, and how many nobody
    reviewed yet, so a fleet manager can plan before the letters arrive."""
    actor.require(Right.CARD_RENEWAL)
    actor.require_customer_number(customer_number_id)
    customer = _customer_of_number(session, customer_number_id)
    today = local_date(customer, now)
    first, end = month_start(today), add_months(today, BOARD_MONTHS)
    counts: dict[date, dict[RenewalStatus, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.exec(
        select(Card.expiry_date, Card.renewal_status, func.count())
        .where(Card.customer_number_id == customer_number_id, Card.product_type == ProductType.FLEET_CARD,
               Card.status == CardStatus.ACTIVE, Card.expiry_date >= first, Card.expiry_date < end)
        .group_by(Card.expiry_date, Card.renewal_status)
    ).all()
    for expiry, status, count in rows:
        counts[month_start(expiry)][status] += count
    to_review = [card for card in _campaign_cards(session, customer_number_id, today)
                 if card.renewal_status in EDITABLE_STATUSES]
    reviewed = reviewed_card_ids(session, customer, to_review)
    open_by_month: dict[date, int] = defaultdict(int)
    for card in to_review:
        if card.id not in reviewed:
            open_by_month[month_start(card.expiry_date)] += 1
    board = []
    for index in range(BOARD_MONTHS):
        start = add_months(first, index)
        line, per = timeline(start), counts.get(start, {})
        started = today >= line.notice
        board.append(BoardMonth(line, sum(per.values()), per.get(RenewalStatus.CANDIDATE, 0),
                                per.get(RenewalStatus.CANCELLED, 0), per.get(RenewalStatus.IN_RENEWAL, 0),
                                open_by_month.get(start, 0) if started and today < line.production else None,
                                started))
    return board


# Marked only: translated where the board is written (exports/renewal_xlsx.py).
BOARD_HEADERS = (N_("Month"), N_("Expiring"), N_("Candidate for renewal"), N_("Cancelled"), N_("In renewal"),
                 N_("Not yet reviewed"), N_("Notice"), N_("Reminder"), N_("End of update"), N_("Activation"))


def board_rows(board: list[BoardMonth]) -> Iterable[list]:
    """The board as plain rows for an export (dates as dates, counts as numbers)."""
    for month in board:
        line = month.timeline
        yield [f"{line.month:%m/%Y}", month.expiring, month.candidate, month.cancelled, month.in_renewal,
               month.not_reviewed, line.notice, line.reminder, line.update_until, line.activation]
