"""The issuer's renewal campaign (Fiche 12): `cardsonline issuer renewals`, also part of the nightly run.

For each active fleet card whose expiry date falls in month M (the timeline is in store.services.renewals):

    M-3  the card becomes Candidate for renewal, or Cancelled when it was not used in the 3 months before
         (a card the user cancelled stays Cancelled); one notice per customer number and month, by e-mail to
         the users who want renewal notices and as a letter to the fleet manager, lists both groups
    M-2  a reminder e-mail lists the cards nobody has reviewed yet
    M-1  Candidates go In renewal: a new plastic with the same number, rank + 1 and an expiry 4 years later,
         with the configuration the card has then (kept in a RENEWAL request)
    M    the new plastic is active, the old one expires (Renewed)
    after its expiry date a Cancelled card expires

OBUs are not part of the campaign. Every step depends only on the date and on what the card already is, and
a notice goes out with the run that brings a month's cards into the campaign; reminders leave an audit event
per customer number and month. So a second run at the same `now` changes nothing, and a run after days without
one catches up.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Union

from sqlmodel import Session, select

from ..i18n import N_, _, use_language
from ..models import (
    Address,
    AddressKind,
    AuditEvent,
    Card,
    CardStatus,
    Channel,
    Customer,
    CustomerNumber,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    Plastic,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    User,
    UserCustomerNumber,
    UserStatus,
)
from ..services import audit
from ..services.atomic import atomic
from ..services.audit import _jsonable
from ..services.auth import local_date
from ..services.card_history import record_card_versions
from ..services.cards import _flat, card_label
from ..services.cards import spec_from_card
from ..services.context import ISSUER
from ..services.notifications import wants_email
from ..services.outbox import queue_email
from ..services.renewals import (
    Timeline,
    campaign_limit,
    local_midnight,
    reviewed_card_ids,
    timeline,
)
from .numbering import add_years
from .production import VALIDITY_YEARS

CAMPAIGN_OBJECT = "renewal campaign"  # audit object of the notices and reminders: "<customer number id>:<YYYY-MM>"

# The notice (e-mail and letter) and the reminder, in English (the source); translated into each
# recipient's language when composed.
_NOTICE = (
    N_("Your fleet cards expiring in {month} will be renewed"),
    N_("Hello {name},\n\n{total} fleet cards of customer number {number} expire in {month}.\n\n"
       "Renewed automatically with the same configuration ({count_renew}):\n{renew}\n\n"
       "NOT renewed, because they were not used in the last 3 months or were cancelled "
       "({count_cancelled}):\n{cancelled}\n\nUntil {until} you can cancel a card, renew a cancelled "
       "one, or change the fuel/energy, car wash, services, limits and controls of the new card in "
       "Cards Online: My cards and OBUs > Renewal status. The new cards are active from {activation}."))
_REMINDER = (
    N_("Reminder: review your fleet cards expiring in {month}"),
    N_("Hello {name},\n\nThese {count} fleet cards of customer number {number} expire in {month} and "
       "nobody has reviewed them yet:\n{cards}\n\nYou can change them until {until} in Cards Online: "
       "My cards and OBUs > Renewal status. Without action, Candidates are renewed as they are and "
       "Cancelled cards are not renewed."))
_NONE = N_("(none)")
_CANDIDATE = N_("candidate for renewal")
_CANCELLED = N_("cancelled")


@dataclass
class RenewalReport:
    now: datetime
    candidates: int = 0
    cancelled_unused: int = 0
    cancelled_by_user: int = 0
    into_production: int = 0
    activated: int = 0
    expired: int = 0
    notices: int = 0
    reminders: int = 0
    emails_queued: int = 0
    letters: int = 0

    @property
    def changed(self) -> int:
        return (self.candidates + self.cancelled_unused + self.cancelled_by_user + self.into_production
                + self.activated + self.expired + self.notices + self.reminders)

    def __str__(self) -> str:
        return _("Renewal run at {now:%Y-%m-%d %H:%M} UTC. New in the campaign: {candidates} candidate for "
                 "renewal, {unused} cancelled (not used in 3 months), {by_customer} cancelled by the customer; new "
                 "plastics in production: {production}; activated: {activated}; expired without renewal: "
                 "{expired}; notices: {notices} ({letters} letters); reminders: {reminders}; e-mails queued: "
                 "{mails}.").format(
            now=self.now.astimezone(timezone.utc), candidates=self.candidates, unused=self.cancelled_unused,
            by_customer=self.cancelled_by_user, production=self.into_production, activated=self.activated,
            expired=self.expired, notices=self.notices, letters=self.letters, reminders=self.reminders,
            mails=self.emails_queued)


def run_renewals(session_or_db: Union[Session, "object"], now: datetime) -> RenewalReport:
    """Run the campaign at `now` as the issuer: one transaction for the whole run. Takes a Session or a
    store.db.Database (which opens one)."""
    if isinstance(session_or_db, Session):
        return _run(session_or_db, now)
    with session_or_db.session() as session:
        return _run(session, now)


@atomic
def _run(session: Session, now: datetime) -> RenewalReport:
    report = RenewalReport(now=now)
    numbers = session.exec(select(CustomerNumber).order_by(CustomerNumber.id)).all()
    customers = {c.id: c for c in session.exec(select(Customer)).all()}
    for number in numbers:
        _run_number(session, now, customers[number.customer_id], number, report)
    return report


def _run_number(session: Session, now: datetime, customer: Customer, number: CustomerNumber,
                report: RenewalReport) -> None:
    today = local_date(customer, now)
    cards = session.exec(
        select(Card).where(Card.customer_number_id == number.id, Card.product_type == ProductType.FLEET_CARD,
                           Card.status == CardStatus.ACTIVE, Card.expiry_date.is_not(None),
                           Card.expiry_date < campaign_limit(today))
        .order_by(Card.expiry_date, Card.id).with_for_update()
    ).all()
    by_month: dict[date, list[Card]] = defaultdict(list)
    classified: set[date] = set()  # months with cards that entered the campaign in this run
    for card in cards:
        line = timeline(card.expiry_date)
        if card.renewal_status in (RenewalStatus.NONE, RenewalStatus.RENEWED):
            _classify(session, now, customer, card, line, report)
            classified.add(line.month)
        if card.renewal_status is RenewalStatus.CANDIDATE and today >= line.production:
            _produce(session, now, customer, card, report)
        if card.renewal_status is RenewalStatus.IN_RENEWAL and today >= line.activation:
            _activate(session, now, customer, card, report)
        if card.renewal_status is RenewalStatus.CANCELLED and today > card.expiry_date:
            _expire(session, now, customer, card, report)
        if card.status is CardStatus.ACTIVE and card.renewal_status in (RenewalStatus.CANDIDATE,
                                                                        RenewalStatus.CANCELLED):
            by_month[line.month].append(card)
    # The run's changes to these cards as configuration versions from `now`: one pass for the customer number
    # (a card the run did not change gets none), not a few queries per card.
    record_card_versions(session, [card.id for card in cards], now)
    if not by_month:
        return
    sent = _sent_markers(session, customer, number)
    for month, month_cards in sorted(by_month.items()):
        line = timeline(month)
        if today >= line.production:
            continue
        key = f"{number.id}:{month:%Y-%m}"
        # The notice goes out with the run that brings the month's cards into the campaign, so it is sent once.
        if month in classified:
            _notice(session, now, customer, number, line, month_cards, key, report)
            continue
        notice_day = sent.get((key, "renewal notice sent"))
        if (today >= line.reminder and (notice_day is None or notice_day < line.reminder)
                and (key, "renewal reminder sent") not in sent):
            _reminder(session, now, customer, number, line, month_cards, key, report)


def _audit_card(session: Session, now: datetime, customer: Customer, card: Card, action: str, before: dict,
                after: dict) -> None:
    audit.record(session, ISSUER, now, "card", card.id, action, before=before, after=after, customer_id=customer.id)


def _classify(session: Session, now: datetime, customer: Customer, card: Card, line: Timeline,
              report: RenewalReport) -> None:
    before = {"renewal_status": card.renewal_status}
    if card.cancelled_by_user:
        card.renewal_status, reason = RenewalStatus.CANCELLED, "cancelled by the customer"
        report.cancelled_by_user += 1
    elif card.last_used_at is None or card.last_used_at < local_midnight(customer, line.unused_since):
        card.renewal_status, reason = RenewalStatus.CANCELLED, "not used in the last 3 months"
        report.cancelled_unused += 1
    else:
        card.renewal_status, reason = RenewalStatus.CANDIDATE, None
        report.candidates += 1
    card.version += 1
    session.add(card)
    _audit_card(session, now, customer, card, "renewal campaign", before,
                {"renewal_status": card.renewal_status, "reason": reason, "last_used_at": card.last_used_at,
                 "update_until": line.update_until})


def _produce(session: Session, now: datetime, customer: Customer, card: Card, report: RenewalReport) -> None:
    """M-1: a new plastic, same number, rank + 1, expiry 4 years later, with the card's configuration now."""
    rank, expiry = card.rank + 1, add_years(card.expiry_date, VALIDITY_YEARS)
    configuration = _jsonable(_flat(spec_from_card(session, card.id)))
    before = {"renewal_status": card.renewal_status, "rank": card.rank}
    card.rank, card.renewal_status = rank, RenewalStatus.IN_RENEWAL
    card.version += 1
    session.add(card)
    session.add(Plastic(card_id=card.id, rank=rank, status=CardStatus.IN_PRODUCTION, expiry_date=expiry))
    # Reproductions the customer asked for and the issuer has not started: the renewed plastic carries them.
    carried = session.exec(select(Request).where(
        Request.card_id == card.id, Request.kind.in_([RequestKind.CHANGE, RequestKind.PIN_REISSUE]),
        Request.status.in_([RequestStatus.SUBMITTED]))).all()
    for request in carried:
        request.status, request.updated_at = RequestStatus.DONE, now
        request.reason = f"Carried by the renewed card (rank {rank})."
        session.add(request)
    request = Request(customer_number_id=card.customer_number_id, card_id=card.id, kind=RequestKind.RENEWAL,
                      status=RequestStatus.IN_PRODUCTION, created_at=now, updated_at=now,
                      details={"rank": rank, "number": card.number, "expiry_date": expiry.isoformat(),
                               "previous_expiry_date": card.expiry_date.isoformat(),
                               "configuration": configuration, "carried_requests": [r.id for r in carried]})
    session.add(request)
    session.flush()
    report.into_production += 1
    _audit_card(session, now, customer, card, "renewal production started", before,
                {"renewal_status": card.renewal_status, "rank": rank, "expiry_date": expiry,
                 "request_id": request.id})


