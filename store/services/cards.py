"""Cards and OBUs: create, copy, change, block, delete, cancel, renew, PIN reissue, documents.

Fiches 03-05, 07-09, 12 and 13. Each service is one transaction (`atomic`): it checks the actor's right
and customer number, refuses what a rule forbids with a DomainError, writes the change with an audit
event, and commits once.

The card row always holds the configuration the card's next plastic carries: a change that needs
reproduction is written to the row at once, and a CHANGE request asks the issuer for the new plastic
(same number, next rank); the plastic in the driver's hands keeps working until its expiry date.
"""
from __future__ import annotations

import calendar
import enum
import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..i18n import N_, _
from ..models import (
    Address,
    AddressKind,
    AuditEvent,
    BlockReason,
    Card,
    CardLimit,
    CardStatus,
    CodeType,
    Customer,
    CustomerNumber,
    Document,
    DocumentKind,
    FleetDivision,
    PinOrigin,
    Plastic,
    Product,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    Right,
    TollCondition,
    TollOperator,
)
from . import audit
from .card_history import record_card_versions
from .atomic import atomic
from .auth import local_date
from .card_specs import (
    CardSpec,
    Controls,
    DocumentSpec,
    FieldProblem,
    InvalidSpec,
    LimitSpec,
    ObuSettings,
    clean_plate,
    clean_text,
    connection_fee,
    content_type_of,
    document_problems,
    field_label,
    limit_field,
    toll_field,
    validate_spec,
)
from .context import Actor
from .errors import DomainError, NotFound, PermissionDenied, StaleObject
from .labels import enum_label, right_label
from .passwords import hash_password

OPEN_REQUEST_STATUSES = (RequestStatus.SUBMITTED, RequestStatus.WAITING_FOR_DOCUMENT, RequestStatus.IN_PRODUCTION)
FINAL_CARD_STATUSES = (CardStatus.BLOCKED, CardStatus.DELETED, CardStatus.EXPIRED)
RENEWAL_NOTICE_MONTHS = 3  # Fiche 12: cards become candidates for renewal 3 months before expiry
WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
# Stored as the request's reason (a database value, English); marked so a screen can translate it when shown.
WAITING_FOR_CERTIFICATE = N_("Attach a copy of the vehicle registration certificate: the issuer produces the "
                             "OBU once it has arrived.")


class CardAction(str, enum.Enum):
    VIEW = "view"
    CHANGE = "change"
    COPY = "copy"
    BLOCK = "block"
    DELETE = "delete"
    CANCEL = "cancel"
    RENEW = "renew"
    PIN_REISSUE = "pin reissue"


class ChangeEffect(str, enum.Enum):
    REPRODUCTION = "reproduction"  # a new plastic: same number, next rank (Fiches 07, 08)
    IMMEDIATE = "immediate"  # reconfiguration, active at once
    CONFIRMATION = "issuer confirmation"  # toll conditions with connection costs: the issuer confirms


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: str  # ready to show; a PIN is never shown, only who chose it
    after: str
    effect: ChangeEffect
    fee: Decimal | None = None  # the connection fee, for CONFIRMATION


@dataclass(frozen=True)
class ChangeResult:
    card: Card
    changes: list[FieldChange]
    reproduction_request: Request | None  # kind CHANGE, when a field needs a new plastic
    toll_request: Request | None  # kind TOLL_CONDITIONS, when operators with connection costs were ticked


@dataclass(frozen=True)
class BlockResult:
    card: Card
    duplicate: Card | None
    duplicate_request: Request | None


@dataclass(frozen=True)
class CardActionResult:
    """The outcome for one card of an action on a selection: one refused card never stops the others."""

    card_id: int
    ok: bool
    message: str
    label: str  # the card number, else its plate or name
    request_id: int | None = None


# Fiche 07: the card fields whose change needs a new plastic. Every limit's "allowed" is in it: which fuels
# and energies (fuel/energy choice) and which services (chosen services) the card may buy sit on the chip.
# Everything else applies at once: the limits themselves, tank capacity, forbidden days, vehicle type (all
# named by the fiche), and, where the fiche is silent, the fields the terminal checks online or that are not
# printed: division, driver name, additional mention, linked product, shipping address, allowed weekdays,
# hours and countries, maximum transactions per day.
CARD_REPRODUCTION_FIELDS = frozenset(
    {"category", "license_plate", "embossed_name", "code_type", "pin", "controls.odometer_prompt"}
    | {limit_field(product, "allowed") for product in Product}
)
# Fiche 08: the OBU fields whose change needs a new box (and the registration certificate again).
OBU_REPRODUCTION_FIELDS = frozenset(
    {"license_plate", "embossed_name"}
    | {f"obu.{name}" for name in ("vehicle_class", "weight_kg", "length_cm", "width_cm", "height_cm", "axles",
                                  "euro_class", "technical_properties")}
)


def what(card: Card) -> str:
    return "OBU" if card.product_type.is_obu else "card"


def card_label(card: Card) -> str:
    """How a user recognises the card in a message: its number, else its plate or name."""
    return card.number or card.license_plate or card.embossed_name or f"#{card.id}"


# --- which action is allowed in which state --------------------------------------------------------

