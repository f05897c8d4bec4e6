"""The issuer's production batch: the 24-hour rule, numbering, ranks, shipping, toll confirmations, e-mails."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from test_cards import CERTIFICATE, World

from store.issuer.numbering import is_luhn_valid
from store.issuer.production import ISSUER_PREFIX, process_requests, recipients
from store.models import (
    AuditEvent,
    BlockReason,
    Card,
    CardStatus,
    CustomerNumber,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    Request,
    RequestStatus,
    Right,
    TollCondition,
    TollOperator,
)
from store.queries.cards import plastics
from store.services.card_specs import CONNECTION_FEES
from store.services.cards import (
    apply_change,
    attach_document,
    block_card,
    create_card,
    delete_card,
    reissue_pins,
    spec_from_card,
)

DAY = timedelta(hours=24)


@pytest.fixture
def world(session, clock) -> World:
    return World.build(session, clock.now())


def test_a_request_is_handled_after_24_hours_and_shipped_a_period_later(session, world, clock):
    created_at = clock.now()
    card, request = create_card(session, world.actor, clock.now(), world.card_spec())
    clock.advance(DAY - timedelta(minutes=1))
    report = process_requests(session, clock.now())
    assert report.handled == 0 and report.pending == 1
    assert session.get(Card, card.id).status is CardStatus.NEW

    clock.advance(timedelta(minutes=1))
    report = process_requests(session, clock.now())
    assert (report.into_production, report.numbers_given, report.emails_queued) == (1, 1, 0)
    card = session.get(Card, card.id)
    assert card.status is CardStatus.IN_PRODUCTION and card.rank == 1
    assert card.number.startswith(ISSUER_PREFIX + world.number.number) and is_luhn_valid(card.number)
    assert card.expiry_date == date(2030, 11, 27)  # 4 years from the day it went into production
    request = session.get(Request, request.id)
    assert (request.status, request.updated_at) == (RequestStatus.IN_PRODUCTION, created_at + DAY)
    [plastic] = plastics(session, card.id)
    assert (plastic.rank, plastic.status, plastic.expiry_date) == (1, CardStatus.IN_PRODUCTION, card.expiry_date)

    clock.advance(DAY - timedelta(seconds=1))
    assert process_requests(session, clock.now()).handled == 0
    clock.advance(timedelta(seconds=1))
    report = process_requests(session, clock.now())
    assert (report.shipped, report.pending) == (1, 0)
    card = session.get(Card, card.id)
    assert (card.status, card.produced_at) == (CardStatus.ACTIVE, clock.now())
    assert session.get(Request, request.id).status is RequestStatus.SHIPPED
    assert [p.status for p in plastics(session, card.id)] == [CardStatus.ACTIVE]
    issuer_events = session.exec(select(AuditEvent).where(AuditEvent.actor_label == "issuer")).all()
    assert {e.action for e in issuer_events} >= {"numbered", "in production", "plastic shipped", "shipped"}
    assert all(e.actor_user_id is None and e.customer_id == world.customer.id for e in issuer_events)


def test_the_expiry_is_four_years_on_from_the_production_day(session, world, clock):
    create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    [card] = session.exec(select(Card)).all()
    assert card.expiry_date == date(2030, 11, 26)


def test_numbers_are_luhn_valid_unique_and_follow_the_customer_numbers_sequence(session, world, clock):
    for index in range(4):
        create_card(session, world.actor, clock.now(), world.card_spec(license_plate=f"1-AAA-00{index}"))
    create_card(session, world.actor, clock.now(), world.card_spec(
        customer_number_id=world.other_number.id, division_id=world.foreign_division.id))
    report = process_requests(session, clock.now(), all_due=True)
    assert (report.numbers_given, report.shipped) == (5, 5)
    cards = session.exec(select(Card).order_by(Card.id)).all()
    numbers = [card.number for card in cards]
    assert len(set(numbers)) == 5 and all(is_luhn_valid(n) for n in numbers)
    assert [n[len(ISSUER_PREFIX):-1] for n in numbers] == [
        "402000100001", "402000100002", "402000100003", "402000100004", "402000200001"]
    assert session.get(CustomerNumber, world.number.id).card_sequence == 4


def test_reproductions_raise_the_rank_and_the_previous_plastic_stays_valid(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    card = session.get(Card, card.id)
    number, expiry = card.number, card.expiry_date
    apply_change(session, world.actor, clock.now(), card.id,
                 replace(spec_from_card(session, card.id), license_plate="1-NEW-001"), card.version)
    clock.advance(DAY)
    process_requests(session, clock.now())
    card = session.get(Card, card.id)
    assert (card.rank, card.status) == (2, CardStatus.ACTIVE)  # the rank-1 plastic still works
    assert [(p.rank, p.status) for p in plastics(session, card.id)] == [(1, CardStatus.ACTIVE),
                                                                        (2, CardStatus.IN_PRODUCTION)]
    clock.advance(DAY)
    process_requests(session, clock.now())
    [result] = reissue_pins(session, world.actor, clock.now(), [card.id])
    clock.advance(DAY)
    process_requests(session, clock.now())
    clock.advance(DAY)
    report = process_requests(session, clock.now())
    assert report.shipped == 1
    card = session.get(Card, card.id)
    assert (card.number, card.rank, card.expiry_date) == (number, 3, expiry)
    assert [(p.rank, p.status, p.expiry_date) for p in plastics(session, card.id)] == [
        (1, CardStatus.ACTIVE, expiry), (2, CardStatus.ACTIVE, expiry), (3, CardStatus.ACTIVE, expiry)]
    assert session.get(Request, result.request_id).details["rank"] == 3


def test_a_change_waits_for_the_first_plastic(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    clock.advance(DAY)
    process_requests(session, clock.now())
    change = apply_change(session, world.actor, clock.now(), card.id,
                          replace(spec_from_card(session, card.id), category="Van"), 2).reproduction_request
    clock.advance(DAY * 3)
    report = process_requests(session, clock.now())  # ships rank 1, then the change starts in the same run
    assert (report.shipped, report.into_production) == (1, 1)
    assert session.get(Request, change.id).details["rank"] == 2


def test_running_twice_at_the_same_moment_changes_nothing(session, world, clock):
    create_card(session, world.actor, clock.now(), world.card_spec())
    obu, _ = create_card(session, world.actor, clock.now(), world.obu_spec(
        toll_operators=(TollOperator.ASFINAG_AT,), documents=(CERTIFICATE,)))
    clock.advance(DAY)
    for all_due in (False, True):
        first = process_requests(session, clock.now(), all_due=all_due)
        counts = [session.exec(select(func.count()).select_from(model)).one()
                  for model in (AuditEvent, OutboxMessage, Request)]
        statuses = session.exec(select(Request.status).order_by(Request.id)).all()
        second = process_requests(session, clock.now(), all_due=all_due)
        assert first.handled > 0 and second.handled == 0 and second.emails_queued == 0
        assert [session.exec(select(func.count()).select_from(model)).one()
                for model in (AuditEvent, OutboxMessage, Request)] == counts
        assert session.exec(select(Request.status).order_by(Request.id)).all() == statuses


def test_all_due_carries_everything_through_in_one_run(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    report = process_requests(session, clock.now(), all_due=True)
    assert (report.into_production, report.shipped) == (1, 1)
    assert session.get(Card, card.id).status is CardStatus.ACTIVE
    assert str(report) == (
        "Issuer run at 2026-11-26 09:00 UTC. Requests taken into production: 1 (new card numbers: 1); shipped: 1; "
        "toll conditions confirmed: 0; driver codes posted: 0; rejected: 0; e-mails queued: 1. Still open: 0 "
        "waiting for a registration "
        "certificate, 0 for a later run.")


def test_an_obu_is_produced_only_once_its_certificate_has_arrived(session, world, clock):
    obu, request = create_card(session, world.actor, clock.now(), world.obu_spec())
    clock.advance(DAY * 5)
    report = process_requests(session, clock.now(), all_due=True)
    assert (report.handled, report.waiting_for_document) == (0, 1)
    assert "1 waiting for a registration certificate" in str(report)
    attach_document(session, world.actor, clock.now(), obu.id, CERTIFICATE)
    clock.advance(DAY - timedelta(minutes=1))
    assert process_requests(session, clock.now()).handled == 0  # the 24 hours count from the certificate
    clock.advance(timedelta(minutes=1))
    assert process_requests(session, clock.now()).into_production == 1
    assert session.get(Card, obu.id).status is CardStatus.IN_PRODUCTION


def test_toll_conditions_with_connection_costs_are_confirmed(session, world, clock):
    obu, request = create_card(session, world.actor, clock.now(), world.obu_spec(
        toll_operators=(TollOperator.VIAPASS_BE, TollOperator.VIA_T_ES), documents=(CERTIFICATE,)))
    process_requests(session, clock.now(), all_due=True)
    assert session.exec(select(TollCondition).where(TollCondition.confirmed == False)).all() == []  # noqa: E712
    spec = spec_from_card(session, obu.id)
    toll_request = apply_change(session, world.actor, clock.now(), obu.id,
                                replace(spec, toll_operators=spec.toll_operators + (TollOperator.EASYGO_DK,)),
                                session.get(Card, obu.id).version).toll_request
    clock.advance(DAY)
    report = process_requests(session, clock.now())
    assert report.toll_confirmed == 1
    assert session.get(Request, toll_request.id).status is RequestStatus.DONE
    row = session.exec(select(TollCondition).where(TollCondition.operator == TollOperator.EASYGO_DK)).one()
    assert row.confirmed
    [mail] = session.exec(select(OutboxMessage).where(OutboxMessage.created_at == clock.now())).all()
    assert f"EUR {CONNECTION_FEES[TollOperator.EASYGO_DK]}" in mail.body


def test_requests_of_blocked_deleted_or_expired_cards_are_not_produced(session, world, clock):
    blocked, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    expired, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    new, new_request = create_card(session, world.actor, clock.now(), world.card_spec())
    delete_card(session, world.actor, clock.now(), new.id)  # closes its request at once
    block_card(session, world.actor, clock.now(), blocked.id, BlockReason.THEFT, duplicate=False)
    [pin] = reissue_pins(session, world.actor, clock.now(), [expired.id])
    world.set_status(expired, CardStatus.EXPIRED)  # as the renewal batch would leave it
    report = process_requests(session, clock.now(), all_due=True)
    assert (report.rejected, report.into_production) == (1, 0)
    rejected = session.get(Request, pin.request_id)
    assert rejected.status is RequestStatus.REJECTED and "expired" in rejected.reason
    assert session.get(Request, new_request.id).status is RequestStatus.REJECTED
    assert session.get(Card, new.id).number is None
    assert [p.status for p in plastics(session, blocked.id)] == [CardStatus.BLOCKED]


def test_a_duplicate_gets_a_new_number(session, world, clock):
    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    result = block_card(session, world.actor, clock.now(), card.id, BlockReason.LOSS, duplicate=True)
    process_requests(session, clock.now(), all_due=True)
    duplicate = session.get(Card, result.duplicate.id)
    assert duplicate.status is CardStatus.ACTIVE and duplicate.rank == 1
    assert duplicate.number != session.get(Card, card.id).number and is_luhn_valid(duplicate.number)
    assert session.get(Card, card.id).status is CardStatus.BLOCKED


def test_the_customer_is_emailed_in_their_language(session, world, clock):
    card, request = create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    [mail] = session.exec(select(OutboxMessage)).all()  # the only administrator (right to manage users)
    card = session.get(Card, card.id)
    assert (mail.to_address, mail.language, mail.user_id) == ("fleetadmin@test.example", "nl", world.user.id)
    assert mail.subject == f"Uw kaart {card.number} is verzonden"
    assert f"verzoek {request.id} is afgehandeld" in mail.body and "(rang 1) voor 1-ABC-234" in mail.body
    assert "Mijn verzoeken" in mail.body


def test_request_done_notifications_decide_who_is_emailed(session, world, clock):
    depot = world.add_user("depot", [Right.CARD_MANAGE], clock.now(), language="fr")
    world.add_user("liege", [Right.USERS], clock.now(), numbers=(world.other_number,))
    assert [u.username for u in recipients(session, world.number.id)] == ["fleetadmin"]  # admins by default
    session.add(NotificationSetting(user_id=depot.id, kind=NotificationKind.REQUEST_DONE))
    session.add(NotificationSetting(user_id=world.user.id, kind=NotificationKind.REQUEST_DONE, enabled=False))
    session.commit()
    assert [u.username for u in recipients(session, world.number.id)] == ["depot"]

    card, _ = create_card(session, world.actor, clock.now(), world.card_spec())
    process_requests(session, clock.now(), all_due=True)
    card = session.get(Card, card.id)
    [mail] = session.exec(select(OutboxMessage)).all()
    assert (mail.to_address, mail.language) == ("depot@test.example", "fr")
    assert mail.subject == f"Expédition de votre carte {card.number}"
    # A reproduction's mail reminds that the previous plastic stays valid.
    apply_change(session, world.actor, clock.now(), card.id,
                 replace(spec_from_card(session, card.id), license_plate="1-NEW-001"), card.version)
    process_requests(session, clock.now(), all_due=True)
    last = session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert f"reste valable jusqu'au {card.expiry_date:%d/%m/%Y}" in last.body


def test_processing_time_must_be_positive(session, clock):
    with pytest.raises(ValueError, match="positive"):
        process_requests(session, clock.now(), processing_time=timedelta(0))
