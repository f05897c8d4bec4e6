"""Card renewal (Fiche 12, issue 7): the issuer's campaign from M-4 to M+1 with the injectable clock, the user's
cancel / renew / configuration change, refusals, the board, and a state-machine test."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import shutil

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlmodel import select
from test_cards import CERTIFICATE, World

from store.issuer.renewals import run_renewals
from store.models import (
    AuditEvent,
    Card,
    CardLimit,
    CardStatus,
    Channel,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    Plastic,
    Product,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    Right,
)
from store.services import renewals
from store.services.card_specs import LimitSpec
from store.services.cards import cancel_card, create_card, spec_from_card
from store.services.errors import DomainError, PermissionDenied

EXPIRY = date(2027, 3, 15)  # M = March 2027: notice 1/12/2026, reminder 1/1, production 1/2, activation 1/3


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def fresh(world: World, card_id: int) -> Card:
    return world.session.get(Card, card_id, populate_existing=True)


def outbox(world: World, channel: Channel = Channel.EMAIL) -> list[OutboxMessage]:
    return list(world.session.exec(select(OutboxMessage).where(OutboxMessage.channel == channel)
                                   .order_by(OutboxMessage.id)).all())


def add_card(world: World, now: datetime, plate: str, last_used: datetime | None, expiry: date = EXPIRY,
             obu: bool = False) -> Card:
    spec = world.obu_spec(license_plate=plate, documents=(CERTIFICATE,)) if obu else world.card_spec(
        license_plate=plate)
    card, _ = create_card(world.session, world.actor, now, spec)
    card = world.set_status(card, CardStatus.ACTIVE)
    plastic = world.session.exec(select(Plastic).where(Plastic.card_id == card.id)).one()
    plastic.expiry_date = expiry
    world.session.add(plastic)
    return world.set_status(card, CardStatus.ACTIVE, expiry_date=expiry, last_used_at=last_used)


@pytest.fixture
def world(session, clock) -> World:
    world = World.build(session, clock.now())
    session.add(NotificationSetting(user_id=world.user.id, kind=NotificationKind.RENEWAL_NOTICE, enabled=True))
    session.commit()
    return world


@pytest.fixture
def renewer(world, clock):
    return world.actor_with("renewer", [Right.CARD_RENEWAL], clock.now(), language="en")


def test_a_full_campaign_from_m_minus_4_to_m_plus_1(session, world, clock, renewer):
    now = clock.now()  # 26/11/2026: M-4
    recent = now - timedelta(days=6)
    used = add_card(world, now, "1-USE-001", recent)  # used: candidate, nobody touches it
    unused = add_card(world, now, "1-OLD-001", datetime(2026, 7, 1, tzinfo=timezone.utc))  # cancelled, untouched
    cancel_me = add_card(world, now, "1-CAN-001", recent)  # candidate, the user cancels it
    renew_me = add_card(world, now, "1-REN-001", None)  # never used: cancelled, the user renews it
    configure = add_card(world, now, "1-CFG-001", recent)  # candidate, the user changes its configuration
    by_user = add_card(world, now, "1-BYU-001", recent)  # cancelled by the user (Fiche 09) before the campaign
    cancel_card(session, world.actor, now, by_user.id)
    later = add_card(world, now, "1-LAT-001", recent, expiry=date(2028, 5, 1))  # another campaign
    obu = add_card(world, now, "1-OBU-001", None, obu=True)  # OBUs are out of the campaign
    numbers = {card.id: card.number for card in (used, unused, cancel_me, renew_me, configure, by_user)}

    # M-4: nothing to do yet.
    report = run_renewals(session, now)
    assert report.changed == 0 and not outbox(world)
    assert renewals.renewal_status_list(session, renewer, now, world.number.id) == []

    # M-3: candidates and cancelled, one notice (e-mail and letter) listing both groups.
    notice_day = at(date(2026, 12, 1), 6)
    report = run_renewals(session, notice_day)
    assert (report.candidates, report.cancelled_unused, report.cancelled_by_user) == (3, 2, 0)
    assert report.notices == 1 and report.letters == 1 and report.emails_queued == 1
    statuses = {card_id: fresh(world, card_id).renewal_status for card_id in numbers}
    assert statuses == {used.id: RenewalStatus.CANDIDATE, unused.id: RenewalStatus.CANCELLED,
                        cancel_me.id: RenewalStatus.CANDIDATE, renew_me.id: RenewalStatus.CANCELLED,
                        configure.id: RenewalStatus.CANDIDATE, by_user.id: RenewalStatus.CANCELLED}
    assert fresh(world, later.id).renewal_status is RenewalStatus.NONE
    assert fresh(world, obu.id).renewal_status is RenewalStatus.NONE
    [mail] = outbox(world)
    assert mail.to_address == world.user.email and mail.language == "nl"
    renew_part, cancelled_part = mail.body.split("NIET vernieuwd")
    assert used.number in renew_part and configure.number in renew_part and unused.number not in renew_part
    assert unused.number in cancelled_part and by_user.number in cancelled_part and renew_me.number in cancelled_part
    [letter] = outbox(world, Channel.LETTER)
    assert "Noorderlaan 100" in letter.to_address and used.number in letter.body
    # Idempotent: the same run again changes nothing and sends nothing.
    assert run_renewals(session, notice_day).changed == 0
    assert len(outbox(world)) == 1 and len(outbox(world, Channel.LETTER)) == 1

    # The status screen: one month, the dates, and why a card is Cancelled.
    [month] = renewals.renewal_status_list(session, renewer, notice_day, world.number.id)
    line = month.timeline
    assert (line.notice, line.reminder, line.update_until, line.activation) == (
        date(2026, 12, 1), date(2027, 1, 1), date(2027, 1, 31), date(2027, 3, 1))
    rows = {row.card_id: row for row in month.cards}
    assert set(rows) == set(numbers)
    assert rows[unused.id].reason == "Not used since 01/07/2026: not renewed unless you choose Renew."
    assert rows[renew_me.id].reason.startswith("Never used")
    assert "Cancelled by your company" in rows[by_user.id].reason and rows[used.id].reason == ""
    assert all(row.editable for row in rows.values())

    # In the window: the user cancels, renews, and changes a configuration for the new plastic.
    review = at(date(2026, 12, 10))
    renewals.cancel_renewal(session, renewer, review, cancel_me.id)
    renewals.restore_renewal(session, renewer, review, renew_me.id)
    spec = spec_from_card(session, configure.id)
    limits = tuple(limit for limit in spec.limits if limit.product is not Product.CAR_WASH) + (
        LimitSpec(Product.EV_CHARGING, amount=Decimal("80.00")),)
    changes = renewals.change_renewal_configuration(session, renewer, review, configure.id,
                                                    replace(spec, limits=limits), fresh(world, configure.id).version)
    assert {change.field for change in changes} >= {"limits.car_wash.allowed", "limits.ev_charging.allowed"}
    assert fresh(world, cancel_me.id).renewal_status is RenewalStatus.CANCELLED
    assert fresh(world, renew_me.id).renewal_status is RenewalStatus.CANDIDATE
    assert not session.exec(select(Request).where(Request.card_id == configure.id,
                                                  Request.kind == RequestKind.CHANGE)).all()  # no extra plastic
    board = renewals.renewal_board(session, renewer, review, world.number.id)
    march = next(m for m in board if m.timeline.month == date(2027, 3, 1))
    assert (march.expiring, march.candidate, march.cancelled, march.in_renewal, march.not_reviewed) == (6, 3, 3, 0, 2)
    assert len(board) == 12 and board[0].timeline.month == date(2026, 12, 1)

    # M-2: a reminder for the cards nobody reviewed (the used and the unused one), not for the others.
    report = run_renewals(session, at(date(2027, 1, 1), 6))
    assert report.reminders == 1 and report.emails_queued == 1
    reminder = outbox(world)[-1]
    assert used.number in reminder.body and unused.number in reminder.body
    assert not any(numbers[i] in reminder.body for i in (cancel_me.id, renew_me.id, configure.id, by_user.id))
    assert run_renewals(session, at(date(2027, 1, 1), 12)).changed == 0

    # M-1: candidates go in renewal with a new plastic: same number, rank + 1, expiry 4 years later.
    production = at(date(2027, 2, 1), 6)
    report = run_renewals(session, production)
    assert report.into_production == 3
    renewed_ids = (used.id, renew_me.id, configure.id)
    for card_id in renewed_ids:
        card = fresh(world, card_id)
        assert (card.renewal_status, card.rank, card.number, card.expiry_date) == (
            RenewalStatus.IN_RENEWAL, 2, numbers[card_id], EXPIRY)
        new = session.exec(select(Plastic).where(Plastic.card_id == card_id, Plastic.rank == 2)).one()
        assert (new.status, new.expiry_date) == (CardStatus.IN_PRODUCTION, date(2031, 3, 15))
    request = session.exec(select(Request).where(Request.card_id == configure.id,
                                                 Request.kind == RequestKind.RENEWAL)).one()
    assert request.status is RequestStatus.IN_PRODUCTION
    assert request.details["configuration"]["limits.car_wash.allowed"] is False
    assert request.details["configuration"]["limits.ev_charging.amount"] == "80.00"
    for card_id in (unused.id, cancel_me.id, by_user.id):
        assert fresh(world, card_id).renewal_status is RenewalStatus.CANCELLED and fresh(world, card_id).rank == 1
    with pytest.raises(DomainError, match="closed on 31/01/2027"):
        renewals.restore_renewal(session, renewer, production, unused.id)
    with pytest.raises(DomainError, match="already in renewal"):
        renewals.cancel_renewal(session, renewer, production, used.id)
    assert run_renewals(session, production).changed == 0

    # M: the new plastic is active, the old one expired.
    report = run_renewals(session, at(date(2027, 3, 1), 6))
    assert report.activated == 3 and report.expired == 0
    for card_id in renewed_ids:
        card = fresh(world, card_id)
        assert (card.status, card.renewal_status, card.rank, card.number, card.expiry_date) == (
            CardStatus.ACTIVE, RenewalStatus.RENEWED, 2, numbers[card_id], date(2031, 3, 15))
        plastics = {p.rank: p.status for p in session.exec(select(Plastic).where(Plastic.card_id == card_id))}
        assert plastics == {1: CardStatus.EXPIRED, 2: CardStatus.ACTIVE}
    allowed = {row.product: row.allowed for row in session.exec(select(CardLimit).where(
        CardLimit.card_id == configure.id))}
    assert Product.CAR_WASH not in allowed and allowed[Product.EV_CHARGING]
    for card_id in (unused.id, cancel_me.id, by_user.id):  # cancelled: active until the expiry date
        assert fresh(world, card_id).status is CardStatus.ACTIVE

    # M+1: the cancelled cards have expired; nothing else moves.
    report = run_renewals(session, at(date(2027, 4, 1), 6))
    assert report.expired == 3 and report.activated == 0 and report.into_production == 0
    for card_id in (unused.id, cancel_me.id, by_user.id):
        card = fresh(world, card_id)
        assert (card.status, card.renewal_status, card.number) == (CardStatus.EXPIRED, RenewalStatus.NONE,
                                                                   numbers[card_id])
    assert fresh(world, obu.id).status is CardStatus.ACTIVE and fresh(world, obu.id).rank == 1
    assert fresh(world, later.id).renewal_status is RenewalStatus.NONE
    assert run_renewals(session, at(date(2027, 4, 1), 6)).changed == 0
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "renewal notice sent")).all()


def test_refusals_on_cards_in_other_statuses(session, world, clock, renewer):
    now = clock.now()
    candidate = add_card(world, now, "1-CAN-002", now - timedelta(days=2), expiry=date(2027, 1, 20))
    outside = add_card(world, now, "1-OUT-002", now, expiry=date(2029, 1, 20))
    obu = add_card(world, now, "1-OBU-002", None, expiry=date(2027, 1, 20), obu=True)
    run_renewals(session, now)
    assert fresh(world, candidate.id).renewal_status is RenewalStatus.CANDIDATE
    with pytest.raises(DomainError, match="not in a renewal campaign yet"):
        renewals.cancel_renewal(session, renewer, now, outside.id)
    with pytest.raises(DomainError, match="not in a renewal campaign yet"):
        renewals.change_renewal_configuration(session, renewer, now, outside.id, spec_from_card(session, outside.id),
                                              fresh(world, outside.id).version)
    with pytest.raises(DomainError, match="OBUs are not part"):
        renewals.cancel_renewal(session, renewer, now, obu.id)
    with pytest.raises(DomainError, match="already Candidate"):
        renewals.restore_renewal(session, renewer, now, candidate.id)
    renewals.cancel_renewal(session, renewer, now, candidate.id)
    with pytest.raises(DomainError, match="already Cancelled"):
        renewals.cancel_renewal(session, renewer, now, candidate.id)
    # A name or plate is not part of the renewal's configuration.
    with pytest.raises(DomainError, match="Manage cards and OBUs"):
        renewals.change_renewal_configuration(session, renewer, now, candidate.id, replace(
            spec_from_card(session, candidate.id), license_plate="2-NEW-002"), fresh(world, candidate.id).version)
    blocked = world.set_status(fresh(world, candidate.id), CardStatus.BLOCKED)
    with pytest.raises(DomainError, match="blocked"):
        renewals.restore_renewal(session, renewer, now, blocked.id)
    # Without the right, or for another customer number.
    with pytest.raises(PermissionDenied, match=r"“Renew cards”"):
        renewals.renewal_board(session, world.actor, now, world.number.id)
    results = renewals.cancel_renewals(session, renewer, now, [outside.id, obu.id])
    assert [r.ok for r in results] == [False, False] and "OBUs" in results[1].message


def test_bulk_actions_report_per_card(session, world, clock, renewer):
    now = clock.now()
    a = add_card(world, now, "1-BLK-001", now, expiry=date(2027, 2, 10))
    b = add_card(world, now, "1-BLK-002", None, expiry=date(2027, 2, 10))
    run_renewals(session, now)
    results = renewals.restore_renewals(session, renewer, now, [a.id, b.id])
    assert [r.ok for r in results] == [False, True]
    results = renewals.change_renewal_configurations(
        session, renewer, now, [a.id, b.id], limits=(LimitSpec(Product.DIESEL, amount=Decimal("150.00")),))
    assert all(r.ok for r in results), [r.message for r in results]
    amount = session.exec(select(CardLimit.amount).where(CardLimit.card_id == b.id,
                                                         CardLimit.product == Product.DIESEL)).one()
    assert amount == Decimal("150.00")


# --- the state machine: the number never changes, the rank only grows ------------------------------------

DAYS = st.integers(min_value=1, max_value=45)


class RenewalMachine(RuleBasedStateMachine):
    """The clock moves forward in random steps over a whole campaign while a user cancels and renews at random
    moments; the issuer's run and the user's actions are the only ways in."""

    @initialize()
    def setup(self):
        from store.db import Database, FixedClock

        import os
        import tempfile
        from store.migrate import upgrade

        self.dir = tempfile.mkdtemp()
        url = os.environ.get("CARDSONLINE_TEST_DATABASE_URL") or f"sqlite:///{self.dir}/m.db"
        if url.startswith("postgresql"):
            from sqlalchemy import text

            from store.db import make_engine

            engine = make_engine(url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        self.clock = FixedClock(datetime(2026, 10, 20, 9, tzinfo=timezone.utc))
        self.db = Database(url, clock=self.clock)
        upgrade(self.db.engine)
        self.session = self.db.session().__enter__()
        self.world = World.build(self.session, self.clock.now())
        self.actor = self.world.actor_with("renewer", [Right.CARD_RENEWAL], self.clock.now())
        self.cards = [add_card(self.world, self.clock.now(), f"1-HYP-{i:03d}",
                               None if i % 2 else self.clock.now(), expiry=date(2027, 1 + i, 10 + i))
                      for i in range(3)]
        self.numbers = {c.id: c.number for c in self.cards}
        self.ranks = {c.id: c.rank for c in self.cards}
        self.renewed = False

    def teardown(self):
        if getattr(self, "session", None) is not None:
            self.session.close()
            self.db.dispose()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(days=DAYS)
    def time_passes(self, days):
        self.clock.advance(timedelta(days=days))
        run_renewals(self.session, self.clock.now())

    @rule(index=st.integers(0, 2), cancel=st.booleans())
    def user_acts(self, index, cancel):
        card_id = self.cards[index].id
        action = renewals.cancel_renewal if cancel else renewals.restore_renewal
        try:
            action(self.session, self.actor, self.clock.now(), card_id)
        except DomainError:
            pass

    @invariant()
    def number_fixed_and_rank_grows(self):
        if not getattr(self, "cards", None):
            return
        for card_id, number in self.numbers.items():
            card = self.session.get(Card, card_id, populate_existing=True)
            assert card.number == number
            assert card.rank >= self.ranks[card_id]
            self.ranks[card_id] = card.rank
            if card.renewal_status is RenewalStatus.RENEWED:
                assert card.rank == 2 and card.expiry_date.year >= 2031


def test_renewal_state_machine():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(RenewalMachine, settings=settings(
        max_examples=15, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))


def test_the_demo_is_where_the_campaign_would_leave_it(db):
    """Running the campaign on the demo at its own moment moves no card: every renewal status is consistent."""
    from store.demo import build_demo

    build_demo(db, cards=200)
    with db.session() as session:
        before = {c.id: (c.renewal_status, c.status, c.rank) for c in session.exec(select(Card)).all()}
        report = run_renewals(session, db.clock.now())
        assert (report.candidates, report.cancelled_unused, report.cancelled_by_user, report.into_production,
                report.activated, report.expired, report.notices) == (0, 0, 0, 0, 0, 0, 0), str(report)
        after = {c.id: (c.renewal_status, c.status, c.rank) for c in session.exec(select(Card)).all()}
        assert after == before
        # A month later the campaign moves on: the cards in renewal are activated.
        in_renewal = [i for i, (status, _, _) in before.items() if status is RenewalStatus.IN_RENEWAL]
        report = run_renewals(session, at(date(2027, 1, 1), 6))
        assert report.activated >= len(in_renewal) > 0
        for card_id in in_renewal:
            card = session.get(Card, card_id)
            assert card.renewal_status is RenewalStatus.RENEWED and card.expiry_date.year >= 2030


def test_the_cli_runs_the_campaign(tmp_path):
    from click.testing import CliRunner

    from tui.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert CliRunner().invoke(main, ["demo", "--database-url", url, "--cards", "60"]).exit_code == 0
    result = CliRunner().invoke(main, ["issuer", "renewals", "--database-url", url, "--now", "2027-01-01T06:00"])
    assert result.exit_code == 0, result.output
    assert "Renewal run at 2027-01-01 06:00 UTC" in result.output and "activated:" in result.output
    again = CliRunner().invoke(main, ["issuer", "renewals", "--database-url", url, "--now", "2027-01-01T06:00"])
    assert "new plastics in production: 0; activated: 0" in again.output


def test_the_run_versions_the_cards_it_changes_and_only_those(session, world, clock):
    """Each card the campaign changes gets one configuration version from the run's instant (store.services.
    card_history), so an import judges a transaction made before the run by the card as it was then."""
    from store.models import CardConfigVersion

    now = clock.now()
    recent = now - timedelta(days=6)
    candidate = add_card(world, now, "1-VER-001", recent)
    unused = add_card(world, now, "1-VER-002", datetime(2026, 7, 1, tzinfo=timezone.utc))
    later = add_card(world, now, "1-VER-003", recent, expiry=date(2028, 5, 1))

    def versions(card_id: int) -> list[CardConfigVersion]:
        return list(session.exec(select(CardConfigVersion).where(CardConfigVersion.card_id == card_id)
                                 .order_by(CardConfigVersion.valid_from)).all())

    before = {card.id: len(versions(card.id)) for card in (candidate, unused, later)}

    def added(card) -> int:
        return len(versions(card.id)) - before[card.id]

    notice_day = at(date(2026, 12, 1), 6)
    run_renewals(session, notice_day)
    # Cancelled for not being used: the rules see it (cancelled and expired later). A candidate's snapshot
    # holds nothing new yet.
    history = versions(unused.id)
    assert added(unused) == 1 and '"cancelled":true' in history[-1].config
    assert history[-2].valid_to == history[-1].valid_from == notice_day and history[-1].valid_to is None
    assert (added(candidate), added(later)) == (0, 0)
    run_renewals(session, at(date(2026, 12, 1), 12))  # nothing changes: no version
    assert (added(candidate), added(unused), added(later)) == (0, 1, 0)

    production = at(date(2027, 2, 1), 6)  # the candidate's new plastic (rank 2) is made
    run_renewals(session, production)
    history = versions(candidate.id)
    assert added(candidate) == 1 and history[-1].valid_from == production
    assert '[2,"in production","2031-03-15"]' in history[-1].config
    assert (added(unused), added(later)) == (1, 0)