# Why an action is refused in a state: (for a card, for an OBU), one whole sentence each (the word changes
# the grammar in Dutch and French); {status} is the card's status in words.
_REFUSALS = {
    (CardAction.CHANGE, CardStatus.BLOCKED): (
        N_("This card is blocked, and a blocked card cannot be changed. Create a copy to order a new one with "
           "these settings."),
        N_("This OBU is blocked, and a blocked OBU cannot be changed. Create a copy to order a new one with "
           "these settings.")),
    (CardAction.CHANGE, CardStatus.DELETED): (
        N_("This card was deleted before production: it cannot be changed."),
        N_("This OBU was deleted before production: it cannot be changed.")),
    (CardAction.CHANGE, CardStatus.EXPIRED): (
        N_("This card has expired: it cannot be changed. Create a copy to order a new one."),
        N_("This OBU has expired: it cannot be changed. Create a copy to order a new one.")),
    (CardAction.BLOCK, CardStatus.NEW): (
        N_("This card has not been produced yet, so it cannot be blocked: delete it instead to stop its "
           "production."),
        N_("This OBU has not been produced yet, so it cannot be blocked: delete it instead to stop its "
           "production.")),
    (CardAction.BLOCK, CardStatus.BLOCKED): (
        N_("This card is already blocked."), N_("This OBU is already blocked.")),
    (CardAction.BLOCK, CardStatus.DELETED): (
        N_("This card was deleted before production: there is nothing to block."),
        N_("This OBU was deleted before production: there is nothing to block.")),
    (CardAction.BLOCK, CardStatus.EXPIRED): (
        N_("This card has expired and can no longer be used: there is nothing to block."),
        N_("This OBU has expired and can no longer be used: there is nothing to block.")),
    (CardAction.DELETE, CardStatus.IN_PRODUCTION): (
        N_("This card is already in production and can no longer be deleted: block it if it must never be used."),
        N_("This OBU is already in production and can no longer be deleted: block it if it must never be used.")),
    (CardAction.DELETE, CardStatus.ACTIVE): (
        N_("Only a new card that is not produced yet can be deleted. Block this one if it is lost, stolen or "
           "defect, or cancel it so that it is not renewed."),
        N_("Only a new OBU that is not produced yet can be deleted. Block this one if it is lost, stolen or "
           "defect, or cancel it so that it is not renewed.")),
    (CardAction.DELETE, CardStatus.BLOCKED): (
        N_("This card is blocked: that is already final, it cannot be deleted."),
        N_("This OBU is blocked: that is already final, it cannot be deleted.")),
    (CardAction.DELETE, CardStatus.DELETED): (
        N_("This card is already deleted."), N_("This OBU is already deleted.")),
    (CardAction.DELETE, CardStatus.EXPIRED): (
        N_("This card has expired: it cannot be deleted."), N_("This OBU has expired: it cannot be deleted.")),
}


def refusal(card: Card, action: CardAction) -> str | None:
    """Why `action` is not possible on `card` now, or None when it is. Screens and services both ask this."""
    obu, status = card.product_type.is_obu, card.status
    if action in (CardAction.VIEW, CardAction.COPY):
        return None
    if action in (CardAction.CHANGE, CardAction.BLOCK, CardAction.DELETE):
        texts = _REFUSALS.get((action, status))
        return _(texts[obu]) if texts else None
    if action is CardAction.CANCEL:
        if status is not CardStatus.ACTIVE:
            message = (_("Only an active OBU can be cancelled (not renewed after its expiry date); this one is "
                         "{status}.") if obu else
                       _("Only an active card can be cancelled (not renewed after its expiry date); this one is "
                         "{status}."))
            return message.format(status=enum_label(status))
        if card.renewal_status is RenewalStatus.CANCELLED:
            return (_("This OBU is already cancelled: it will not be renewed.") if obu else
                    _("This card is already cancelled: it will not be renewed."))
        if card.renewal_status is RenewalStatus.IN_RENEWAL:
            return (_("The renewal of this OBU is already in production: it can no longer be cancelled.") if obu else
                    _("The renewal of this card is already in production: it can no longer be cancelled."))
        return None
    if action is CardAction.RENEW:
        if status is not CardStatus.ACTIVE:
            message = (_("Only an active OBU can be renewed; this one is {status}.") if obu else
                       _("Only an active card can be renewed; this one is {status}."))
            return message.format(status=enum_label(status))
        if card.renewal_status is not RenewalStatus.CANCELLED:
            return (_("This OBU is not cancelled: it will be renewed without any action.") if obu else
                    _("This card is not cancelled: it will be renewed without any action."))
        return None
    if action is CardAction.PIN_REISSUE:
        if card.product_type.is_obu:
            return _("An OBU has no PIN.")
        if card.code_type is CodeType.DRIVER_CODE:
            return _("This card is used with driver codes: reissue the driver's code instead (My driver codes).")
        if status is not CardStatus.ACTIVE:
            return _("A new PIN can only be issued for an active card; this one is {status}.").format(
                status=enum_label(status))
        return None
    raise ValueError(action)


def allowed_actions(card: Card) -> list[CardAction]:
    return [action for action in CardAction if refusal(card, action) is None]


def _require_allowed(card: Card, action: CardAction) -> None:
    reason = refusal(card, action)
    if reason:
        raise DomainError(reason)


# --- reading a card back into a spec ----------------------------------------------------------------

def spec_from_card(session: Session, card_id: int) -> CardSpec:
    """The card's settings as a form holds them: for "Validate and create copy" and the change form.

    The PIN is never in it: a change without a new PIN keeps the current one.
    """
    card = session.get(Card, card_id)
    if card is None:
        raise NotFound(_("This card or OBU does not exist."))
    order = list(Product)
    limits = sorted(session.exec(select(CardLimit).where(CardLimit.card_id == card.id)).all(),
                    key=lambda row: order.index(row.product))
    operators = list(TollOperator)
    toll = sorted(session.exec(select(TollCondition.operator).where(TollCondition.card_id == card.id)).all(),
                  key=operators.index)
    obu = None
    if card.product_type.is_obu:
        obu = ObuSettings(vehicle_class=card.vehicle_class, weight_kg=card.weight_kg, length_cm=card.length_cm,
                          width_cm=card.width_cm, height_cm=card.height_cm, axles=card.axles,
                          euro_class=card.euro_class, technical_properties=dict(card.technical_properties))
    return CardSpec(
        product_type=card.product_type,
        customer_number_id=card.customer_number_id,
        division_id=card.division_id,
        license_plate=card.license_plate,
        embossed_name=card.embossed_name,
        driver_name=card.driver_name,
        category=card.category,
        vehicle_type=card.vehicle_type,
        additional_mention=card.additional_mention,
        linked_card_id=card.linked_card_id,
        code_type=card.code_type,
        pin_origin=card.pin_origin or PinOrigin.ISSUER,
        shipping_address_id=card.shipping_address_id,
        controls=Controls(
            odometer_prompt=card.odometer_prompt,
            tank_capacity_l=card.tank_capacity_l,
            allowed_weekdays=tuple(card.allowed_weekdays),
            hours_from=card.allowed_hours_from,
            hours_to=card.allowed_hours_to,
            forbidden_days=tuple(date.fromisoformat(day) for day in card.forbidden_days),
            allowed_countries=tuple(card.allowed_countries),
            max_transactions_per_day=card.max_transactions_per_day,
        ),
        limits=tuple(LimitSpec(product=row.product, allowed=row.allowed, amount=row.amount, volume=row.volume,
                               period=row.period, action=row.action) for row in limits),
        obu=obu,
        toll_operators=tuple(toll),
    )