def _activate(session: Session, now: datetime, customer: Customer, card: Card, report: RenewalReport) -> None:
    """M: the new plastic is active, the old one expires."""
    request = session.exec(select(Request).where(
        Request.card_id == card.id, Request.kind == RequestKind.RENEWAL,
        Request.status == RequestStatus.IN_PRODUCTION).order_by(Request.id.desc())).first()
    rank = request.details["rank"] if request is not None else card.rank
    new = session.exec(select(Plastic).where(Plastic.card_id == card.id, Plastic.rank == rank)).first()
    if new is None:  # no plastic was made (data from before the campaign): make it now
        new = Plastic(card_id=card.id, rank=rank, status=CardStatus.IN_PRODUCTION,
                      expiry_date=add_years(card.expiry_date, VALIDITY_YEARS))
    old = session.exec(select(Plastic).where(Plastic.card_id == card.id, Plastic.rank < rank,
                                             Plastic.status == CardStatus.ACTIVE)).all()
    for plastic in old:
        plastic.status = CardStatus.EXPIRED
        session.add(plastic)
    new.status, new.produced_at = CardStatus.ACTIVE, now
    session.add(new)
    before = {"renewal_status": card.renewal_status, "expiry_date": card.expiry_date}
    card.renewal_status, card.expiry_date, card.produced_at = RenewalStatus.RENEWED, new.expiry_date, now
    card.cancelled_by_user = False
    card.version += 1
    session.add(card)
    if request is not None:
        request.status, request.updated_at = RequestStatus.DONE, now
        session.add(request)
    report.activated += 1
    _audit_card(session, now, customer, card, "renewed", before,
                {"renewal_status": card.renewal_status, "expiry_date": card.expiry_date, "rank": rank,
                 "expired_plastics": [p.rank for p in old]})


