"""The card lifecycle as a state machine: random create, produce, change, PIN reissue, block, delete and cancel
on random cards must keep the issuer's promises about numbers, ranks and blocked plastics."""
from __future__ import annotations

import itertools
import os
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlmodel import SQLModel, select
from test_cards import CERTIFICATE, World

from store.db import Database, FixedClock
from store.issuer.numbering import is_luhn_valid
from store.issuer.production import process_requests
from store.models import BlockReason, Card, CardStatus, Plastic, RenewalStatus
from store.services.cards import (
    apply_change,
    attach_document,
    block_card,
    cancel_card,
    create_card,
    delete_card,
    reissue_pins,
    spec_from_card,
)
from store.services.errors import DomainError

START = FixedClock().current
LIVE = (CardStatus.ACTIVE, CardStatus.IN_PRODUCTION)
FINAL = (CardStatus.BLOCKED, CardStatus.DELETED, CardStatus.EXPIRED)
MAX_CREATED = 4  # few cards, so that the 20 steps of an example mostly act on them


class CardLifecycle(RuleBasedStateMachine):
    cards = Bundle("cards")

    def __init__(self, url: str):
        super().__init__()
        self.db = Database(url, clock=FixedClock(START))
        if self.db.engine.dialect.name == "postgresql":
            with self.db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        SQLModel.metadata.create_all(self.db.engine)  # test_migrations proves it equals the migrations
        self.session = self.db.session()
        self.world = World.build(self.session, self.now)
        self.plates = itertools.count(100)
        self.created = 0
        self.numbers: dict[int, str] = {}  # card id -> the number it was given
        self.ranks: dict[int, int] = {}
        self.blocked_plastics: set[tuple[int, int]] = set()

    @property
    def now(self):
        return self.db.clock.now()

    def teardown(self) -> None:
        self.session.close()
        self.db.dispose()

    def card(self, card_id: int) -> Card:
        return self.session.get(Card, card_id)

    def plate(self) -> str:
        return f"1-LIF-{next(self.plates)}"

    # --- rules ----------------------------------------------------------------------------------------

    @precondition(lambda self: self.created < MAX_CREATED)
    @rule(target=cards, obu=st.booleans(), with_certificate=st.booleans())
    def create(self, obu, with_certificate):
        self.created += 1
        documents = (CERTIFICATE,) if with_certificate else ()
        spec = (self.world.obu_spec(documents=documents) if obu
                else self.world.card_spec(license_plate=self.plate()))
        card, _ = create_card(self.session, self.world.actor, self.now, spec)
        assert card.status is CardStatus.NEW and card.number is None
        return card.id

    @rule(hours=st.sampled_from([12, 24, 48]), all_due=st.booleans())
    def process(self, hours, all_due):
        self.db.clock.advance(timedelta(hours=hours))
        process_requests(self.session, self.now, all_due=all_due)

    @rule(card_id=cards)
    def attach_certificate(self, card_id):
        status = self.card(card_id).status
        try:
            attach_document(self.session, self.world.actor, self.now, card_id, CERTIFICATE)
            assert status not in FINAL
        except DomainError:
            assert status in FINAL

    @rule(target=cards, card_id=cards, reason=st.sampled_from(BlockReason), duplicate=st.booleans())
    def block(self, card_id, reason, duplicate):
        status = self.card(card_id).status
        try:
            result = block_card(self.session, self.world.actor, self.now, card_id, reason, duplicate)
        except DomainError:
            assert status not in LIVE
            return multiple()
        assert status in LIVE
        for plastic in self.session.exec(select(Plastic).where(Plastic.card_id == card_id)):
            self.blocked_plastics.add((card_id, plastic.rank))
        return multiple(result.duplicate.id) if duplicate else multiple()

    @rule(card_id=cards)
    def delete(self, card_id):
        status = self.card(card_id).status
        try:
            delete_card(self.session, self.world.actor, self.now, card_id)
            assert status is CardStatus.NEW
        except DomainError:
            assert status is not CardStatus.NEW

    @rule(card_id=cards)
    def cancel(self, card_id):
        card = self.card(card_id)
        expected = card.status is CardStatus.ACTIVE and card.renewal_status is RenewalStatus.NONE
        try:
            cancel_card(self.session, self.world.actor, self.now, card_id)
            assert expected
            assert self.card(card_id).status is CardStatus.ACTIVE  # cancelling is not blocking
        except DomainError:
            assert not expected

    @rule(card_id=cards, with_certificate=st.booleans())
    def change_plate(self, card_id, with_certificate):
        card = self.card(card_id)
        status, version = card.status, card.version
        spec = replace(spec_from_card(self.session, card_id), license_plate=self.plate(),
                       documents=(CERTIFICATE,) if with_certificate else ())
        try:
            result = apply_change(self.session, self.world.actor, self.now, card_id, spec, version)
        except DomainError:
            assert status in FINAL
            return
        assert status not in FINAL
        assert (result.reproduction_request is not None) == (status is not CardStatus.NEW)

    @rule(card_ids=st.lists(cards, min_size=1, max_size=3))
    def reissue_pin(self, card_ids):
        results = reissue_pins(self.session, self.world.actor, self.now, card_ids)
        assert [r.card_id for r in results] == card_ids
        for result in results:
            if result.ok:
                card = self.card(result.card_id)
                assert card.status is CardStatus.ACTIVE and not card.product_type.is_obu

    # --- invariants ------------------------------------------------------------------------------------

    @invariant()
    def numbers_are_unique_luhn_valid_and_never_change(self):
        cards = self.session.exec(select(Card)).all()
        numbers = [card.number for card in cards if card.number is not None]
        assert len(numbers) == len(set(numbers))
        for card in cards:
            if card.number is None:
                assert card.id not in self.numbers and card.status in (CardStatus.NEW, CardStatus.DELETED)
                continue
            assert is_luhn_valid(card.number)
            assert self.numbers.setdefault(card.id, card.number) == card.number

    @invariant()
    def ranks_only_grow(self):
        for card in self.session.exec(select(Card)).all():
            assert card.rank >= self.ranks.get(card.id, 0)
            self.ranks[card.id] = card.rank
            ranks = [p.rank for p in self.session.exec(select(Plastic).where(Plastic.card_id == card.id)
                                                       .order_by(Plastic.rank))]
            assert ranks == list(range(1, card.rank + 1))

    @invariant()
    def a_blocked_plastic_stays_blocked(self):
        for card_id, rank in self.blocked_plastics:
            plastic = self.session.exec(select(Plastic).where(Plastic.card_id == card_id,
                                                              Plastic.rank == rank)).one()
            assert plastic.status is CardStatus.BLOCKED
        for card in self.session.exec(select(Card).where(Card.status == CardStatus.BLOCKED)).all():
            statuses = {p.status for p in self.session.exec(select(Plastic).where(Plastic.card_id == card.id))}
            assert statuses <= {CardStatus.BLOCKED}

    @invariant()
    def an_active_card_has_an_active_plastic(self):
        for card in self.session.exec(select(Card).where(Card.status == CardStatus.ACTIVE)).all():
            plastics = self.session.exec(select(Plastic).where(Plastic.card_id == card.id)).all()
            assert CardStatus.ACTIVE in {p.status for p in plastics}


def test_card_lifecycle(tmp_path):
    examples = itertools.count()

    def machine() -> CardLifecycle:
        url = os.environ.get("CARDSONLINE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / f'{next(examples)}.db'}"
        return CardLifecycle(url)

    run_state_machine_as_test(machine, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]))