# --- writing a spec onto a card -----------------------------------------------------------------------

def _flat(spec: CardSpec) -> dict[str, Any]:
    """The spec as field path -> normalised value: what a change compares, field by field."""
    controls = spec.controls
    values: dict[str, Any] = {
        "division_id": spec.division_id,
        "license_plate": clean_plate(spec.license_plate),
        "embossed_name": clean_text(spec.embossed_name),
        "driver_name": clean_text(spec.driver_name),
        "category": clean_text(spec.category),
        "vehicle_type": clean_text(spec.vehicle_type),
        "additional_mention": clean_text(spec.additional_mention),
        "linked_card_id": spec.linked_card_id,
        "shipping_address_id": spec.shipping_address_id,
    }
    if not spec.product_type.is_obu:
        values["code_type"] = spec.code_type
        # ("new", origin) when a PIN is typed, ("kept", origin) otherwise; None without a card PIN.
        values["pin"] = None if spec.code_type is CodeType.DRIVER_CODE else (
            ("new" if spec.pin is not None else "kept"), spec.pin_origin)
    values.update({
        "controls.odometer_prompt": controls.odometer_prompt,
        "controls.tank_capacity_l": controls.tank_capacity_l,
        "controls.allowed_weekdays": tuple(sorted(set(controls.allowed_weekdays))),
        "controls.hours_from": controls.hours_from,
        "controls.hours_to": controls.hours_to,
        "controls.forbidden_days": tuple(sorted(set(controls.forbidden_days))),
        "controls.allowed_countries": tuple(sorted({country.upper() for country in controls.allowed_countries})),
        "controls.max_transactions_per_day": controls.max_transactions_per_day,
    })
    allowed = {limit.product: limit for limit in spec.limits if limit.allowed}
    for product in Product:
        limit = allowed.get(product)
        has_ceiling = limit is not None and (limit.amount is not None or limit.volume is not None)
        values[limit_field(product, "allowed")] = limit is not None
        values[limit_field(product, "amount")] = limit.amount if limit else None
        values[limit_field(product, "volume")] = limit.volume if limit else None
        # Period and action only mean something when there is a ceiling.
        values[limit_field(product, "period")] = limit.period if has_ceiling else None
        values[limit_field(product, "action")] = limit.action if has_ceiling else None
    if spec.product_type.is_obu:
        obu = spec.obu or ObuSettings()
        for name in ("vehicle_class", "weight_kg", "length_cm", "width_cm", "height_cm", "axles", "euro_class"):
            values[f"obu.{name}"] = getattr(obu, name)
        values["obu.technical_properties"] = dict(obu.technical_properties)
        for operator in TollOperator:
            values[toll_field(operator)] = operator in spec.toll_operators
    return values


def _write_settings(card: Card, spec: CardSpec) -> None:
    flat = _flat(spec)
    for name in ("division_id", "license_plate", "embossed_name", "driver_name", "category", "vehicle_type",
                 "additional_mention", "linked_card_id", "shipping_address_id"):
        setattr(card, name, flat[name])
    card.odometer_prompt = flat["controls.odometer_prompt"]
    card.tank_capacity_l = flat["controls.tank_capacity_l"]
    card.allowed_weekdays = list(flat["controls.allowed_weekdays"])
    card.allowed_hours_from = flat["controls.hours_from"]
    card.allowed_hours_to = flat["controls.hours_to"]
    card.forbidden_days = [day.isoformat() for day in flat["controls.forbidden_days"]]
    card.allowed_countries = list(flat["controls.allowed_countries"])
    card.max_transactions_per_day = flat["controls.max_transactions_per_day"]
    obu = spec.obu if spec.product_type.is_obu and spec.obu else ObuSettings()
    for name in ("vehicle_class", "weight_kg", "length_cm", "width_cm", "height_cm", "axles", "euro_class"):
        setattr(card, name, getattr(obu, name))
    card.technical_properties = dict(obu.technical_properties)


def _write_pin(card: Card, spec: CardSpec) -> None:
    if spec.product_type.is_obu:
        card.code_type, card.pin_origin, card.pin_hash = CodeType.PIN, None, None
    elif spec.code_type is CodeType.DRIVER_CODE:
        card.code_type, card.pin_origin, card.pin_hash = CodeType.DRIVER_CODE, None, None
    elif spec.pin is not None:
        card.code_type, card.pin_origin, card.pin_hash = CodeType.PIN, PinOrigin.CUSTOMER, hash_password(spec.pin)
    elif spec.pin_origin is PinOrigin.ISSUER:
        card.code_type, card.pin_origin, card.pin_hash = CodeType.PIN, PinOrigin.ISSUER, None
    # Otherwise the customer's current PIN stays.