def _expire(session: Session, now: datetime, customer: Customer, card: Card, report: RenewalReport) -> None:
    """A Cancelled card after its expiry date: not renewed, it can no longer be used."""
    before = {"status": card.status, "renewal_status": card.renewal_status}
    live = session.exec(select(Plastic).where(
        Plastic.card_id == card.id, Plastic.status.in_([CardStatus.ACTIVE, CardStatus.IN_PRODUCTION]))).all()
    for plastic in live:
        plastic.status = CardStatus.EXPIRED
        session.add(plastic)
    card.status, card.renewal_status = CardStatus.EXPIRED, RenewalStatus.NONE
    card.version += 1
    session.add(card)
    report.expired += 1
    _audit_card(session, now, customer, card, "expired", before,
                {"status": card.status, "renewal_status": card.renewal_status})


# --- notices and reminders -------------------------------------------------------------------------------

def _sent_markers(session: Session, customer: Customer, number: CustomerNumber) -> dict[tuple[str, str], date]:
    rows = session.exec(select(AuditEvent).where(
        AuditEvent.object_type == CAMPAIGN_OBJECT, AuditEvent.customer_id == customer.id,
        AuditEvent.object_id.like(f"{number.id}:%"))).all()
    return {(row.object_id, row.action): local_date(customer, _aware(row.occurred_at)) for row in rows}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def renewal_recipients(session: Session, customer_number_id: int) -> list[User]:
    """The users of the customer number who want renewal notices (My account > Notification settings)."""
    users = session.exec(
        select(User).join(UserCustomerNumber, UserCustomerNumber.user_id == User.id)
        .where(UserCustomerNumber.customer_number_id == customer_number_id, User.status != UserStatus.DEACTIVATED)
        .order_by(User.id)
    ).all()
    return [user for user in users if wants_email(session, user.id, NotificationKind.RENEWAL_NOTICE)]


