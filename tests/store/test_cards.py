"""Cards and OBUs in the store (Fiches 03-05, 07-09, 13): specs, create, copy, change, block, delete,
cancel, PIN reissue, documents and My requests. `World` builds the test data for the other card tests too."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from store.models import (
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
    LimitAction,
    LimitPeriod,
    PinOrigin,
    Plastic,
    Product,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    Right,
    TollCondition,
    TollOperator,
    User,
    UserCustomerNumber,
    UserRight,
)
from store.queries.cards import list_requests
from store.services import auth
from store.services.card_specs import (
    CONNECTION_FEES,
    CardSpec,
    Controls,
    DocumentSpec,
    InvalidSpec,
    LimitSpec,
    ObuSettings,
    validate_spec,
)
from store.services.cards import (
    CardAction,
    ChangeEffect,
    allowed_actions,
    apply_change,
    attach_document,
    block_card,
    cancel_card,
    copy_card,
    create_card,
    delete_card,
    preview_change,
    reissue_pins,
    renew_card,
    spec_from_card,
)
from store.services.context import Actor, actor_for
from store.services.errors import DomainError, NotFound, PermissionDenied, StaleObject
from store.services.labels import right_label
from store.services.passwords import verify_password

CARD_RIGHTS = (Right.CARD_CREATE, Right.CARD_MANAGE, Right.CARD_REQUESTS, Right.USERS)
PDF = b"%PDF-1.4\n% a registration certificate\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
CERTIFICATE = DocumentSpec(DocumentKind.REGISTRATION_CERTIFICATE, "grijze-kaart.pdf", PDF)


@dataclass
class World:
    """One customer with two customer numbers, divisions, addresses and a fleet manager with every card right."""

    session: Session
    customer: Customer
    number: CustomerNumber
    other_number: CustomerNumber
    division: FleetDivision
    second_division: FleetDivision
    foreign_division: FleetDivision  # belongs to other_number
    shipping: Address
    user: User
    actor: Actor

    @classmethod
    def build(cls, session: Session, now: datetime, *, passwords: bool = False) -> World:
        """`passwords` gives the users a real (argon2, ~0.2 s) password; no card test logs in."""
        customer = Customer(name="Transports Test NV", driver_code_prefix="7310", created_at=now)
        session.add(customer)
        session.flush()
        number = CustomerNumber(customer_id=customer.id, number="4020001", name="Test Antwerpen")
        other_number = CustomerNumber(customer_id=customer.id, number="4020002", name="Test Liège")
        session.add_all([number, other_number])
        session.flush()
        division = FleetDivision(customer_number_id=number.id, name="Distribution")
        second_division = FleetDivision(customer_number_id=number.id, name="Long haul")
        foreign_division = FleetDivision(customer_number_id=other_number.id, name="Management")
        shipping = Address(customer_number_id=number.id, kind=AddressKind.SHIPPING, name="Transports Test",
                           street="Noorderlaan 100", postal_code="2030", city="Antwerpen")
        session.add_all([division, second_division, foreign_division, shipping,
                         Address(customer_number_id=other_number.id, kind=AddressKind.SHIPPING, name="Test Liège",
                                 street="Quai de Rome 12", postal_code="4000", city="Liège")])
        session.flush()
        world = cls(session, customer, number, other_number, division, second_division, foreign_division, shipping,
                    None, None)
        world.user = world.add_user("fleetadmin", CARD_RIGHTS, now, password=passwords)
        world.actor = actor_for(session, world.user)
        session.commit()
        return world

    def add_user(self, username: str, rights, now: datetime, *, password: bool = False,
                 numbers: tuple[CustomerNumber, ...] | None = None, language: str = "nl") -> User:
        user = User(customer_id=self.customer.id, username=username, last_name=username.upper(), first_name="TEST",
                    email=f"{username}@test.example", phone="0470000000", language=language)
        self.session.add(user)
        self.session.flush()
        if password:
            auth.set_password(self.session, user, "Start#2026", now)
        for number in numbers or (self.number, self.other_number):
            self.session.add(UserCustomerNumber(user_id=user.id, customer_number_id=number.id))
        for right in rights:
            self.session.add(UserRight(user_id=user.id, right=right))
        self.session.commit()
        return user

    def actor_with(self, username: str, rights, now: datetime, **kwargs) -> Actor:
        return actor_for(self.session, self.add_user(username, rights, now, **kwargs))

    def card_spec(self, **changes) -> CardSpec:
        return card_spec(**{"customer_number_id": self.number.id, "division_id": self.division.id, **changes})

    def obu_spec(self, **changes) -> CardSpec:
        return obu_spec(**{"customer_number_id": self.number.id, "division_id": self.division.id, **changes})

    def set_status(self, card: Card, status: CardStatus, **fields) -> Card:
        """Put a card in a status as the issuer would have left it (numbered and with a plastic once produced)."""
        card = self.session.get(Card, card.id)
        if status not in (CardStatus.NEW, CardStatus.DELETED) and card.number is None:
            self.number.card_sequence += 1
            card.number = f"70061{self.number.number}{self.number.card_sequence:05d}"
            card.rank, card.expiry_date = 1, date(2030, 11, 26)
            self.session.add(Plastic(card_id=card.id, rank=1, status=status, expiry_date=card.expiry_date))
            self.session.add(self.number)
        card.status = status
        for name, value in fields.items():
            setattr(card, name, value)
        self.session.add(card)
        self.session.commit()
        return card


def card_spec(**changes) -> CardSpec:
    """A valid fleet card; the ids only matter once it is saved (World.card_spec fills in real ones)."""
    spec = CardSpec(
        product_type=ProductType.FLEET_CARD, customer_number_id=1, division_id=1,
        license_plate="1-ABC-234", driver_name="Jan Peeters", category="Truck", vehicle_type="Truck",
        controls=Controls(tank_capacity_l=Decimal("400"), allowed_countries=("BE", "NL")),
        limits=(LimitSpec(Product.DIESEL, amount=Decimal("300.00"), period=LimitPeriod.DAY),
                LimitSpec(Product.ADBLUE), LimitSpec(Product.CAR_WASH, amount=Decimal("25"),
                                                     period=LimitPeriod.WEEK, action=LimitAction.NOTIFY)),
    )
    return replace(spec, **changes)


def obu_spec(**changes) -> CardSpec:
    spec = CardSpec(
        product_type=ProductType.PASSANGO_OBU, customer_number_id=1, division_id=1, license_plate="1-XYZ-987",
        obu=ObuSettings(vehicle_class="N3", weight_kg=18000, length_cm=1200, width_cm=255, height_cm=400,
                        axles=3, euro_class="EURO 6", technical_properties={"fuel": "diesel"}),
        toll_operators=(TollOperator.VIAPASS_BE, TollOperator.TOLL_COLLECT_DE),
    )
    return replace(spec, **changes)


@pytest.fixture
def world(session, clock) -> World:
    return World.build(session, clock.now())


def requests_of(session, card_id) -> list[Request]:
    return list(session.exec(select(Request).where(Request.card_id == card_id).order_by(Request.id)).all())


def card_events(session, card_id) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.object_type == "card",
                                                      AuditEvent.object_id == str(card_id))
                             .order_by(AuditEvent.id)).all())


# --- validation ------------------------------------------------------------------------------------

def test_the_example_specs_are_valid():
    assert validate_spec(card_spec()) == []
    assert validate_spec(obu_spec()) == []
    assert validate_spec(card_spec(license_plate=None, embossed_name="J. PEETERS")) == []
    assert validate_spec(card_spec(pin_origin=PinOrigin.CUSTOMER, pin="0000")) == []


def _obu(**changes) -> ObuSettings:
    base = ObuSettings(vehicle_class="N3", weight_kg=18000, length_cm=1200, width_cm=255, height_cm=400, axles=3,
                       euro_class="EURO 6")
    return replace(base, **changes)


CARD_PROBLEMS = [
    (dict(customer_number_id=None), "customer_number_id", "customer number"),
    (dict(division_id=None), "division_id", "fleet division"),
    (dict(license_plate=None, embossed_name="  "), "license_plate", "licence plate or a name"),
    (dict(license_plate="1-AB#-23"), "license_plate", "separated by hyphens"),
    (dict(license_plate="-ABC"), "license_plate", "separated by hyphens"),
    (dict(license_plate="1-ABC-234-567-890"), "license_plate", "at most 15 characters"),
    (dict(embossed_name="X" * 28), "embossed_name", "at most 27 characters"),
    (dict(driver_name="D" * 61), "driver_name", "at most 60"),
    (dict(pin_origin=PinOrigin.CUSTOMER), "pin", "Enter the 4-digit PIN"),
    (dict(pin_origin=PinOrigin.CUSTOMER, pin="12a4"), "pin", "exactly 4 digits"),
    (dict(pin_origin=PinOrigin.CUSTOMER, pin="12345"), "pin", "exactly 4 digits"),
    (dict(pin="1234"), "pin", "issuer computes"),
    (dict(code_type=CodeType.DRIVER_CODE, pin_origin=PinOrigin.CUSTOMER, pin="1234"), "pin", "driver codes"),
    (dict(controls=Controls(hours_from="08:00")), "controls.hours_to", "both the start and the end"),
    (dict(controls=Controls(hours_from="25:00", hours_to="18:00")), "controls.hours_from", "HH:MM"),
    (dict(controls=Controls(hours_from="18:00", hours_to="08:00")), "controls.hours_to", "end after"),
    (dict(controls=Controls(allowed_weekdays=())), "controls.allowed_weekdays", "at least one weekday"),
    (dict(controls=Controls(allowed_weekdays=(0, 1))), "controls.allowed_weekdays", "1 (Monday) to 7"),
    (dict(controls=Controls(allowed_weekdays=(1, 1))), "controls.allowed_weekdays", "at most once"),
    (dict(controls=Controls(forbidden_days=("2026-12-25",))), "controls.forbidden_days", "dates"),
    (dict(controls=Controls(allowed_countries=("BE", "XX"))), "controls.allowed_countries", "XX"),
    (dict(controls=Controls(tank_capacity_l=Decimal(0))), "controls.tank_capacity_l", "between 1 and 2000"),
    (dict(controls=Controls(tank_capacity_l=Decimal("2000.5"))), "controls.tank_capacity_l", "between 1 and 2000"),
    (dict(controls=Controls(max_transactions_per_day=100)), "controls.max_transactions_per_day", "1 to 99"),
    (dict(controls=Controls(max_transactions_per_day=0)), "controls.max_transactions_per_day", "1 to 99"),
    (dict(limits=(LimitSpec(Product.DIESEL, amount=Decimal("-5")),)), "limits.diesel.amount", "more than 0"),
    (dict(limits=(LimitSpec(Product.DIESEL, amount=Decimal("1.005")),)), "limits.diesel.amount", "2 decimals"),
    (dict(limits=(LimitSpec(Product.DIESEL, amount=12.5),)), "limits.diesel.amount", "must be a number"),
    (dict(limits=(LimitSpec(Product.LPG, volume=Decimal(0)),)), "limits.lpg.volume", "more than 0"),
    (dict(limits=(LimitSpec(Product.SHOP, allowed=False, amount=Decimal(10)),)), "limits.shop.amount",
     "not allowed"),
    (dict(limits=(LimitSpec(Product.DIESEL), LimitSpec(Product.DIESEL))), "limits.diesel.allowed", "twice"),
    (dict(obu=_obu()), "obu", "only apply to OBUs"),
    (dict(toll_operators=(TollOperator.VIAPASS_BE,)), "toll_operators", "only apply to OBUs"),
    (dict(documents=(DocumentSpec(DocumentKind.OTHER, "note.txt", b"hello"),)), "documents.0", "PDF, JPEG or PNG"),
    (dict(documents=(DocumentSpec(DocumentKind.OTHER, "scan.pdf", b""),)), "documents.0", "empty"),
    (dict(documents=(DocumentSpec(DocumentKind.OTHER, "big.pdf", PDF + b"0" * (5 * 1024 * 1024)),)),
     "documents.0", "the limit is 5 MB"),
]


@pytest.mark.parametrize("changes, field, fragment", CARD_PROBLEMS)
def test_card_validation_names_the_field(changes, field, fragment):
    problems = validate_spec(card_spec(**changes))
    assert [p.field for p in problems] == [field], problems
    assert fragment in problems[0].message


OBU_PROBLEMS = [
    (dict(obu=None), {"obu.vehicle_class", "obu.weight_kg", "obu.length_cm", "obu.width_cm", "obu.height_cm",
                      "obu.axles", "obu.euro_class"}),
    (dict(obu=_obu(vehicle_class="T9")), {"obu.vehicle_class"}),
    (dict(obu=_obu(weight_kg=80000)), {"obu.weight_kg"}),
    (dict(obu=_obu(axles=1)), {"obu.axles"}),
    (dict(obu=_obu(height_cm=None)), {"obu.height_cm"}),
    (dict(obu=_obu(euro_class="EURO 9")), {"obu.euro_class"}),
    (dict(obu=_obu(technical_properties={"": "x"})), {"obu.technical_properties"}),
    (dict(pin_origin=PinOrigin.CUSTOMER, pin="1234"), {"pin"}),
    (dict(toll_operators=(TollOperator.VIAPASS_BE, TollOperator.VIAPASS_BE)), {"toll_operators"}),
    (dict(product_type=ProductType.LIBERT_OBU, toll_operators=(TollOperator.SANEF_FR, TollOperator.ASFINAG_AT)),
     {"toll_operators"}),
]


@pytest.mark.parametrize("changes, fields", OBU_PROBLEMS)
def test_obu_validation_names_the_fields(changes, fields):
    assert {p.field for p in validate_spec(obu_spec(**changes))} == fields


def test_a_liber_t_obu_may_have_french_operators():
    spec = obu_spec(product_type=ProductType.LIBERT_OBU, toll_operators=(TollOperator.SANEF_FR, TollOperator.APRR_FR))
    assert validate_spec(spec) == []


def test_create_reports_every_problem_at_once_and_names_the_first_field(session, world, clock):
    spec = world.card_spec(license_plate=None, division_id=None, controls=Controls(max_transactions_per_day=500))
    with pytest.raises(InvalidSpec) as raised:
        create_card(session, world.actor, clock.now(), spec)
    error = raised.value
    assert isinstance(error, DomainError)
    assert [p.field for p in error.field_problems] == ["division_id", "license_plate",
                                                       "controls.max_transactions_per_day"]
    assert error.field == "division_id"
    assert len(error.problems) == 3 and "fleet division" in error.message
    assert session.exec(select(Card)).all() == []


@pytest.mark.parametrize("changes, field", [
    ("foreign_division", "division_id"),
    ("foreign_address", "shipping_address_id"),
    ("foreign_link", "linked_card_id"),
    ("card_link", "linked_card_id"),
])
def test_references_must_belong_to_the_same_customer_number(session, world, clock, changes, field):
    other_card, _ = create_card(session, world.actor, clock.now(),
                                world.card_spec(customer_number_id=world.other_number.id,
                                                division_id=world.foreign_division.id))
    own_card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    foreign_address = session.exec(select(Address).where(Address.customer_number_id == world.other_number.id)).one()
    spec = {
        "foreign_division": world.card_spec(division_id=world.foreign_division.id),
        "foreign_address": world.card_spec(shipping_address_id=foreign_address.id),
        "foreign_link": world.card_spec(linked_card_id=other_card.id),
        "card_link": world.card_spec(linked_card_id=own_card.id),  # two fleet cards
    }[changes]
    with pytest.raises(InvalidSpec) as raised:
        create_card(session, world.actor, clock.now(), spec)
    assert raised.value.field == field


# --- create -------------------------------------------------------------------------------------

def test_create_card_makes_a_new_unnumbered_card_and_a_submitted_request(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.card_spec(license_plate=" 1-abc-234 "))
    card = session.get(Card, card.id)
    assert (card.status, card.number, card.rank, card.version) == (CardStatus.NEW, None, 0, 1)
    assert card.license_plate == "1-ABC-234"
    assert card.shipping_address_id == world.shipping.id  # the customer number's shipping address by default
    assert (card.pin_origin, card.pin_hash) == (PinOrigin.ISSUER, None)
    assert card.allowed_countries == ["BE", "NL"] and card.created_at == clock.now()
    limits = {row.product: row for row in session.exec(select(CardLimit).where(CardLimit.card_id == card.id))}
    assert set(limits) == {Product.DIESEL, Product.ADBLUE, Product.CAR_WASH}
    assert limits[Product.DIESEL].amount == Decimal("300.00")
    assert limits[Product.CAR_WASH].action is LimitAction.NOTIFY
    assert (request.kind, request.status, request.card_id) == (RequestKind.CREATE, RequestStatus.SUBMITTED, card.id)
    assert request.created_by_id == world.user.id and request.created_at == clock.now()
    [event] = card_events(session, card.id)
    assert (event.action, event.actor_label, event.customer_id) == ("created", "fleetadmin", world.customer.id)
    assert event.after["request_id"] == request.id


def test_a_customer_pin_is_stored_only_as_an_argon2_hash(session, world, clock):
    pin = "4729"
    card, request = create_card(session, world.actor, clock.now(),
                                world.card_spec(pin_origin=PinOrigin.CUSTOMER, pin=pin))
    card = session.get(Card, card.id)
    assert card.pin_origin is PinOrigin.CUSTOMER
    assert card.pin_hash.startswith("$argon2id$") and verify_password(card.pin_hash, pin)
    assert pin not in repr(world.card_spec(pin_origin=PinOrigin.CUSTOMER, pin=pin))
    # Change it: the new PIN is hashed too; neither PIN appears anywhere in clear.
    new_pin = "8316"
    apply_change(session, world.actor, clock.now(), card.id, replace(spec_from_card(session, card.id), pin=new_pin),
                 card.version)
    card = session.get(Card, card.id)
    assert verify_password(card.pin_hash, new_pin) and not verify_password(card.pin_hash, pin)
    stored = [json.dumps(card.model_dump(exclude={"pin_hash"}), default=str)]
    stored += [json.dumps([e.before, e.after]) for e in session.exec(select(AuditEvent)).all()]
    stored += [json.dumps(r.details) + str(r.reason) for r in session.exec(select(Request)).all()]
    for text in stored:
        assert pin not in text and new_pin not in text
    assert all("pin_hash" not in e.after and "pin_hash" not in e.before for e in session.exec(select(AuditEvent)))


def test_an_obu_waits_for_the_registration_certificate(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.obu_spec())
    assert request.status is RequestStatus.WAITING_FOR_DOCUMENT
    assert "registration certificate" in request.reason
    clock.advance(timedelta(hours=3))
    document = attach_document(session, world.actor, clock.now(), card.id, CERTIFICATE)
    request = session.get(Request, request.id)
    assert (request.status, request.reason, request.updated_at) == (RequestStatus.SUBMITTED, None, clock.now())
    assert document.request_id == request.id and document.content_type == "application/pdf"
    assert document.size == len(PDF) and len(document.sha256) == 64
    assert card_events(session, card.id)[-1].after["released_requests"] == [request.id]


def test_an_obu_with_its_certificate_is_submitted_at_once(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.obu_spec(documents=(CERTIFICATE,)))
    assert request.status is RequestStatus.SUBMITTED
    [document] = session.exec(select(Document).where(Document.card_id == card.id)).all()
    assert document.request_id == request.id and document.content == PDF


def test_other_documents_do_not_release_the_obu(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.obu_spec())
    attach_document(session, world.actor, clock.now(), card.id, DocumentSpec(DocumentKind.OTHER, "photo.png", PNG))
    assert session.get(Request, request.id).status is RequestStatus.WAITING_FOR_DOCUMENT
    with pytest.raises(InvalidSpec, match="PDF, JPEG or PNG"):
        attach_document(session, world.actor, clock.now(), card.id,
                        DocumentSpec(DocumentKind.REGISTRATION_CERTIFICATE, "cert.pdf", b"GIF89a..."))


def test_toll_operators_with_connection_costs_wait_for_the_issuer(session, world, clock):
    spec = world.obu_spec(toll_operators=(TollOperator.VIAPASS_BE, TollOperator.ASFINAG_AT,
                                          TollOperator.AUTOSTRADE_IT), documents=(CERTIFICATE,))
    card, request = create_card(session, world.actor, clock.now(), spec)
    rows = {row.operator: row for row in session.exec(select(TollCondition).where(TollCondition.card_id == card.id))}
    assert rows[TollOperator.VIAPASS_BE].confirmed and rows[TollOperator.VIAPASS_BE].connection_fee is None
    assert not rows[TollOperator.ASFINAG_AT].confirmed
    assert rows[TollOperator.ASFINAG_AT].connection_fee == CONNECTION_FEES[TollOperator.ASFINAG_AT]
    assert request.fee == CONNECTION_FEES[TollOperator.ASFINAG_AT] + CONNECTION_FEES[TollOperator.AUTOSTRADE_IT]
    assert set(request.details["toll_fees"]) == {TollOperator.ASFINAG_AT.value, TollOperator.AUTOSTRADE_IT.value}


def test_create_for_a_customer_number_the_user_may_not_act_for(session, world, clock):
    actor = world.actor_with("antwerp", [Right.CARD_CREATE], clock.now(), numbers=(world.number,))
    spec = world.card_spec(customer_number_id=world.other_number.id, division_id=world.foreign_division.id)
    with pytest.raises(PermissionDenied, match="customer number"):
        create_card(session, actor, clock.now(), spec)


# --- rights ----------------------------------------------------------------------------------------

def _call(action: str, session, actor, now, card_id):
    return {
        "create": lambda: create_card(session, actor, now, replace(spec_from_card(session, card_id),
                                                                  license_plate="2-NEW-001")),
        "copy": lambda: copy_card(session, actor, now, card_id, "2-NEW-002"),
        "change": lambda: apply_change(session, actor, now, card_id,
                                       replace(spec_from_card(session, card_id), driver_name="Someone"), 1),
        "block": lambda: block_card(session, actor, now, card_id, BlockReason.LOSS, False),
        "delete": lambda: delete_card(session, actor, now, card_id),
        "cancel": lambda: cancel_card(session, actor, now, card_id),
        "renew": lambda: renew_card(session, actor, now, card_id),
        "pin reissue": lambda: reissue_pins(session, actor, now, [card_id]),
        "requests": lambda: list_requests(session, actor),
        "attach": lambda: attach_document(session, actor, now, card_id, CERTIFICATE),
    }[action]()


@pytest.mark.parametrize("action, right", [
    ("create", Right.CARD_CREATE), ("copy", Right.CARD_CREATE), ("change", Right.CARD_MANAGE),
    ("block", Right.CARD_MANAGE), ("delete", Right.CARD_MANAGE), ("cancel", Right.CARD_MANAGE),
    ("renew", Right.CARD_MANAGE), ("pin reissue", Right.CARD_MANAGE), ("requests", Right.CARD_REQUESTS),
    ("attach", Right.CARD_MANAGE),
])
def test_the_service_refuses_a_user_without_the_right(session, world, clock, action, right):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    missing = {right, Right.CARD_CREATE} if action == "attach" else {right}  # attach takes either right
    actor = world.actor_with("limited", [r for r in Right if r not in missing], clock.now())
    with pytest.raises(PermissionDenied, match=re.escape(f"“{right_label(right)}”")):
        _call(action, session, actor, clock.now(), card.id)
    # With the right (and only it) the same call passes the rights check.
    granted = world.actor_with("granted", [right], clock.now())
    try:
        _call(action, session, granted, clock.now(), card.id)
    except DomainError as error:  # a business rule may still say no (renewing a card that is not cancelled)
        assert not isinstance(error, PermissionDenied), error.message


def test_services_refuse_cards_of_a_customer_number_the_user_may_not_act_for(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(),
                          world.card_spec(customer_number_id=world.other_number.id,
                                          division_id=world.foreign_division.id))
    actor = world.actor_with("antwerp", CARD_RIGHTS, clock.now(), numbers=(world.number,))
    for action in ("copy", "change", "block", "delete", "cancel", "renew", "attach"):
        with pytest.raises(PermissionDenied, match="customer number"):
            _call(action, session, actor, clock.now(), card.id)
    [result] = reissue_pins(session, actor, clock.now(), [card.id])
    assert not result.ok and "customer number" in result.message


# --- every status x every action ------------------------------------------------------------------

EXPECTED_ACTIONS = {
    CardStatus.NEW: {CardAction.VIEW, CardAction.CHANGE, CardAction.COPY, CardAction.DELETE},
    CardStatus.IN_PRODUCTION: {CardAction.VIEW, CardAction.CHANGE, CardAction.COPY, CardAction.BLOCK},
    CardStatus.ACTIVE: {CardAction.VIEW, CardAction.CHANGE, CardAction.COPY, CardAction.BLOCK, CardAction.CANCEL,
                        CardAction.PIN_REISSUE},
    CardStatus.BLOCKED: {CardAction.VIEW, CardAction.COPY},
    CardStatus.DELETED: {CardAction.VIEW, CardAction.COPY},
    CardStatus.EXPIRED: {CardAction.VIEW, CardAction.COPY},
}
REFUSALS = {  # what the user reads for a few combinations that are easy to get wrong
    (CardStatus.NEW, CardAction.BLOCK): "not been produced yet, so it cannot be blocked: delete it instead",
    (CardStatus.BLOCKED, CardAction.CHANGE): "blocked card cannot be changed",
    (CardStatus.ACTIVE, CardAction.DELETE): "Block this one if it is lost, stolen or defect",
    (CardStatus.IN_PRODUCTION, CardAction.DELETE): "already in production",
    (CardStatus.ACTIVE, CardAction.RENEW): "not cancelled",
    (CardStatus.NEW, CardAction.PIN_REISSUE): "only be issued for an active card",
}


def _perform(action: CardAction, session, world, now, card: Card):
    if action is CardAction.VIEW:
        return spec_from_card(session, card.id)
    if action is CardAction.PIN_REISSUE:
        [result] = reissue_pins(session, world.actor, now, [card.id])
        if not result.ok:
            raise DomainError(result.message)
        return result
    name = {CardAction.CHANGE: "change", CardAction.COPY: "copy", CardAction.BLOCK: "block",
            CardAction.DELETE: "delete", CardAction.CANCEL: "cancel", CardAction.RENEW: "renew"}[action]
    return _call(name, session, world.actor, now, card.id)


@pytest.mark.parametrize("status", list(CardStatus))
@pytest.mark.parametrize("action", list(CardAction))
def test_each_action_in_each_status(session, world, clock, status, action):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    card = world.set_status(card, status)
    allowed = action in EXPECTED_ACTIONS[status]
    assert (action in allowed_actions(card)) == allowed
    before = session.get(Card, card.id).model_dump()
    if allowed:
        _perform(action, session, world, clock.now(), card)
        return
    with pytest.raises(DomainError) as raised:
        _perform(action, session, world, clock.now(), card)
    assert not isinstance(raised.value, PermissionDenied)
    if (status, action) in REFUSALS:
        assert REFUSALS[status, action] in raised.value.message
    session.expire_all()
    assert session.get(Card, card.id).model_dump() == before  # nothing half-applied


def test_pin_reissue_and_cancel_depend_on_more_than_the_status(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec(code_type=CodeType.DRIVER_CODE))
    obu, _ = create_card(session, world.actor, clock.now(), world.obu_spec())
    card = world.set_status(card, CardStatus.ACTIVE)
    obu = world.set_status(obu, CardStatus.ACTIVE)
    assert CardAction.PIN_REISSUE not in allowed_actions(card)
    assert CardAction.PIN_REISSUE not in allowed_actions(obu)
    renewing = world.set_status(card, CardStatus.ACTIVE, renewal_status=RenewalStatus.IN_RENEWAL)
    assert CardAction.CANCEL not in allowed_actions(renewing)
    with pytest.raises(DomainError, match="already in production"):
        cancel_card(session, world.actor, clock.now(), card.id)


# --- copy ------------------------------------------------------------------------------------------

def test_copy_takes_every_setting_but_plate_and_pin(session, world, clock):
    linked_obu, _ = create_card(session, world.actor, clock.now(), world.obu_spec(documents=(CERTIFICATE,)))
    source_spec = world.card_spec(division_id=world.second_division.id, linked_card_id=linked_obu.id,
                                  pin_origin=PinOrigin.CUSTOMER, pin="1357",
                                  controls=Controls(odometer_prompt=True, hours_from="06:00", hours_to="20:00",
                                                    forbidden_days=(date(2026, 12, 25),), allowed_weekdays=(1, 2, 3),
                                                    max_transactions_per_day=4))
    source, _ = create_card(session, world.actor, clock.now(), source_spec)
    source = world.set_status(source, CardStatus.ACTIVE)
    copy, request = copy_card(session, world.actor, clock.now(), source.id, "2-DEF-456")
    assert (request.kind, request.status) == (RequestKind.COPY, RequestStatus.SUBMITTED)
    assert request.details == {"source_card_id": source.id, "source_number": source.number}
    copied, original = spec_from_card(session, copy.id), spec_from_card(session, source.id)
    assert copied.license_plate == "2-DEF-456"
    assert copied.linked_card_id is None  # the link belongs to the source's vehicle
    assert copied.pin_origin is PinOrigin.ISSUER and session.get(Card, copy.id).pin_hash is None
    assert replace(copied, license_plate=original.license_plate, linked_card_id=original.linked_card_id,
                   pin_origin=original.pin_origin) == original
    with_pin, _ = copy_card(session, world.actor, clock.now(), source.id, "2-DEF-457", pin="2468")
    assert verify_password(session.get(Card, with_pin.id).pin_hash, "2468")


def test_copy_of_an_obu_keeps_its_settings_and_waits_for_the_new_vehicles_certificate(session, world, clock):
    source, _ = create_card(session, world.actor, clock.now(),
                            world.obu_spec(toll_operators=(TollOperator.ASFINAG_AT,), documents=(CERTIFICATE,)))
    copy, request = copy_card(session, world.actor, clock.now(), source.id, "2-OBU-001")
    assert request.status is RequestStatus.WAITING_FOR_DOCUMENT
    assert request.fee == CONNECTION_FEES[TollOperator.ASFINAG_AT]
    assert spec_from_card(session, copy.id).obu == spec_from_card(session, source.id).obu
    _, with_document = copy_card(session, world.actor, clock.now(), source.id, "2-OBU-002", documents=[CERTIFICATE])
    assert with_document.status is RequestStatus.SUBMITTED


def test_copy_of_a_missing_card(session, world, clock):
    with pytest.raises(NotFound):
        copy_card(session, world.actor, clock.now(), 999, "1-ABC-123")


def test_spec_from_card_gives_back_what_was_created(session, world, clock):
    spec = world.card_spec(controls=Controls(hours_from="07:00", hours_to="19:00", allowed_countries=("FR", "BE"),
                                             forbidden_days=(date(2027, 1, 1),), tank_capacity_l=Decimal("80.5")))
    card, _ = create_card(session, world.actor, clock.now(), spec)
    back = spec_from_card(session, card.id)
    assert back == replace(spec, shipping_address_id=world.shipping.id,
                           controls=replace(spec.controls, allowed_countries=("BE", "FR")))
    obu_spec = world.obu_spec()
    obu, _ = create_card(session, world.actor, clock.now(), obu_spec)
    assert spec_from_card(session, obu.id) == replace(obu_spec, shipping_address_id=world.shipping.id)


# --- change: the reproduction tables of Fiches 07 and 08 --------------------------------------------

def _limits(spec: CardSpec, product: Product, **changes) -> tuple[LimitSpec, ...]:
    return tuple(replace(limit, **changes) if limit.product is product else limit for limit in spec.limits)


CARD_FIELD_CHANGES = {  # field -> (how to change only it, the effect Fiche 07 gives it)
    "category": (lambda s, c: replace(s, category="Van"), ChangeEffect.REPRODUCTION),
    "license_plate": (lambda s, c: replace(s, license_plate="1-NEW-001"), ChangeEffect.REPRODUCTION),
    "embossed_name": (lambda s, c: replace(s, embossed_name="J. PEETERS"), ChangeEffect.REPRODUCTION),
    "limits.petrol_95.allowed": (lambda s, c: replace(s, limits=s.limits + (LimitSpec(Product.PETROL_95),)),
                                 ChangeEffect.REPRODUCTION),  # fuel/energy choice
    "limits.adblue.allowed": (lambda s, c: replace(s, limits=_limits(s, Product.ADBLUE, allowed=False)),
                              ChangeEffect.REPRODUCTION),
    "limits.parking.allowed": (lambda s, c: replace(s, limits=s.limits + (LimitSpec(Product.PARKING),)),
                               ChangeEffect.REPRODUCTION),  # chosen services
    "controls.odometer_prompt": (lambda s, c: replace(s, controls=replace(s.controls, odometer_prompt=True)),
                                 ChangeEffect.REPRODUCTION),
    "pin": (lambda s, c: replace(s, pin_origin=PinOrigin.CUSTOMER, pin="9876"), ChangeEffect.REPRODUCTION),
    "code_type": (lambda s, c: replace(s, code_type=CodeType.DRIVER_CODE), ChangeEffect.REPRODUCTION),
    "limits.diesel.amount": (lambda s, c: replace(s, limits=_limits(s, Product.DIESEL, amount=Decimal("350"))),
                             ChangeEffect.IMMEDIATE),  # fuel limit
    "limits.car_wash.amount": (lambda s, c: replace(s, limits=_limits(s, Product.CAR_WASH, amount=Decimal(40))),
                               ChangeEffect.IMMEDIATE),  # services limit
    "limits.diesel.period": (lambda s, c: replace(s, limits=_limits(s, Product.DIESEL, period=LimitPeriod.WEEK)),
                             ChangeEffect.IMMEDIATE),
    "limits.diesel.action": (lambda s, c: replace(s, limits=_limits(s, Product.DIESEL, action=LimitAction.NOTIFY)),
                             ChangeEffect.IMMEDIATE),
    "limits.adblue.volume": (lambda s, c: replace(s, limits=_limits(s, Product.ADBLUE, volume=Decimal("20"))),
                             ChangeEffect.IMMEDIATE),
    "controls.tank_capacity_l": (lambda s, c: replace(s, controls=replace(s.controls, tank_capacity_l=Decimal(500))),
                                 ChangeEffect.IMMEDIATE),
    "controls.forbidden_days": (lambda s, c: replace(s, controls=replace(s.controls,
                                                                         forbidden_days=(date(2026, 12, 25),))),
                                ChangeEffect.IMMEDIATE),
    "vehicle_type": (lambda s, c: replace(s, vehicle_type="Van"), ChangeEffect.IMMEDIATE),
    "division_id": (lambda s, c: replace(s, division_id=c.second_division_id), ChangeEffect.IMMEDIATE),
    "driver_name": (lambda s, c: replace(s, driver_name="Els Maes"), ChangeEffect.IMMEDIATE),
    "additional_mention": (lambda s, c: replace(s, additional_mention="POOL"), ChangeEffect.IMMEDIATE),
    "controls.allowed_weekdays": (lambda s, c: replace(s, controls=replace(s.controls, allowed_weekdays=(1, 2))),
                                  ChangeEffect.IMMEDIATE),
    "controls.allowed_countries": (lambda s, c: replace(s, controls=replace(s.controls, allowed_countries=())),
                                   ChangeEffect.IMMEDIATE),
    "controls.max_transactions_per_day": (lambda s, c: replace(s, controls=replace(s.controls,
                                                                                   max_transactions_per_day=5)),
                                          ChangeEffect.IMMEDIATE),
}

OBU_FIELD_CHANGES = {
    "license_plate": (lambda s, c: replace(s, license_plate="1-NEW-002"), ChangeEffect.REPRODUCTION),
    "embossed_name": (lambda s, c: replace(s, embossed_name="TRUCK 12"), ChangeEffect.REPRODUCTION),
    "obu.vehicle_class": (lambda s, c: replace(s, obu=replace(s.obu, vehicle_class="N2")), ChangeEffect.REPRODUCTION),
    "obu.weight_kg": (lambda s, c: replace(s, obu=replace(s.obu, weight_kg=12000)), ChangeEffect.REPRODUCTION),
    "obu.length_cm": (lambda s, c: replace(s, obu=replace(s.obu, length_cm=1000)), ChangeEffect.REPRODUCTION),
    "obu.width_cm": (lambda s, c: replace(s, obu=replace(s.obu, width_cm=250)), ChangeEffect.REPRODUCTION),
    "obu.height_cm": (lambda s, c: replace(s, obu=replace(s.obu, height_cm=380)), ChangeEffect.REPRODUCTION),
    "obu.axles": (lambda s, c: replace(s, obu=replace(s.obu, axles=4)), ChangeEffect.REPRODUCTION),
    "obu.euro_class": (lambda s, c: replace(s, obu=replace(s.obu, euro_class="EURO 5")), ChangeEffect.REPRODUCTION),
    "obu.technical_properties": (lambda s, c: replace(s, obu=replace(s.obu, technical_properties={"fuel": "lng"})),
                                 ChangeEffect.REPRODUCTION),
    "division_id": (lambda s, c: replace(s, division_id=c.second_division_id), ChangeEffect.IMMEDIATE),
    "additional_mention": (lambda s, c: replace(s, additional_mention="TRAILER"), ChangeEffect.IMMEDIATE),
    "linked_card_id": (lambda s, c: replace(s, linked_card_id=c.linked_card_id), ChangeEffect.IMMEDIATE),
    "toll.easygo_dk": (lambda s, c: replace(s, toll_operators=s.toll_operators + (TollOperator.EASYGO_DK,)),
                       ChangeEffect.CONFIRMATION),  # connection costs
    "toll.sanef_fr": (lambda s, c: replace(s, toll_operators=s.toll_operators + (TollOperator.SANEF_FR,)),
                      ChangeEffect.IMMEDIATE),  # no connection costs
    "toll.viapass_be": (lambda s, c: replace(s, toll_operators=(TollOperator.TOLL_COLLECT_DE,)),
                        ChangeEffect.IMMEDIATE),  # unticking costs nothing
}


@pytest.fixture
def active_card(session, world, clock) -> Card:
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    return world.set_status(card, CardStatus.ACTIVE)


@pytest.fixture
def active_obu(session, world, clock) -> Card:
    obu, _ = create_card(session, world.actor, clock.now(), world.obu_spec(documents=(CERTIFICATE,)))
    return world.set_status(obu, CardStatus.ACTIVE)


@pytest.mark.parametrize("field", list(CARD_FIELD_CHANGES))
def test_each_card_field_has_the_effect_of_fiche_07(session, world, active_card, field):
    change, effect = CARD_FIELD_CHANGES[field]
    context = SimpleNamespace(second_division_id=world.second_division.id)
    [only] = preview_change(session, active_card.id, change(spec_from_card(session, active_card.id), context))
    assert (only.field, only.effect) == (field, effect)
    assert only.label and only.before != only.after


@pytest.mark.parametrize("field", list(OBU_FIELD_CHANGES))
def test_each_obu_field_has_the_effect_of_fiche_08(session, world, clock, active_obu, field):
    linked, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    context = SimpleNamespace(second_division_id=world.second_division.id, linked_card_id=linked.id)
    change, effect = OBU_FIELD_CHANGES[field]
    [only] = preview_change(session, active_obu.id, change(spec_from_card(session, active_obu.id), context))
    assert (only.field, only.effect) == (field, effect)
    if effect is ChangeEffect.CONFIRMATION:
        assert only.fee == CONNECTION_FEES[TollOperator.EASYGO_DK]


def test_allowed_hours_change_at_once(session, world, active_card):
    spec = spec_from_card(session, active_card.id)
    changes = preview_change(session, active_card.id,
                             replace(spec, controls=replace(spec.controls, hours_from="06:00", hours_to="22:00")))
    assert {(c.field, c.effect) for c in changes} == {("controls.hours_from", ChangeEffect.IMMEDIATE),
                                                      ("controls.hours_to", ChangeEffect.IMMEDIATE)}


def test_preview_shows_names_not_ids_and_never_a_pin(session, world, active_card):
    spec = spec_from_card(session, active_card.id)
    changes = {c.field: c for c in preview_change(session, active_card.id, replace(
        spec, division_id=world.second_division.id, pin_origin=PinOrigin.CUSTOMER, pin="4321",
        controls=replace(spec.controls, allowed_countries=(), allowed_weekdays=(1, 7))))}
    assert (changes["division_id"].before, changes["division_id"].after) == ("Distribution", "Long haul")
    assert (changes["pin"].before, changes["pin"].after) == ("PIN chosen by the issuer", "new PIN chosen by you")
    assert changes["controls.allowed_countries"].after == "all countries"
    assert changes["controls.allowed_weekdays"].after == "Mon, Sun"


def test_a_new_card_changes_at_once_because_nothing_is_produced_yet(session, world, clock):
    card, create_request = create_card(session, world.actor, clock.now(), world.card_spec())
    spec = replace(spec_from_card(session, card.id), license_plate="9-NEW-999", category="Van")
    result = apply_change(session, world.actor, clock.now(), card.id, spec, 1)
    assert {c.effect for c in result.changes} == {ChangeEffect.IMMEDIATE}
    assert result.reproduction_request is None
    assert requests_of(session, card.id) == [create_request]
    assert session.get(Card, card.id).license_plate == "9-NEW-999"


def test_an_immediate_change_applies_at_once_without_a_request(session, world, clock, active_card):
    spec = spec_from_card(session, active_card.id)
    spec = replace(spec, limits=_limits(spec, Product.DIESEL, amount=Decimal("150")), driver_name="Els Maes")
    result = apply_change(session, world.actor, clock.now(), active_card.id, spec, 1)
    assert (result.reproduction_request, result.toll_request) == (None, None)
    card = session.get(Card, active_card.id)
    assert card.version == 2 and card.driver_name == "Els Maes"
    diesel = session.exec(select(CardLimit).where(CardLimit.card_id == card.id,
                                                  CardLimit.product == Product.DIESEL)).one()
    assert diesel.amount == Decimal("150.00")
    event = card_events(session, card.id)[-1]
    assert event.action == "changed" and event.before["driver_name"] == "Jan Peeters"
    assert (event.before["limits.diesel.amount"], event.after["limits.diesel.amount"]) == ("300.00", "150.00")


def test_a_reproduction_change_asks_the_issuer_for_a_new_plastic(session, world, clock, active_card):
    spec = replace(spec_from_card(session, active_card.id), license_plate="1-NEW-001", driver_name="Els Maes")
    result = apply_change(session, world.actor, clock.now(), active_card.id, spec, 1)
    request = result.reproduction_request
    assert (request.kind, request.status) == (RequestKind.CHANGE, RequestStatus.SUBMITTED)
    assert [c["field"] for c in request.details["changes"]] == ["license_plate"]
    assert "stays valid until 26/11/2030" in request.details["note"]
    assert session.get(Card, active_card.id).license_plate == "1-NEW-001"  # what the new plastic carries
    # A second change before the issuer starts joins the same request: one new plastic.
    spec = replace(spec, license_plate="1-NEW-002", category="Van")
    again = apply_change(session, world.actor, clock.now(), active_card.id, spec, 2)
    assert again.reproduction_request.id == request.id
    changes = {c["field"]: c for c in session.get(Request, request.id).details["changes"]}
    assert (changes["license_plate"]["before"], changes["license_plate"]["after"]) == ("1-ABC-234", "1-NEW-002")
    assert set(changes) == {"license_plate", "category"}


def test_an_obu_reproduction_needs_the_certificate_again(session, world, clock, active_obu):
    spec = spec_from_card(session, active_obu.id)
    result = apply_change(session, world.actor, clock.now(), active_obu.id,
                          replace(spec, obu=replace(spec.obu, axles=4)), 1)
    assert result.reproduction_request.status is RequestStatus.WAITING_FOR_DOCUMENT
    attach_document(session, world.actor, clock.now(), active_obu.id, CERTIFICATE)
    assert session.get(Request, result.reproduction_request.id).status is RequestStatus.SUBMITTED
    # With the certificate in the same change, the request is submitted at once.
    spec = spec_from_card(session, active_obu.id)
    result = apply_change(session, world.actor, clock.now(), active_obu.id,
                          replace(spec, license_plate="1-NEW-003", documents=(CERTIFICATE,)), 2)
    assert result.reproduction_request.status is RequestStatus.SUBMITTED


def test_toll_conditions_with_connection_costs_become_a_request_with_the_fee(session, world, clock, active_obu):
    spec = spec_from_card(session, active_obu.id)
    spec = replace(spec, toll_operators=spec.toll_operators + (TollOperator.EASYGO_DK, TollOperator.SANEF_FR),
                   additional_mention="TRAILER")
    result = apply_change(session, world.actor, clock.now(), active_obu.id, spec, active_obu.version)
    assert result.reproduction_request is None
    request = result.toll_request
    assert (request.kind, request.fee) == (RequestKind.TOLL_CONDITIONS, CONNECTION_FEES[TollOperator.EASYGO_DK])
    rows = {row.operator: row for row in session.exec(select(TollCondition).where(
        TollCondition.card_id == active_obu.id))}
    assert rows[TollOperator.SANEF_FR].confirmed and not rows[TollOperator.EASYGO_DK].confirmed


def test_changing_the_type_or_the_customer_number_is_refused(session, world, clock, active_card):
    spec = spec_from_card(session, active_card.id)
    with pytest.raises(DomainError) as raised:
        preview_change(session, active_card.id, replace(spec, product_type=ProductType.PASSANGO_OBU))
    assert raised.value.field == "product_type"
    with pytest.raises(DomainError) as raised:
        apply_change(session, world.actor, clock.now(), active_card.id,
                     replace(spec, customer_number_id=world.other_number.id), active_card.version)
    assert raised.value.field == "customer_number_id"


def test_saving_without_changes_changes_nothing(session, world, clock, active_card):
    result = apply_change(session, world.actor, clock.now(), active_card.id, spec_from_card(session, active_card.id),
                          active_card.version)
    assert result.changes == [] and session.get(Card, active_card.id).version == 1


def test_a_change_needs_a_valid_spec(session, world, clock, active_card):
    spec = replace(spec_from_card(session, active_card.id), controls=Controls(tank_capacity_l=Decimal(9999)))
    with pytest.raises(InvalidSpec) as raised:
        apply_change(session, world.actor, clock.now(), active_card.id, spec, active_card.version)
    assert raised.value.field == "controls.tank_capacity_l"
    # A customer PIN may stay empty in a change: the current one is kept.
    pin_card, _ = create_card(session, world.actor, clock.now(), world.card_spec(pin_origin=PinOrigin.CUSTOMER,
                                                                                 pin="1111"))
    spec = replace(spec_from_card(session, pin_card.id), driver_name="Els Maes")
    assert spec.pin is None and spec.pin_origin is PinOrigin.CUSTOMER
    apply_change(session, world.actor, clock.now(), pin_card.id, spec, 1)
    assert verify_password(session.get(Card, pin_card.id).pin_hash, "1111")


def test_a_second_writer_is_told_who_changed_the_card_meanwhile(db, session, world, clock, active_card):
    with db.session() as first, db.session() as second:
        form_first = spec_from_card(first, active_card.id)
        version_first = first.get(Card, active_card.id).version
        form_second = spec_from_card(second, active_card.id)
        version_second = second.get(Card, active_card.id).version
        other = world.actor_with("depot", CARD_RIGHTS, clock.now())
        clock.advance(timedelta(minutes=5))
        apply_change(first, other, clock.now(), active_card.id, replace(form_first, driver_name="Els Maes"),
                     version_first)
        with pytest.raises(StaleObject) as raised:
            apply_change(second, world.actor, clock.now(), active_card.id,
                         replace(form_second, driver_name="Piet Janssens"), version_second)
        # 09:05 UTC is 10:05 in Brussels, the customer's time zone.
        assert raised.value.message == ("This card was changed by depot at 26/11/2026 10:05 meanwhile; your input is "
                                        "kept — review it and save again.")
        second.expire_all()
        assert second.get(Card, active_card.id).driver_name == "Els Maes"
        # Saving again on the current version works.
        apply_change(second, world.actor, clock.now(), active_card.id,
                     replace(spec_from_card(second, active_card.id), driver_name="Piet Janssens"), version_first + 1)
    session.expire_all()
    assert session.get(Card, active_card.id).driver_name == "Piet Janssens"


# --- block, delete, cancel, renew ------------------------------------------------------------------

def test_block_with_a_duplicate(session, world, clock, active_obu):
    pending = apply_change(session, world.actor, clock.now(), active_obu.id,
                           replace(spec_from_card(session, active_obu.id), license_plate="1-NEW-004"),
                           active_obu.version).reproduction_request
    result = block_card(session, world.actor, clock.now(), active_obu.id, BlockReason.THEFT, duplicate=True)
    blocked = session.get(Card, active_obu.id)
    assert (blocked.status, blocked.block_reason, blocked.blocked_at) == (CardStatus.BLOCKED, BlockReason.THEFT,
                                                                          clock.now())
    assert {p.status for p in session.exec(select(Plastic).where(Plastic.card_id == blocked.id))} == {
        CardStatus.BLOCKED}
    stopped = session.get(Request, pending.id)
    assert stopped.status is RequestStatus.REJECTED and "blocked (theft)" in stopped.reason
    duplicate = result.duplicate
    assert (duplicate.status, duplicate.number, duplicate.rank) == (CardStatus.NEW, None, 0)
    assert duplicate.duplicate_of_id == blocked.id
    assert spec_from_card(session, duplicate.id) == spec_from_card(session, blocked.id)
    request = result.duplicate_request
    assert (request.kind, request.status, request.card_id) == (RequestKind.DUPLICATE, RequestStatus.SUBMITTED,
                                                               duplicate.id)
    assert request.details["duplicate_of_number"] == blocked.number
    assert [e.action for e in card_events(session, blocked.id)][-1] == "blocked"


def test_block_without_a_duplicate_and_the_block_is_final(session, world, clock, active_card):
    result = block_card(session, world.actor, clock.now(), active_card.id, BlockReason.DEFECT, duplicate=False)
    assert (result.duplicate, result.duplicate_request) == (None, None)
    assert session.exec(select(Card)).all() == [result.card]
    for action in (CardAction.CHANGE, CardAction.BLOCK, CardAction.DELETE, CardAction.CANCEL):
        with pytest.raises(DomainError):
            _perform(action, session, world, clock.now(), result.card)


def test_a_new_card_is_deleted_not_blocked(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.card_spec())
    with pytest.raises(DomainError, match="delete it instead"):
        block_card(session, world.actor, clock.now(), card.id, BlockReason.LOSS, duplicate=True)
    deleted = delete_card(session, world.actor, clock.now(), card.id)
    assert deleted.status is CardStatus.DELETED and deleted.version == 2
    request = session.get(Request, request.id)
    assert request.status is RequestStatus.REJECTED and request.reason == "Deleted by the customer before production."
    assert len(session.exec(select(Card)).all()) == 1  # blocking a new card made no duplicate either


def test_cancelling_is_not_blocking(session, world, clock, active_card):
    card = cancel_card(session, world.actor, clock.now(), active_card.id)
    assert card.status is CardStatus.ACTIVE
    assert (card.renewal_status, card.cancelled_by_user) == (RenewalStatus.CANCELLED, True)
    assert CardAction.BLOCK in allowed_actions(card) and CardAction.RENEW in allowed_actions(card)
    with pytest.raises(DomainError, match="already cancelled"):
        cancel_card(session, world.actor, clock.now(), card.id)
    card = renew_card(session, world.actor, clock.now(), card.id)  # expiry 2030: far from the renewal window
    assert (card.renewal_status, card.cancelled_by_user) == (RenewalStatus.NONE, False)
    block_card(session, world.actor, clock.now(), card.id, BlockReason.LOSS, duplicate=False)


def test_renewing_inside_the_window_makes_a_candidate_again(session, world, clock, active_card):
    world.set_status(active_card, CardStatus.ACTIVE, expiry_date=date(2027, 2, 26),
                     renewal_status=RenewalStatus.CANCELLED)
    card = renew_card(session, world.actor, clock.now(), active_card.id)
    assert card.renewal_status is RenewalStatus.CANDIDATE


def test_missing_cards(session, world, clock):
    for action in ("change", "block", "delete", "cancel", "renew", "attach"):
        with pytest.raises(NotFound):
            _call(action, session, world.actor, clock.now(), 999)


# --- PIN reissue -----------------------------------------------------------------------------------

def test_pin_reissue_handles_each_card_on_its_own(session, world, clock):
    def card(status, **changes):
        created, _ = create_card(session, world.actor, clock.now(), world.card_spec(**changes))
        return world.set_status(created, status)

    eligible = card(CardStatus.ACTIVE, pin_origin=PinOrigin.CUSTOMER, pin="1234")
    also_eligible = card(CardStatus.ACTIVE)
    driver_code = card(CardStatus.ACTIVE, code_type=CodeType.DRIVER_CODE)
    new = card(CardStatus.NEW)
    blocked = card(CardStatus.BLOCKED)
    foreign = card(CardStatus.ACTIVE, customer_number_id=world.other_number.id, division_id=world.foreign_division.id)
    obu, _ = create_card(session, world.actor, clock.now(), world.obu_spec())
    obu = world.set_status(obu, CardStatus.ACTIVE)
    actor = world.actor_with("antwerp", CARD_RIGHTS, clock.now(), numbers=(world.number,))
    ids = [eligible.id, driver_code.id, new.id, 999, blocked.id, obu.id, foreign.id, also_eligible.id, eligible.id]
    results = reissue_pins(session, actor, clock.now(), ids)
    assert [r.card_id for r in results] == ids
    assert [r.ok for r in results] == [True, False, False, False, False, False, False, True, False]
    messages = [r.message for r in results]
    assert "driver codes" in messages[1] and "active card" in messages[2] and "does not exist" in messages[3]
    assert "has no PIN" in messages[5] and "customer number" in messages[6]
    assert f"already requested for this card (request {results[0].request_id})" in messages[8]
    assert results[0].label == eligible.number
    for card_id in (eligible.id, also_eligible.id):
        [request] = [r for r in requests_of(session, card_id) if r.kind is RequestKind.PIN_REISSUE]
        assert request.status is RequestStatus.SUBMITTED
        refreshed = session.get(Card, card_id)
        assert (refreshed.pin_origin, refreshed.pin_hash) == (PinOrigin.ISSUER, None)
    assert not [r for r in requests_of(session, driver_code.id) if r.kind is RequestKind.PIN_REISSUE]


# --- documents -------------------------------------------------------------------------------------

def test_attach_refuses_blocked_cards(session, world, clock, active_obu):
    block_card(session, world.actor, clock.now(), active_obu.id, BlockReason.DEFECT, duplicate=False)
    with pytest.raises(DomainError, match="blocked: documents can no longer be attached"):
        attach_document(session, world.actor, clock.now(), active_obu.id, CERTIFICATE)


def test_jpeg_and_png_are_accepted_by_their_content(session, world, clock, active_card):
    jpeg = attach_document(session, world.actor, clock.now(), active_card.id,
                           DocumentSpec(DocumentKind.OTHER, "scan.pdf", b"\xff\xd8\xff\xe0JFIF"))
    assert jpeg.content_type == "image/jpeg"  # the bytes decide, not the name
    png = attach_document(session, world.actor, clock.now(), active_card.id,
                          DocumentSpec(DocumentKind.OTHER, "photo.png", PNG))
    assert png.content_type == "image/png" and png.request_id is None


# --- My requests -------------------------------------------------------------------------------------

def test_my_requests_filters_and_pages(session, world, clock):
    made = []
    for day in range(5):
        card, request = create_card(session, world.actor, clock.now(), world.card_spec(license_plate=f"1-AAA-00{day}"))
        made.append(request)
        clock.advance(timedelta(days=1))
    obu, obu_request = create_card(session, world.actor, clock.now(), world.obu_spec())
    foreign, foreign_request = create_card(session, world.actor, clock.now(), world.card_spec(
        customer_number_id=world.other_number.id, division_id=world.foreign_division.id))
    delete_card(session, world.actor, clock.now(), made[0].card_id)

    rows = list_requests(session, world.actor)
    assert [r.id for r in rows] == [foreign_request.id, obu_request.id] + [r.id for r in reversed(made)]
    assert rows[-1].status is RequestStatus.REJECTED and rows[-1].license_plate == "1-AAA-000"
    assert rows[0].customer_number == "4020002"

    antwerp = world.actor_with("antwerp", [Right.CARD_REQUESTS], clock.now(), numbers=(world.number,))
    assert foreign_request.id not in [r.id for r in list_requests(session, antwerp)]
    assert [r.id for r in list_requests(session, world.actor, status=RequestStatus.WAITING_FOR_DOCUMENT)] == [
        obu_request.id]
    assert [r.id for r in list_requests(session, world.actor, status=[RequestStatus.REJECTED,
                                                                      RequestStatus.WAITING_FOR_DOCUMENT])] == [
        obu_request.id, made[0].id]
    assert list_requests(session, world.actor, kind=RequestKind.COPY) == []
    # Days are the customer's: the second request was made on 27 Nov at 10:00 in Brussels.
    on_day = list_requests(session, world.actor, date_from=date(2026, 11, 27), date_to=date(2026, 11, 28))
    assert [r.id for r in on_day] == [made[2].id, made[1].id]
    first_page = list_requests(session, world.actor, limit=3)
    second_page = list_requests(session, world.actor, limit=3, after_id=first_page[-1].id)
    assert [r.id for r in first_page + second_page] == [r.id for r in rows[:6]]