def _write_limits(session: Session, card: Card, spec: CardSpec) -> None:
    wanted = {limit.product: limit for limit in spec.limits}
    existing = {row.product: row for row in session.exec(select(CardLimit).where(CardLimit.card_id == card.id))}
    for product, row in existing.items():
        if product not in wanted:
            session.delete(row)
    for product, limit in wanted.items():
        row = existing.get(product) or CardLimit(card_id=card.id, product=product)
        row.allowed = limit.allowed
        row.amount, row.volume = (limit.amount, limit.volume) if limit.allowed else (None, None)
        row.period, row.action = limit.period, limit.action
        session.add(row)


def _write_toll(session: Session, card: Card, spec: CardSpec) -> list[TollCondition]:
    """Sync the toll conditions; returns the ones added with a connection fee (the issuer confirms them)."""
    wanted = set(spec.toll_operators) if spec.product_type.is_obu else set()
    rows = session.exec(select(TollCondition).where(TollCondition.card_id == card.id))
    existing = {row.operator: row for row in rows}
    for operator, row in existing.items():
        if operator not in wanted:
            session.delete(row)
    with_fee = []
    for operator in [op for op in TollOperator if op in wanted and op not in existing]:
        fee = connection_fee(operator)
        row = TollCondition(card_id=card.id, operator=operator, connection_fee=fee, confirmed=fee is None)
        session.add(row)
        if fee is not None:
            with_fee.append(row)
    return with_fee


def _fees(rows: Iterable[TollCondition]) -> dict[str, str]:
    return {row.operator.value: str(row.connection_fee) for row in rows if row.connection_fee is not None}


def _total(fees: dict[str, str]) -> Decimal | None:
    return sum((Decimal(fee) for fee in fees.values()), Decimal("0.00")) if fees else None


# --- references, requests, documents, audit -----------------------------------------------------

def _default_shipping(session: Session, spec: CardSpec) -> CardSpec:
    if spec.shipping_address_id is not None or spec.customer_number_id is None:
        return spec
    address_id = session.exec(
        select(Address.id).where(Address.customer_number_id == spec.customer_number_id,
                                 Address.kind == AddressKind.SHIPPING).order_by(Address.id)
    ).first()
    return replace(spec, shipping_address_id=address_id)


def _reference_problems(session: Session, spec: CardSpec, card: Card | None = None) -> list[FieldProblem]:
    """The checks that need the database: divisions, addresses and linked cards of the same customer number."""
    problems: list[FieldProblem] = []
    number_id = spec.customer_number_id
    if number_id is None:
        return problems
    if spec.division_id is not None:
        division = session.get(FleetDivision, spec.division_id)
        if division is None or division.customer_number_id != number_id:
            problems.append(FieldProblem("division_id", _("This fleet division belongs to another customer number: "
                                                          "choose one of this customer number's divisions.")))
    if spec.shipping_address_id is None:
        problems.append(FieldProblem("shipping_address_id", _("This customer number has no shipping address yet: "
                                                              "ask your contact person to register one.")))
    else:
        address = session.get(Address, spec.shipping_address_id)
        if address is None or address.customer_number_id != number_id or address.kind is not AddressKind.SHIPPING:
            problems.append(FieldProblem("shipping_address_id",
                                         _("Choose one of this customer number's shipping addresses.")))
    # Only a new link is checked: a card whose linked product was blocked since must stay changeable.
    if spec.linked_card_id is not None and (card is None or spec.linked_card_id != card.linked_card_id):
        linked = session.get(Card, spec.linked_card_id)
        if card is not None and spec.linked_card_id == card.id:
            problems.append(FieldProblem("linked_card_id", _("A card cannot be linked to itself.")))
        elif linked is None or linked.customer_number_id != number_id or linked.status in FINAL_CARD_STATUSES:
            problems.append(FieldProblem("linked_card_id", _("Link a card or OBU of the same customer number that "
                                                             "is not blocked, deleted or expired.")))
        elif linked.product_type.is_obu == spec.product_type.is_obu:
            problems.append(FieldProblem("linked_card_id",
                                         _("Link a fleet card with an OBU, not two of the same kind.")))
    return problems


def _checked(session: Session, spec: CardSpec, card: Card | None = None) -> CardSpec:
    spec = _default_shipping(session, spec)
    problems = validate_spec(spec, card) + _reference_problems(session, spec, card)
    if problems:
        raise InvalidSpec(problems)
    return spec


def _customer_of(session: Session, card: Card) -> Customer:
    number = session.get(CustomerNumber, card.customer_number_id)
    return session.get(Customer, number.customer_id)


def _audit(session: Session, actor: Actor, now: datetime, card: Card, action: str,
           before: dict | None = None, after: dict | None = None) -> None:
    audit.record(session, actor, now, "card", card.id, action, before=before, after=after,
                 customer_id=_customer_of(session, card).id)


def _card_record(card: Card) -> dict:
    # The PIN hash stays out of the audit trail too: it is a secret, even hashed.
    return card.model_dump(exclude={"pin_hash"})


def _new_request(session: Session, actor: Actor, now: datetime, card: Card, kind: RequestKind, *,
                details: dict | None = None, status: RequestStatus = RequestStatus.SUBMITTED,
                reason: str | None = None, fee: Decimal | None = None) -> Request:
    request = Request(customer_number_id=card.customer_number_id, card_id=card.id, kind=kind, status=status,
                      reason=reason, details=details or {}, fee=fee, created_by_id=actor.user_id, created_at=now)
    session.add(request)
    session.flush()
    return request


def _open_requests(session: Session, card: Card, kinds: Iterable[RequestKind] | None = None,
                   statuses: Iterable[RequestStatus] = OPEN_REQUEST_STATUSES) -> list[Request]:
    query = select(Request).where(Request.card_id == card.id, Request.status.in_(list(statuses)))
    if kinds is not None:
        query = query.where(Request.kind.in_(list(kinds)))
    return list(session.exec(query.order_by(Request.id)).all())