def _line(card: Card) -> str:
    vehicle = card.license_plate or card.embossed_name or ""
    return "  " + _("{card}  {vehicle}  (expires {expiry:%d/%m/%Y})").format(card=card_label(card), vehicle=vehicle,
                                                                           expiry=card.expiry_date)


def _values(number: CustomerNumber, line: Timeline) -> dict:
    return dict(number=number.number, month=f"{line.month:%m/%Y}", until=f"{line.update_until:%d/%m/%Y}",
                activation=f"{line.activation:%d/%m/%Y}")


def _notice(session: Session, now: datetime, customer: Customer, number: CustomerNumber, line: Timeline,
            cards: list[Card], key: str, report: RenewalReport) -> None:
    renew = [c for c in cards if c.renewal_status is RenewalStatus.CANDIDATE]
    cancelled = [c for c in cards if c.renewal_status is RenewalStatus.CANCELLED]

    def texts_for(language: str, name: str) -> tuple[str, str]:
        with use_language(language):  # in the recipient's language
            values = dict(_values(number, line), name=name, total=len(cards), count_renew=len(renew),
                          count_cancelled=len(cancelled),
                          renew="\n".join(_line(c) for c in renew) or _(_NONE),
                          cancelled="\n".join(_line(c) for c in cancelled) or _(_NONE))
            return _(_NOTICE[0]).format(**values), _(_NOTICE[1]).format(**values)

    users = renewal_recipients(session, number.id)
    for user in users:
        subject, body = texts_for(user.language, user.display_name)
        queue_email(session, now, to_address=user.email, subject=subject, body=body, language=user.language,
                    user_id=user.id)
    # The letter to the fleet manager, whatever the e-mail settings (the issuer's post room prints it).
    address = session.exec(select(Address).where(Address.customer_number_id == number.id)
                           .order_by((Address.kind == AddressKind.BILLING).desc(), Address.id)).first()
    manager = customer.contact_name or customer.name
    language = customer.language
    subject, body = texts_for(language, manager)
    postal = (f"{manager}, {customer.name}, {address.street}, {address.postal_code} {address.city}, {address.country}"
              if address else f"{manager}, {customer.name}")
    session.add(OutboxMessage(channel=Channel.LETTER, to_address=postal[:200], subject=subject, body=body,
                              language=language, status=OutboxStatus.PENDING, attempts=0, created_at=now))
    report.notices += 1
    report.letters += 1
    report.emails_queued += len(users)
    audit.record(session, ISSUER, now, CAMPAIGN_OBJECT, key, "renewal notice sent", after={
        "month": f"{line.month:%Y-%m}", "candidate": [c.id for c in renew], "cancelled": [c.id for c in cancelled],
        "emails": [u.id for u in users], "letter": True}, customer_id=customer.id)


def _reminder(session: Session, now: datetime, customer: Customer, number: CustomerNumber, line: Timeline,
              cards: list[Card], key: str, report: RenewalReport) -> None:
    reviewed = reviewed_card_ids(session, customer, cards)
    open_cards = [c for c in cards if c.id not in reviewed]
    if not open_cards:
        return
    users = renewal_recipients(session, number.id)
    for user in users:
        with use_language(user.language):  # in the recipient's language
            candidate, cancelled = _(_CANDIDATE), _(_CANCELLED)
            lines = "\n".join(f"{_line(c)}  {candidate if c.renewal_status is RenewalStatus.CANDIDATE else cancelled}"
                              for c in open_cards)
            values = dict(_values(number, line), name=user.display_name, count=len(open_cards), cards=lines)
            subject, body = _(_REMINDER[0]).format(**values), _(_REMINDER[1]).format(**values)
        queue_email(session, now, to_address=user.email, subject=subject, body=body, language=user.language,
                    user_id=user.id)
    report.reminders += 1
    report.emails_queued += len(users)
    audit.record(session, ISSUER, now, CAMPAIGN_OBJECT, key, "renewal reminder sent", after={
        "month": f"{line.month:%Y-%m}", "cards": [c.id for c in open_cards], "emails": [u.id for u in users]},
        customer_id=customer.id)
