"""The issuer's production batch: numbers new cards, makes and ships plastics, confirms toll conditions.

`cardsonline issuer process-requests` runs it, as cron would each night. The model, kept simple:
a request is handled once it has waited `processing_time` since its last step ("within 24 hours",
Fiche 03), and making a plastic takes one more processing period:

    first run    SUBMITTED -> IN_PRODUCTION   a new card gets its number, rank 1 and expiry date;
                                              a change or PIN reissue raises the rank; the plastic
                                              is made (status in production)
    next run     IN_PRODUCTION -> SHIPPED     the plastic (and a new card) becomes active; the
                                              customer is e-mailed

Toll conditions with connection costs need no plastic: SUBMITTED -> DONE in one run. OBU requests wait
(WAITING_FOR_DOCUMENT) until the registration certificate arrives and are not touched here. A request for
a card that was blocked, deleted or has expired is rejected. `all_due` ignores the waiting times and carries
every request as far as it can go in one run (demos, "the next morning").

Every step stamps the request's `updated_at` with `now`, so a second run at the same `now` changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from ..i18n import N_, _, use_language
from ..models import (
    Card,
    CardStatus,
    Customer,
    CustomerNumber,
    NotificationKind,
    NotificationSetting,
    Plastic,
    Request,
    RequestKind,
    RequestStatus,
    Right,
    TollCondition,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from ..services import audit
from ..services.atomic import atomic
from ..services.auth import local_date
from ..services.card_history import record_card_versions
from ..services.cards import FINAL_CARD_STATUSES, card_label, what
from ..services.context import ISSUER
from ..services.outbox import queue_email
from .numbering import ISSUER_PREFIX, add_years, card_number

VALIDITY_YEARS = 4  # Fiche 12
NEW_CARD_KINDS = (RequestKind.CREATE, RequestKind.COPY, RequestKind.DUPLICATE)
REPRODUCTION_KINDS = (RequestKind.CHANGE, RequestKind.PIN_REISSUE)
HANDLED_KINDS = (*NEW_CARD_KINDS, *REPRODUCTION_KINDS, RequestKind.TOLL_CONDITIONS, RequestKind.DRIVER_CODE_REISSUE)

# The e-mails when a request is done, in English (the source), a sentence for a card and one for an OBU;
# `_queue_mail` translates them into each recipient's language.
_FOOTER = N_("Follow your requests in Cards Online: My cards and OBUs > My requests.")
_MAIL = {  # template -> ((subject, body) for a card, (subject, body) for an OBU)
    "shipped": (
        (N_("Your card {label} has been shipped"),
         N_("Hello {name},\n\nYour request {request} is done: we produced and shipped your card {label} (rank "
            "{rank}) for {vehicle}.{previous}")),
        (N_("Your OBU {label} has been shipped"),
         N_("Hello {name},\n\nYour request {request} is done: we produced and shipped your OBU {label} (rank "
            "{rank}) for {vehicle}.{previous}"))),
    "confirmed": ((N_("Toll conditions confirmed for OBU {label}"),
                   N_("Hello {name},\n\nYour request {request} is done: the toll conditions with connection costs "
                      "for OBU {label} are confirmed. Connection fee: EUR {fee}.")),) * 2,
    "codes_posted": ((N_("Driver codes sent by post for card {label}"),
                      N_("Hello {name},\n\nYour request {request} is done: the driver codes of {drivers} for card "
                         "{label} have been sent by post.")),) * 2,
    "rejected": (
        (N_("Request {request} has been stopped"),
         N_("Hello {name},\n\nYour request {request} for card {label} has been stopped: this card is blocked, "
            "deleted or expired and can no longer be produced.")),
        (N_("Request {request} has been stopped"),
         N_("Hello {name},\n\nYour request {request} for OBU {label} has been stopped: this OBU is blocked, "
            "deleted or expired and can no longer be produced."))),
}
_PREVIOUS = (N_("\nThe previous card stays valid until {expiry}: destroy it once the new one has arrived."),
             N_("\nThe previous OBU stays valid until {expiry}: destroy it once the new one has arrived."))


@dataclass
class ProcessReport:
    now: datetime
    into_production: int = 0
    numbers_given: int = 0
    shipped: int = 0
    toll_confirmed: int = 0
    driver_codes_posted: int = 0  # driver-code reissue requests: the codes went by post
    rejected: int = 0
    emails_queued: int = 0
    # Still open after the run:
    waiting_for_document: int = 0
    pending: int = 0  # not due yet, or a change waiting for the card's first plastic

    @property
    def handled(self) -> int:
        return self.into_production + self.shipped + self.toll_confirmed + self.driver_codes_posted + self.rejected

    def __str__(self) -> str:
        return _(
            "Issuer run at {now:%Y-%m-%d %H:%M} UTC. Requests taken into production: {production} (new card "
            "numbers: {numbers}); shipped: {shipped}; toll conditions confirmed: {toll}; driver codes posted: "
            "{codes}; rejected: {rejected}; e-mails queued: {mails}. Still open: {waiting} waiting for a "
            "registration certificate, {pending} for a later run.").format(
            now=self.now, production=self.into_production, numbers=self.numbers_given, shipped=self.shipped,
            toll=self.toll_confirmed, codes=self.driver_codes_posted, rejected=self.rejected,
            mails=self.emails_queued, waiting=self.waiting_for_document, pending=self.pending)


@atomic
def process_requests(session: Session, now: datetime, processing_time: timedelta = timedelta(hours=24),
                     all_due: bool = False) -> ProcessReport:
    """Handle the requests that are due at `now`, as the issuer; one transaction for the whole run."""
    if processing_time <= timedelta(0):
        raise ValueError("processing_time must be positive; use all_due to handle everything at once")
    report = ProcessReport(now=now)
    # A pass moves each due request one step; with all_due, pass again until nothing moves.
    while _one_pass(session, now, processing_time, all_due, report) and all_due:
        continue
    report.waiting_for_document = _count_open(session, [RequestStatus.WAITING_FOR_DOCUMENT])
    report.pending = _count_open(session, [RequestStatus.SUBMITTED, RequestStatus.IN_PRODUCTION])
    return report


def _count_open(session: Session, statuses: list[RequestStatus]) -> int:
    return session.exec(select(func.count()).select_from(Request).where(
        Request.kind.in_(HANDLED_KINDS), Request.status.in_(statuses))).one()


def _one_pass(session: Session, now: datetime, processing_time: timedelta, all_due: bool,
              report: ProcessReport) -> bool:
    """Move each due request one step; True when any moved."""
    requests = session.exec(
        select(Request).where(Request.kind.in_(HANDLED_KINDS),
                              Request.status.in_([RequestStatus.SUBMITTED, RequestStatus.IN_PRODUCTION]))
        .order_by(Request.id)
    ).all()
    moved = False
    for request in requests:
        since = request.updated_at or request.created_at
        if all_due or since + processing_time <= now:
            moved = _step(session, now, request, report) or moved
    return moved


def _step(session: Session, now: datetime, request: Request, report: ProcessReport) -> bool:
    card = session.get(Card, request.card_id, populate_existing=True, with_for_update=True)
    if card.status in FINAL_CARD_STATUSES:
        _set_request(session, now, request, card, RequestStatus.REJECTED,
                     reason=f"The {what(card)} is {card.status.value}: nothing to produce.")
        report.rejected += 1
    elif request.kind is RequestKind.TOLL_CONDITIONS:
        _confirm_toll_conditions(session, now, card)
        _set_request(session, now, request, card, RequestStatus.DONE)
        report.toll_confirmed += 1
    elif request.kind is RequestKind.DRIVER_CODE_REISSUE:
        # Fiche 16: the issuer prints the codes again and posts them; nothing changes on the card or the codes.
        _set_request(session, now, request, card, RequestStatus.DONE, posted_at=now.isoformat())
        report.driver_codes_posted += 1
    elif request.status is RequestStatus.IN_PRODUCTION:
        _ship(session, now, request, card)
        _set_request(session, now, request, card, RequestStatus.SHIPPED)
        report.shipped += 1
    elif request.kind in NEW_CARD_KINDS:
        _start_new_card(session, now, request, card)
        report.into_production += 1
        report.numbers_given += 1
    elif card.status is CardStatus.ACTIVE:
        _start_reproduction(session, now, request, card)
        report.into_production += 1
    else:
        return False  # a reproduction of a card whose first plastic is still being made
    report.emails_queued += _queue_mail(session, now, request, card)
    return True


def _audit(session: Session, now: datetime, object_type: str, object_id: int, action: str, card: Card,
           before: dict, after: dict) -> None:
    record_card_versions(session, [card.id], now)  # every change of production is audited here: versioned too
    number = session.get(CustomerNumber, card.customer_number_id)
    audit.record(session, ISSUER, now, object_type, object_id, action, before=before, after=after,
                 customer_id=number.customer_id)


def _set_request(session: Session, now: datetime, request: Request, card: Card, status: RequestStatus,
                 reason: str | None = None, **details) -> None:
    before = {"status": request.status}
    request.status, request.updated_at, request.reason = status, now, reason
    if details:
        request.details = {**request.details, **details}  # a new dict: JSON columns do not track mutation
    session.add(request)
    _audit(session, now, "request", request.id, status.value, card, before,
           {"status": status, "reason": reason, **details})


def _confirm_toll_conditions(session: Session, now: datetime, card: Card) -> None:
    rows = session.exec(select(TollCondition).where(TollCondition.card_id == card.id,
                                                    TollCondition.confirmed == False)).all()  # noqa: E712
    for row in rows:
        row.confirmed = True
        session.add(row)
    if rows:
        _audit(session, now, "card", card.id, "toll conditions confirmed", card, {},
               {"operators": [row.operator for row in rows]})


def _start_new_card(session: Session, now: datetime, request: Request, card: Card) -> None:
    number = session.get(CustomerNumber, card.customer_number_id, populate_existing=True, with_for_update=True)
    number.card_sequence += 1
    session.add(number)
    customer = session.get(Customer, number.customer_id)
    before = {"status": card.status, "number": card.number, "rank": card.rank}
    card.number = card_number(ISSUER_PREFIX, number.number, number.card_sequence)
    card.rank = 1
    card.expiry_date = add_years(local_date(customer, now), VALIDITY_YEARS)
    card.status = CardStatus.IN_PRODUCTION
    card.version += 1
    session.add(card)
    session.add(Plastic(card_id=card.id, rank=1, status=CardStatus.IN_PRODUCTION, expiry_date=card.expiry_date))
    _confirm_toll_conditions(session, now, card)
    _audit(session, now, "card", card.id, "numbered", card, before,
           {"status": card.status, "number": card.number, "rank": 1, "expiry_date": card.expiry_date})
    _set_request(session, now, request, card, RequestStatus.IN_PRODUCTION, rank=1, number=card.number)


def _start_reproduction(session: Session, now: datetime, request: Request, card: Card) -> None:
    # The previous plastic stays active until its own expiry date; the new one keeps the card's validity.
    rank = card.rank + 1
    card.rank = rank
    card.version += 1
    session.add(card)
    session.add(Plastic(card_id=card.id, rank=rank, status=CardStatus.IN_PRODUCTION, expiry_date=card.expiry_date))
    _audit(session, now, "card", card.id, "reproduction started", card, {"rank": rank - 1}, {"rank": rank})
    _set_request(session, now, request, card, RequestStatus.IN_PRODUCTION, rank=rank)


def _ship(session: Session, now: datetime, request: Request, card: Card) -> None:
    rank = request.details["rank"]
    plastic = session.exec(select(Plastic).where(Plastic.card_id == card.id, Plastic.rank == rank)).one()
    plastic.status, plastic.produced_at = CardStatus.ACTIVE, now
    session.add(plastic)
    before = {"status": card.status}
    if card.status is CardStatus.IN_PRODUCTION:
        card.status = CardStatus.ACTIVE
    card.produced_at = now
    card.version += 1
    session.add(card)
    _audit(session, now, "card", card.id, "plastic shipped", card, before, {"status": card.status, "rank": rank})


# --- e-mails ---------------------------------------------------------------------------------------

def recipients(session: Session, customer_number_id: int) -> list[User]:
    """Who hears that a request is done: the users of the customer number who turned the "request done"
    notification on; when none of them has set it either way, the administrators (right to manage users)."""
    users = session.exec(
        select(User).join(UserCustomerNumber, UserCustomerNumber.user_id == User.id)
        .where(UserCustomerNumber.customer_number_id == customer_number_id, User.status != UserStatus.DEACTIVATED)
        .order_by(User.id)
    ).all()
    ids = [user.id for user in users]
    settings = session.exec(select(NotificationSetting).where(
        NotificationSetting.user_id.in_(ids), NotificationSetting.kind == NotificationKind.REQUEST_DONE)).all()
    if settings:
        wanted = {setting.user_id for setting in settings if setting.enabled}
    else:
        wanted = set(session.exec(select(UserRight.user_id).where(UserRight.user_id.in_(ids),
                                                                   UserRight.right == Right.USERS)).all())
    return [user for user in users if user.id in wanted]


def _queue_mail(session: Session, now: datetime, request: Request, card: Card) -> int:
    template = {RequestStatus.SHIPPED: "shipped", RequestStatus.DONE: "confirmed",
                RequestStatus.REJECTED: "rejected"}.get(request.status)
    if template == "confirmed" and request.kind is RequestKind.DRIVER_CODE_REISSUE:
        template = "codes_posted"
    if template is None:
        return 0  # taken into production: the customer hears when it ships
    users = recipients(session, card.customer_number_id)
    obu = card.product_type.is_obu
    subject_id, body_id = _MAIL[template][obu]
    for user in users:
        with use_language(user.language):  # in the recipient's language
            previous = ""
            if request.kind in REPRODUCTION_KINDS and card.expiry_date:
                previous = _(_PREVIOUS[obu]).format(expiry=f"{card.expiry_date:%d/%m/%Y}")
            values = dict(name=user.display_name, request=request.id, label=card_label(card),
                          rank=request.details.get("rank", card.rank), fee=request.fee,
                          vehicle=card.license_plate or card.embossed_name, previous=previous,
                          drivers=", ".join(request.details.get("drivers", [])))
            subject = _(subject_id).format(**values)
            body = f"{_(body_id).format(**values)}\n\n{_(_FOOTER)}"
        queue_email(session, now, to_address=user.email, subject=subject, body=body, language=user.language,
                    user_id=user.id)
    return len(users)