def _stop_open_requests(session: Session, now: datetime, card: Card, reason: str) -> list[int]:
    stopped = []
    for request in _open_requests(session, card):
        request.status, request.reason, request.updated_at = RequestStatus.REJECTED, reason, now
        session.add(request)
        stopped.append(request.id)
    return stopped


def _has_certificate(documents: Iterable[DocumentSpec]) -> bool:
    return any(document.kind is DocumentKind.REGISTRATION_CERTIFICATE for document in documents)


def _store_document(session: Session, actor: Actor, now: datetime, card: Card, spec: DocumentSpec,
                    request: Request | None) -> tuple[Document, list[int]]:
    """Store the file; a registration certificate releases the card's requests that wait for one.

    Returns the document and the ids of the released requests. The issuer's 24 hours count from the release.
    """
    waiting = _open_requests(session, card, statuses=[RequestStatus.WAITING_FOR_DOCUMENT])
    released = []
    if spec.kind is DocumentKind.REGISTRATION_CERTIFICATE:
        for waiting_request in waiting:
            waiting_request.status, waiting_request.reason = RequestStatus.SUBMITTED, None
            waiting_request.updated_at = now
            session.add(waiting_request)
            released.append(waiting_request.id)
    if request is None and waiting:
        request = waiting[0]
    document = Document(
        card_id=card.id, request_id=request.id if request else None, kind=spec.kind,
        filename=clean_text(spec.filename), content_type=content_type_of(spec.content), size=len(spec.content),
        sha256=hashlib.sha256(spec.content).hexdigest(), content=spec.content, uploaded_at=now,
        uploaded_by_id=actor.user_id,
    )
    session.add(document)
    session.flush()
    return document, released


def _card_for_update(session: Session, actor: Actor, card_id: int) -> Card:
    # Fresh from the database and locked (PostgreSQL) until the commit, whatever the session had cached.
    card = session.get(Card, card_id, populate_existing=True, with_for_update=True)
    if card is None:
        raise NotFound(_("This card or OBU does not exist."))
    actor.require_customer_number(card.customer_number_id)
    return card


def _local_time(session: Session, card: Card, moment: datetime) -> str:
    customer = _customer_of(session, card)
    return f"{moment.astimezone(ZoneInfo(customer.timezone)):%d/%m/%Y %H:%M}"


