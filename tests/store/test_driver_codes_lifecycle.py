"""A driver code's life as a state machine (Fiches 13-16): random create, rename, move, try to change the digits,
block a selection (5 or fewer: now; more: the next morning), unblock, let time pass and run the nightly batch.
The store must agree with a simple model of the rules at every step."""
from __future__ import annotations

import itertools
import os
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import text
from sqlmodel import SQLModel, select
from test_cards import World

from store.db import Database, FixedClock
from store.issuer.nightly import run_nightly
from store.models import DriverCode, DriverCodeStatus, Right
from store.services.driver_codes import (
    IMMEDIATE_BLOCK_MAX,
    NAME_MAX,
    block_driver_codes,
    create_driver_code,
    modify_driver_code,
    unblock_driver_codes,
)
from store.services.errors import DomainError

START = FixedClock().current
ACTIVE, PENDING, BLOCKED = DriverCodeStatus.ACTIVE, DriverCodeStatus.BLOCK_PENDING, DriverCodeStatus.BLOCKED
MAX_CREATED = 12


class DriverCodeLifecycle(RuleBasedStateMachine):
    codes = Bundle("codes")

    def __init__(self, url: str):
        super().__init__()
        self.db = Database(url, clock=FixedClock(START))
        if self.db.engine.dialect.name == "postgresql":
            with self.db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        SQLModel.metadata.create_all(self.db.engine)
        self.session = self.db.session()
        self.world = World.build(self.session, self.now)
        self.actor = self.world.actor_with("drivers", [Right.DRIVER_CODES_MANAGE, Right.DRIVER_CODES_CREATE],
                                           self.now)
        self.zone = ZoneInfo(self.world.customer.timezone)
        self.created = 0
        self.model: dict[int, dict] = {}  # code id -> {"code", "name", "status", "effective_at"}
        self.names = itertools.count()

    @property
    def now(self):
        return self.db.clock.now()

    def teardown(self) -> None:
        self.session.close()
        self.db.dispose()

    # --- rules ----------------------------------------------------------------------------------------

    @precondition(lambda self: self.created < MAX_CREATED)
    @rule(target=codes, digits=st.integers(0, 15), name_length=st.integers(0, NAME_MAX + 2))
    def create(self, digits, name_length):
        code, name = f"{digits:04d}", ("N" * name_length)
        taken = any(m["code"] == code for m in self.model.values())
        try:
            created = create_driver_code(self.session, self.actor, self.now, self.world.number.id,
                                         self.world.division.id, code, name)
        except DomainError:
            assert taken or not 1 <= name_length <= NAME_MAX
            return None
        assert not taken and 1 <= name_length <= NAME_MAX
        self.created += 1
        self.model[created.id] = {"code": code, "name": name, "status": ACTIVE, "effective_at": None}
        return created.id

    @rule(code_id=codes, name_length=st.integers(0, NAME_MAX + 2), move=st.booleans())
    def modify(self, code_id, name_length, move):
        if code_id is None:
            return
        name = f"{next(self.names)}".rjust(name_length, "M") if name_length else ""
        division = self.world.second_division if move else self.world.division
        try:
            modify_driver_code(self.session, self.actor, self.now, code_id, driver_name=name,
                               division_id=division.id)
        except DomainError:
            assert not 1 <= len(name) <= NAME_MAX
            return
        assert 1 <= len(name) <= NAME_MAX
        self.model[code_id]["name"] = name

    @rule(code_id=codes, digits=st.integers(0, 9999))
    def try_to_change_the_digits(self, code_id, digits):
        if code_id is None:
            return
        same = f"{digits:04d}" == self.model[code_id]["code"]
        try:
            modify_driver_code(self.session, self.actor, self.now, code_id, code=f"{digits:04d}")
            assert same
        except DomainError as refused:
            assert not same and "cannot change" in refused.message

    @rule(code_ids=st.lists(codes, min_size=1, max_size=8, unique=True))
    def block(self, code_ids):
        code_ids = [i for i in code_ids if i is not None]
        if not code_ids:
            return
        all_active = all(self.model[i]["status"] is ACTIVE for i in code_ids)
        try:
            plan = block_driver_codes(self.session, self.actor, self.now, code_ids)
        except DomainError:
            assert not all_active
            return
        assert all_active
        assert plan.immediate == (len(code_ids) <= IMMEDIATE_BLOCK_MAX)
        for i in code_ids:
            self.model[i]["status"] = BLOCKED if plan.immediate else PENDING
            self.model[i]["effective_at"] = plan.effective_at

    @rule(code_ids=st.lists(codes, min_size=1, max_size=8, unique=True))
    def unblock(self, code_ids):
        code_ids = [i for i in code_ids if i is not None]
        if not code_ids:
            return
        none_active = all(self.model[i]["status"] is not ACTIVE for i in code_ids)
        try:
            unblock_driver_codes(self.session, self.actor, self.now, code_ids)
        except DomainError:
            assert not none_active
            return
        assert none_active
        for i in code_ids:
            self.model[i]["status"], self.model[i]["effective_at"] = ACTIVE, None

    @rule(hours=st.sampled_from([1, 5, 11, 20, 24]), nightly=st.booleans())
    def time_passes(self, hours, nightly):
        self.db.clock.advance(timedelta(hours=hours))
        if nightly:
            run_nightly(self.session, self.now)
            for entry in self.model.values():
                if entry["status"] is PENDING and entry["effective_at"] <= self.now:
                    entry["status"] = BLOCKED

    # --- invariants ------------------------------------------------------------------------------------

    @invariant()
    def the_store_agrees_with_the_model(self):
        rows = {c.id: c for c in self.session.exec(select(DriverCode).execution_options(populate_existing=True))}
        assert set(rows) == set(self.model)
        for code_id, entry in self.model.items():
            row = rows[code_id]
            assert (row.code, row.driver_name, row.status) == (entry["code"], entry["name"], entry["status"])
            assert 1 <= len(row.driver_name) <= NAME_MAX
            if row.status is ACTIVE:
                assert row.blocked_at is None and row.block_effective_at is None
            if row.status is BLOCKED:
                assert row.blocked_at is not None
            if row.status is PENDING:
                assert row.blocked_at is None
                local = row.block_effective_at.astimezone(self.zone)
                assert (local.hour, local.minute) == (6, 0)

    @invariant()
    def digits_are_unique_in_the_customer_number(self):
        codes = [m["code"] for m in self.model.values()]
        assert len(codes) == len(set(codes))


def test_driver_code_lifecycle(tmp_path):
    examples = itertools.count()

    def machine() -> DriverCodeLifecycle:
        url = os.environ.get("CARDSONLINE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / f'{next(examples)}.db'}"
        return DriverCodeLifecycle(url)

    run_state_machine_as_test(machine, settings=settings(
        max_examples=30, stateful_step_count=25, deadline=None,
        # unique lists drawn from a bundle of a few codes reject many draws: an efficiency warning, not a failure
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