def _check_version(session: Session, card: Card, expected_version: int) -> None:
    if card.version == expected_version:
        return
    last = session.exec(
        select(AuditEvent).where(AuditEvent.object_type == "card", AuditEvent.object_id == str(card.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    obu = card.product_type.is_obu
    if last:
        message = (_("This OBU was changed by {actor} at {time} meanwhile; your input is kept — review it and save "
                     "again.") if obu else
                   _("This card was changed by {actor} at {time} meanwhile; your input is kept — review it and save "
                     "again."))
        raise StaleObject(message.format(actor=last.actor_label, time=_local_time(session, card, last.occurred_at)))
    raise StaleObject(_("This OBU was changed meanwhile; your input is kept — review it and save again.") if obu else
                      _("This card was changed meanwhile; your input is kept — review it and save again."))


# --- create and copy ------------------------------------------------------------------------------

def _create(session: Session, actor: Actor, now: datetime, spec: CardSpec, kind: RequestKind,
            details: dict) -> tuple[Card, Request]:
    if spec.customer_number_id is not None:
        actor.require_customer_number(spec.customer_number_id)
    spec = _checked(session, spec)
    card = Card(customer_number_id=spec.customer_number_id, division_id=spec.division_id,
                product_type=spec.product_type, status=CardStatus.NEW, created_at=now)
    _write_settings(card, spec)
    _write_pin(card, spec)
    session.add(card)
    session.flush()
    _write_limits(session, card, spec)
    fees = _fees(_write_toll(session, card, spec))
    waiting = spec.product_type.is_obu and not _has_certificate(spec.documents)
    request = _new_request(
        session, actor, now, card, kind, details={**details, **({"toll_fees": fees} if fees else {})},
        status=RequestStatus.WAITING_FOR_DOCUMENT if waiting else RequestStatus.SUBMITTED,
        reason=WAITING_FOR_CERTIFICATE if waiting else None, fee=_total(fees),
    )
    for document in spec.documents:
        _store_document(session, actor, now, card, document, request)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "created", after={**_card_record(card), "request_id": request.id,
                                                        "request_kind": kind})
    return card, request


@atomic
def create_card(session: Session, actor: Actor, now: datetime, spec: CardSpec) -> tuple[Card, Request]:
    """Fiches 03, 05: a new card or OBU (status new, no number yet) and its request to the issuer.

    An OBU's request waits for the vehicle registration certificate unless one is among the documents.
    """
    actor.require(Right.CARD_CREATE)
    return _create(session, actor, now, spec, RequestKind.CREATE, {})


@atomic
def copy_card(session: Session, actor: Actor, now: datetime, source_card_id: int, license_plate: str | None,
              pin: str | None = None, documents: Iterable[DocumentSpec] = ()) -> tuple[Card, Request]:
    """Fiche 04: a new card with the source's settings; only the licence plate and the PIN are new.

    Without a PIN the issuer computes one. The link to another product is not copied: it belongs to the
    source's vehicle. An OBU copy needs the new vehicle's registration certificate.
    """
    actor.require(Right.CARD_CREATE)
    source = session.get(Card, source_card_id)
    if source is None:
        raise NotFound(_("The card or OBU to copy does not exist."))
    actor.require_customer_number(source.customer_number_id)
    spec = replace(spec_from_card(session, source.id), license_plate=license_plate, pin=pin,
                   pin_origin=PinOrigin.CUSTOMER if pin is not None else PinOrigin.ISSUER, linked_card_id=None,
                   documents=tuple(documents))
    return _create(session, actor, now, spec, RequestKind.COPY,
                   {"source_card_id": source.id, "source_number": source.number})


# --- change (Fiches 07, 08) ----------------------------------------------------------------------

def _effect(card: Card, field_path: str, after: Any) -> ChangeEffect:
    if field_path.startswith("toll.") and after and connection_fee(TollOperator[field_path[5:].upper()]):
        return ChangeEffect.CONFIRMATION
    if card.status is CardStatus.NEW:
        return ChangeEffect.IMMEDIATE  # nothing produced yet: the order itself changes
    reproduction = OBU_REPRODUCTION_FIELDS if card.product_type.is_obu else CARD_REPRODUCTION_FIELDS
    return ChangeEffect.REPRODUCTION if field_path in reproduction else ChangeEffect.IMMEDIATE


def _show(session: Session, field_path: str, value: Any, after: bool) -> str:
    if field_path == "pin":
        if value is None:
            return _("none (driver codes)")
        fresh, origin = value
        # Shown only when it changes: the new side is always a new PIN. The PIN itself never appears.
        if after or fresh == "new":
            return _("new PIN chosen by you") if origin is PinOrigin.CUSTOMER else _("new PIN chosen by the issuer")
        return _("PIN chosen by you") if origin is PinOrigin.CUSTOMER else _("PIN chosen by the issuer")
    if field_path == "controls.allowed_countries" and not value:
        return _("all countries")
    if value is None or value == () or value == {}:
        return "—"
    if field_path == "division_id":
        division = session.get(FleetDivision, value)
        return division.name if division else str(value)
    if field_path == "shipping_address_id":
        address = session.get(Address, value)
        return f"{address.name}, {address.street}, {address.postal_code} {address.city}" if address else str(value)
    if field_path == "linked_card_id":
        linked = session.get(Card, value)
        return card_label(linked) if linked else str(value)
    if field_path == "controls.allowed_weekdays":
        return ", ".join(WEEKDAY_NAMES[day] for day in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, enum.Enum):
        return enum_label(value)
    if isinstance(value, tuple):
        return ", ".join(item.isoformat() if isinstance(item, date) else str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in sorted(value.items()))
    if isinstance(value, Decimal):  # the database pads to its scale: 300.00, 400.000
        return f"{value:.2f}" if field_path.endswith(".amount") else f"{value.normalize():f}"
    return str(value)


def _check_immutable(card: Card, new_spec: CardSpec) -> None:
    if new_spec.product_type is not card.product_type:
        raise DomainError(_("The type of an existing card or OBU cannot be changed: create a new one instead."),
                          field="product_type")
    if new_spec.customer_number_id != card.customer_number_id:
        raise DomainError(_("A card stays with its customer number: create a new card for the other customer "
                            "number instead."), field="customer_number_id")


def _changes(session: Session, card: Card, new_spec: CardSpec) -> list[FieldChange]:
    """The differences between the card and a checked spec for it."""
    before = _flat(spec_from_card(session, card.id))
    after = _flat(new_spec)
    changes = []
    for field_path, old in before.items():
        new = after[field_path]
        if old == new:
            continue
        if field_path == "pin" and before["code_type"] != after["code_type"]:
            continue  # the code type change already says the PIN goes or comes
        if field_path.endswith((".period", ".action")) and (old is None or new is None):
            continue  # a ceiling added or removed: its amount or volume line says so
        fee = connection_fee(TollOperator[field_path[5:].upper()]) if field_path.startswith("toll.") and new else None
        changes.append(FieldChange(field_path, field_label(field_path), _show(session, field_path, old, False),
                                   _show(session, field_path, new, True), _effect(card, field_path, new), fee))
    return changes


def preview_change(session: Session, card_id: int, new_spec: CardSpec) -> list[FieldChange]:
    """What saving `new_spec` would change, field by field, and whether each needs a new plastic.

    The user sees this before confirming (Fiche 07). Entering a PIN always counts as a change: comparing it
    with the current one would let anyone with the change right test PINs.
    """
    card = session.get(Card, card_id)
    if card is None:
        raise NotFound(_("This card or OBU does not exist."))
    _require_allowed(card, CardAction.CHANGE)
    _check_immutable(card, new_spec)
    return _changes(session, card, _checked(session, new_spec, card))


def _reproduction_note(card: Card) -> str:
    if card.product_type.is_obu:
        note = _("A new OBU with the same number and the next rank follows within 24 hours.")
        current = _("The current OBU stays valid until {expiry:%d/%m/%Y}: destroy it once the new one has arrived.")
    else:
        note = _("A new card with the same number and the next rank follows within 24 hours.")
        current = _("The current card stays valid until {expiry:%d/%m/%Y}: destroy it once the new one has arrived.")
    return f"{note} {current.format(expiry=card.expiry_date)}" if card.expiry_date else note


def _request_reproduction(session: Session, actor: Actor, now: datetime, card: Card,
                          changes: list[FieldChange], brings_certificate: bool) -> Request:
    """A CHANGE request; changes made before the issuer started go into the same request (one new plastic)."""
    needs_certificate = card.product_type.is_obu and not brings_certificate
    status = RequestStatus.WAITING_FOR_DOCUMENT if needs_certificate else RequestStatus.SUBMITTED
    listed = [{"field": c.field, "label": c.label, "before": c.before, "after": c.after} for c in changes]
    pending = _open_requests(session, card, [RequestKind.CHANGE],
                             [RequestStatus.SUBMITTED, RequestStatus.WAITING_FOR_DOCUMENT])
    if pending:
        request = pending[0]
        merged = {entry["field"]: entry for entry in request.details.get("changes", [])}
        for entry in listed:
            entry["before"] = merged.get(entry["field"], entry)["before"]
            merged[entry["field"]] = entry
        request.details = {**request.details, "changes": list(merged.values())}
        # New vehicle data needs a certificate that shows it.
        if needs_certificate and request.status is not RequestStatus.WAITING_FOR_DOCUMENT:
            request.status, request.updated_at = RequestStatus.WAITING_FOR_DOCUMENT, now
        request.reason = WAITING_FOR_CERTIFICATE if request.status is RequestStatus.WAITING_FOR_DOCUMENT else None
        session.add(request)
        return request
    return _new_request(session, actor, now, card, RequestKind.CHANGE, status=status,
                       reason=WAITING_FOR_CERTIFICATE if needs_certificate else None,
                       details={"changes": listed, "note": _reproduction_note(card)})


@atomic
def apply_change(session: Session, actor: Actor, now: datetime, card_id: int, new_spec: CardSpec,
                 expected_version: int) -> ChangeResult:
    """Save the change form (Fiches 07, 08): reconfigurations at once, reproductions as a CHANGE request.

    `expected_version` is the card's version when the form was loaded: if someone changed the card since,
    StaleObject says who and when, and nothing is saved. An OBU reproduction needs the registration
    certificate again (attach it with `new_spec.documents` or later with `attach_document`).
    """
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    _require_allowed(card, CardAction.CHANGE)
    _check_version(session, card, expected_version)
    _check_immutable(card, new_spec)
    new_spec = _checked(session, new_spec, card)
    changes = _changes(session, card, new_spec)
    if not changes and not new_spec.documents:
        return ChangeResult(card, [], None, None)
    _write_settings(card, new_spec)
    _write_pin(card, new_spec)
    _write_limits(session, card, new_spec)
    fees = _fees(_write_toll(session, card, new_spec))
    reproduction = [c for c in changes if c.effect is ChangeEffect.REPRODUCTION]
    request = None
    if reproduction:
        request = _request_reproduction(session, actor, now, card, reproduction, _has_certificate(new_spec.documents))
    toll_request = None
    if fees:
        toll_request = _new_request(session, actor, now, card, RequestKind.TOLL_CONDITIONS,
                                   details={"toll_fees": fees}, fee=_total(fees))
    for document in new_spec.documents:
        _store_document(session, actor, now, card, document, request)
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "changed",
           before={c.field: c.before for c in changes},
           after={**{c.field: c.after for c in changes},
                  "request_ids": [r.id for r in (request, toll_request) if r is not None]})
    return ChangeResult(card, changes, request, toll_request)


# --- block, delete, cancel, renew (Fiches 09, 12) ----------------------------------------------------

_DUPLICATE_SKIPS = frozenset({
    "id", "number", "rank", "status", "renewal_status", "cancelled_by_user", "expiry_date", "duplicate_of_id",
    "block_reason", "blocked_at", "created_at", "produced_at", "last_used_at", "version",
})


def _order_duplicate(session: Session, actor: Actor, now: datetime, blocked: Card,
                     reason: BlockReason) -> tuple[Card, Request]:
    """A new card with a new number later, with every setting of the blocked one (its PIN included)."""
    values = {name: getattr(blocked, name) for name in Card.model_fields if name not in _DUPLICATE_SKIPS}
    for name in ("allowed_weekdays", "forbidden_days", "allowed_countries"):
        values[name] = list(values[name])
    values["technical_properties"] = dict(values["technical_properties"])
    duplicate = Card(**values, status=CardStatus.NEW, duplicate_of_id=blocked.id, created_at=now)
    session.add(duplicate)
    session.flush()
    for row in session.exec(select(CardLimit).where(CardLimit.card_id == blocked.id)).all():
        session.add(CardLimit(card_id=duplicate.id, product=row.product, allowed=row.allowed, amount=row.amount,
                              volume=row.volume, period=row.period, action=row.action))
    unconfirmed = []
    for row in session.exec(select(TollCondition).where(TollCondition.card_id == blocked.id)).all():
        copy = TollCondition(card_id=duplicate.id, operator=row.operator, connection_fee=row.connection_fee,
                             confirmed=row.confirmed)
        session.add(copy)
        if not copy.confirmed:
            unconfirmed.append(copy)
    fees = _fees(unconfirmed)
    # Same vehicle as the blocked OBU, whose certificate the issuer already has: no new one needed.
    request = _new_request(session, actor, now, duplicate, RequestKind.DUPLICATE, fee=_total(fees),
                          details={"duplicate_of_id": blocked.id, "duplicate_of_number": blocked.number,
                                   "block_reason": reason.value, **({"toll_fees": fees} if fees else {})})
    record_card_versions(session, [duplicate.id], now)
    _audit(session, actor, now, duplicate, "created", after={**_card_record(duplicate), "request_id": request.id,
                                                             "request_kind": RequestKind.DUPLICATE})
    return duplicate, request


@atomic
def block_card(session: Session, actor: Actor, now: datetime, card_id: int, reason: BlockReason,
               duplicate: bool) -> BlockResult:
    """Fiche 09: block an active or in-production card or OBU for good, optionally ordering a duplicate.

    Every plastic of the number is blocked and its open requests stop. The duplicate is a new card (new
    number, given by the issuer) with the same settings.
    """
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    _require_allowed(card, CardAction.BLOCK)
    before = {"status": card.status}
    card.status, card.block_reason, card.blocked_at = CardStatus.BLOCKED, reason, now
    card.version += 1
    session.add(card)
    live = session.exec(select(Plastic).where(
        Plastic.card_id == card.id, Plastic.status.in_([CardStatus.ACTIVE, CardStatus.IN_PRODUCTION]))).all()
    for plastic in live:
        plastic.status = CardStatus.BLOCKED
        session.add(plastic)
    stopped = _stop_open_requests(session, now, card, f"Stopped: the {what(card)} was blocked ({reason.value}).")
    new_card, request = _order_duplicate(session, actor, now, card, reason) if duplicate else (None, None)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "blocked", before=before,
           after={"status": card.status, "block_reason": reason, "blocked_plastics": [p.rank for p in live],
                  "stopped_requests": stopped, "duplicate_card_id": new_card.id if new_card else None})
    return BlockResult(card, new_card, request)


@atomic
def delete_card(session: Session, actor: Actor, now: datetime, card_id: int) -> Card:
    """Fiche 09: delete a new card or OBU, which stops its production before it starts."""
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    _require_allowed(card, CardAction.DELETE)
    card.status = CardStatus.DELETED
    card.version += 1
    session.add(card)
    # Stored English (a database value), marked: the requests screen translates it when shown.
    stopped = _stop_open_requests(session, now, card, N_("Deleted by the customer before production."))
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "deleted", before={"status": CardStatus.NEW},
           after={"status": card.status, "stopped_requests": stopped})
    return card


@atomic
def cancel_card(session: Session, actor: Actor, now: datetime, card_id: int) -> Card:
    """Fiche 09: do not renew after expiry. Cancelling is not blocking: the card stays active until then."""
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    _require_allowed(card, CardAction.CANCEL)
    before = {"renewal_status": card.renewal_status, "cancelled_by_user": card.cancelled_by_user}
    card.renewal_status, card.cancelled_by_user = RenewalStatus.CANCELLED, True
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "cancelled", before=before,
           after={"renewal_status": card.renewal_status, "cancelled_by_user": True})
    return card


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def in_renewal_window(card: Card, today: date) -> bool:
    """Whether the card's renewal campaign has started: from the first day of the month 3 months before the
    month of its expiry date (Fiche 12; the timeline is in store.services.renewals)."""
    if card.expiry_date is None:
        return False
    index = card.expiry_date.year * 12 + card.expiry_date.month - 1 - RENEWAL_NOTICE_MONTHS
    return today >= date(index // 12, index % 12 + 1, 1)


@atomic
def renew_card(session: Session, actor: Actor, now: datetime, card_id: int) -> Card:
    """Fiche 12 "Renew": a cancelled card is renewed after all (candidate again once in the renewal window)."""
    actor.require(Right.CARD_MANAGE)
    card = _card_for_update(session, actor, card_id)
    _require_allowed(card, CardAction.RENEW)
    before = {"renewal_status": card.renewal_status, "cancelled_by_user": card.cancelled_by_user}
    today = local_date(_customer_of(session, card), now)
    card.renewal_status = RenewalStatus.CANDIDATE if in_renewal_window(card, today) else RenewalStatus.NONE
    card.cancelled_by_user = False
    card.version += 1
    session.add(card)
    record_card_versions(session, [card.id], now)
    _audit(session, actor, now, card, "renewal restored", before=before,
           after={"renewal_status": card.renewal_status, "cancelled_by_user": False})
    return card


# --- PIN reissue (Fiche 13) -------------------------------------------------------------------------

def _reissue_pin(session: Session, actor: Actor, now: datetime, card_id: int) -> CardActionResult:
    card = session.get(Card, card_id, populate_existing=True, with_for_update=True)
    if card is None:
        return CardActionResult(card_id, False, _("This card does not exist."), f"#{card_id}")
    label = card_label(card)
    if not actor.is_issuer and card.customer_number_id not in actor.customer_number_ids:
        return CardActionResult(card_id, False, _("You may not act for this card's customer number."), label)
    reason = refusal(card, CardAction.PIN_REISSUE)
    if reason:
        return CardActionResult(card_id, False, reason, label)
    pending = _open_requests(session, card, [RequestKind.PIN_REISSUE])
    if pending:
        return CardActionResult(card_id, False, _("A new PIN is already requested for this card (request "
                                                  "{request}).").format(request=pending[0].id), label)
    before = {"pin_origin": card.pin_origin}
    card.pin_origin, card.pin_hash = PinOrigin.ISSUER, None
    card.version += 1
    session.add(card)
    request = _new_request(session, actor, now, card, RequestKind.PIN_REISSUE,
                          details={"note": _reproduction_note(card)})
    _audit(session, actor, now, card, "pin reissue requested", before=before,
           after={"pin_origin": card.pin_origin, "request_id": request.id})
    return CardActionResult(card_id, True, _("New PIN requested. {note}").format(note=_reproduction_note(card)),
                            label, request.id)


@atomic
def reissue_pins(session: Session, actor: Actor, now: datetime, card_ids: Iterable[int]) -> list[CardActionResult]:
    """Fiche 13 "Reissue PIN" on a selection: a new card (same number, next rank) with a PIN the issuer
    computes, for each active PIN card; every refused card is listed with its reason."""
    actor.require(Right.CARD_MANAGE)
    return [_reissue_pin(session, actor, now, card_id) for card_id in card_ids]


# --- documents -------------------------------------------------------------------------------------

@atomic
def attach_document(session: Session, actor: Actor, now: datetime, card_id: int, spec: DocumentSpec) -> Document:
    """Attach a supporting document (PDF, JPEG or PNG up to 5 MB). A vehicle registration certificate
    releases the OBU's requests that wait for one (Fiche 05)."""
    if not (actor.has(Right.CARD_CREATE) or actor.has(Right.CARD_MANAGE)):
        raise PermissionDenied(_("You need the right “{create}” or “{manage}” to attach documents. Ask an "
                                 "administrator to grant it.").format(create=right_label(Right.CARD_CREATE),
                                                                      manage=right_label(Right.CARD_MANAGE)))
    card = _card_for_update(session, actor, card_id)
    if card.status in FINAL_CARD_STATUSES:
        message = (_("This OBU is {status}: documents can no longer be attached.") if card.product_type.is_obu else
                   _("This card is {status}: documents can no longer be attached."))
        raise DomainError(message.format(status=enum_label(card.status)))
    problems = document_problems(spec)
    if problems:
        raise InvalidSpec(problems)
    document, released = _store_document(session, actor, now, card, spec, None)
    _audit(session, actor, now, card, "document attached",
           after={"document_id": document.id, "kind": document.kind, "filename": document.filename,
                  "sha256": document.sha256, "released_requests": released})
    return document
