"""Driver codes in the store (Fiches 13-16): create, search, modify, block (the 5/6 rule and the next morning),
unblock, reissue, the nightly run, and the countries where the driver code is typed first."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select
from test_cards import World

from store.issuer.nightly import run_nightly
from store.models import (
    AuditEvent,
    Card,
    ProductType,
    CardStatus,
    CodeType,
    DriverCode,
    DriverCodeStatus,
    Request,
    RequestKind,
    Right,
)

from store.services.context import Actor
from store.services.driver_codes import (
    BLOCK_DOES_NOT_BLOCK_CARDS,
    DriverCodeFilter,
    accepts_driver_code,
    block_driver_codes,
    block_plan,
    count_driver_codes,
    create_driver_code,
    driver_code_first,
    modify_driver_code,
    next_morning,
    plan_block,
    reissue_card,
    reissue_driver_codes,
    search_driver_codes,
    unblock_driver_codes,
)
from store.services.errors import DomainError, PermissionDenied, StaleObject

UTC = timezone.utc
DRIVER_RIGHTS = (Right.DRIVER_CODES_MANAGE, Right.DRIVER_CODES_CREATE)


@dataclass
class Drivers:
    world: World
    actor: Actor

    @property
    def session(self) -> Session:
        return self.world.session

    def create(self, now, code: str, name: str = "Jan Peeters", division=None, number=None) -> DriverCode:
        w = self.world
        return create_driver_code(self.session, self.actor, now, (number or w.number).id,
                                  (division or w.division).id, code, name)

    def many(self, now, n: int, start: int = 100) -> list[int]:
        return [self.create(now, f"{start + i:04d}", f"Driver {i}").id for i in range(n)]

    def status(self, code_id: int) -> DriverCodeStatus:
        return self.session.get(DriverCode, code_id, populate_existing=True).status


@pytest.fixture
def drivers(session, clock) -> Drivers:
    world = World.build(session, clock.now())
    return Drivers(world, world.actor_with("drivers", DRIVER_RIGHTS, clock.now()))


# --- create -----------------------------------------------------------------------------------------------

def test_create_gives_the_personalised_code_and_an_audit_event(drivers, clock):
    code = drivers.create(clock.now(), "0042", "  Jan   Peeters ")
    assert code.status is DriverCodeStatus.ACTIVE and code.driver_name == "Jan Peeters"
    [row] = search_driver_codes(drivers.session, drivers.actor)
    assert row.full_code == "73100042" and row.division == "Distribution" and row.customer_number == "4020001"
    event = drivers.session.exec(select(AuditEvent).where(AuditEvent.object_type == "driver_code")).one()
    assert event.action == "created" and event.after["code"] == "73100042" and event.actor_label == "drivers"


def test_the_four_digits_are_unique_within_a_customer_number(drivers, clock):
    drivers.create(clock.now(), "1234", "Jan Peeters")
    with pytest.raises(DomainError, match="already has driver code 73101234 .driver Jan Peeters.") as refused:
        drivers.create(clock.now(), "1234", "Piet Janssens", division=drivers.world.second_division)
    assert refused.value.field == "code"
    # The same digits in another customer number are another code.
    other = drivers.create(clock.now(), "1234", "Marie Dubois", division=drivers.world.foreign_division,
                           number=drivers.world.other_number)
    assert other.id is not None


@pytest.mark.parametrize("code", ["123", "12345", "12a4", "", "１２３４", "12 4"])
def test_the_code_is_four_digits(drivers, clock, code):
    with pytest.raises(DomainError, match="4 digits") as refused:
        drivers.create(clock.now(), code)
    assert refused.value.field == "code"


def test_name_length_25_is_accepted_and_26_refused(drivers, clock):
    assert drivers.create(clock.now(), "0001", "A" * 25).driver_name == "A" * 25
    with pytest.raises(DomainError, match="at most 25 characters .this one has 26.") as refused:
        drivers.create(clock.now(), "0002", "B" * 26)
    assert refused.value.field == "driver_name"
    with pytest.raises(DomainError, match="Type the driver's name"):
        drivers.create(clock.now(), "0003", "   ")


def test_both_problems_are_told_at_once(drivers, clock):
    with pytest.raises(DomainError) as refused:
        drivers.create(clock.now(), "12", "C" * 30)
    assert len(refused.value.problems) == 2


def test_the_division_must_be_of_the_customer_number(drivers, clock):
    with pytest.raises(DomainError, match="belongs to another customer number") as refused:
        drivers.create(clock.now(), "0005", division=drivers.world.foreign_division)
    assert refused.value.field == "division"


def test_create_needs_the_create_right(drivers, clock):
    manager = drivers.world.actor_with("manager", [Right.DRIVER_CODES_MANAGE], clock.now())
    with pytest.raises(PermissionDenied, match=r"“Create driver codes”"):
        create_driver_code(drivers.session, manager, clock.now(), drivers.world.number.id,
                           drivers.world.division.id, "0001", "X")


# --- search -----------------------------------------------------------------------------------------------

def test_search_filters_and_keyset_pages(drivers, clock):
    w, now = drivers.world, clock.now()
    drivers.create(now, "1111", "anna Claes")
    drivers.create(now, "2222", "Bart Claes", division=w.second_division)
    drivers.create(now, "3333", "Carla Maes")
    drivers.create(now, "4444", "Dirk Maes", division=w.foreign_division, number=w.other_number)
    s, a = drivers.session, drivers.actor
    assert [r.driver_name for r in search_driver_codes(s, a)] == ["anna Claes", "Bart Claes", "Carla Maes",
                                                                  "Dirk Maes"]
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(customer_number_id=w.number.id))] == [
        "1111", "2222", "3333"]
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(division_id=w.second_division.id))] == [
        "2222"]
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(name="CLAES"))] == ["1111", "2222"]
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(code="33"))] == ["3333"]
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(code="73104444"))] == ["4444"]
    assert search_driver_codes(s, a, DriverCodeFilter(code="99994444")) == []
    assert search_driver_codes(s, a, DriverCodeFilter(name="%")) == []  # no wildcard
    first = search_driver_codes(s, a, limit=2)
    second = search_driver_codes(s, a, after=first[-1].after, limit=2)
    assert [r.code for r in first + second] == ["1111", "2222", "3333", "4444"]
    assert count_driver_codes(s, a, DriverCodeFilter(name="maes")) == 2
    block_driver_codes(s, a, now, [first[0].id])
    assert [r.code for r in search_driver_codes(s, a, DriverCodeFilter(
        statuses=(DriverCodeStatus.BLOCKED, DriverCodeStatus.BLOCK_PENDING)))] == ["1111"]


def test_search_stays_in_the_actors_customer_numbers(drivers, clock):
    w = drivers.world
    drivers.create(clock.now(), "4444", "Dirk Maes", division=w.foreign_division, number=w.other_number)
    home_only = w.actor_with("home", DRIVER_RIGHTS, clock.now(), numbers=(w.number,))
    assert search_driver_codes(drivers.session, home_only) == []
    with pytest.raises(PermissionDenied, match="customer number"):
        search_driver_codes(drivers.session, home_only, DriverCodeFilter(customer_number_id=w.other_number.id))


# --- modify -----------------------------------------------------------------------------------------------

def test_modify_changes_the_name_and_the_division(drivers, clock):
    code = drivers.create(clock.now(), "0042")
    changed = modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, driver_name="Jan Claes",
                                 division_id=drivers.world.second_division.id, expected_version=1)
    assert (changed.driver_name, changed.division_id, changed.version) == (
        "Jan Claes", drivers.world.second_division.id, 2)
    event = drivers.session.exec(select(AuditEvent).where(AuditEvent.action == "modified")).one()
    assert event.before == {"driver_name": "Jan Peeters", "division": "Distribution"}


def test_the_code_itself_cannot_change(drivers, clock):
    code = drivers.create(clock.now(), "0042")
    with pytest.raises(DomainError, match="cannot change once it is created.*block this code and create a new "
                                          "one") as refused:
        modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, code="0043", driver_name="X")
    assert refused.value.field == "code"
    assert drivers.session.get(DriverCode, code.id, populate_existing=True).driver_name == "Jan Peeters"
    # Passing the same digits is no change of the code.
    modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, code="0042", driver_name="X")


def test_modify_a_blocked_code_and_refusals(drivers, clock):
    code = drivers.create(clock.now(), "0042")
    block_driver_codes(drivers.session, drivers.actor, clock.now(), [code.id])
    modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, driver_name="Still Editable")
    with pytest.raises(DomainError, match="at most 25"):
        modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, driver_name="Z" * 26)
    with pytest.raises(DomainError, match="another customer number"):
        modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id,
                           division_id=drivers.world.foreign_division.id)
    with pytest.raises(StaleObject, match="changed by drivers meanwhile"):
        modify_driver_code(drivers.session, drivers.actor, clock.now(), code.id, driver_name="Late",
                           expected_version=1)


# --- block: the 5/6 rule and the next morning -----------------------------------------------------------

def test_five_codes_at_once_are_blocked_immediately(drivers, clock):
    ids = drivers.many(clock.now(), 5)
    plan = block_plan(drivers.session, drivers.actor, clock.now(), ids)
    assert plan.immediate and plan.count == 5 and "immediately" in plan.explanation
    result = block_driver_codes(drivers.session, drivers.actor, clock.now(), ids)
    assert result == plan
    assert {drivers.status(i) for i in ids} == {DriverCodeStatus.BLOCKED}
    assert drivers.session.get(DriverCode, ids[0]).blocked_at == clock.now()


def test_six_codes_at_once_are_block_pending_until_six_next_morning(drivers, clock):
    ids = drivers.many(clock.now(), 6)  # START is 2026-11-26 09:00 UTC = 10:00 in Brussels
    plan = block_plan(drivers.session, drivers.actor, clock.now(), ids)
    morning = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 06:00 Brussels (UTC+1 in November)
    assert not plan.immediate and plan.effective_at == morning
    assert "27/11/2026 at 06:00 (Europe/Brussels)" in plan.explanation
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids)
    assert {drivers.status(i) for i in ids} == {DriverCodeStatus.BLOCK_PENDING}
    code = drivers.session.get(DriverCode, ids[0])
    assert code.blocked_at is None and code.block_effective_at == morning
    card = Card(customer_number_id=drivers.world.number.id, division_id=drivers.world.division.id,
                product_type=ProductType.FLEET_CARD, code_type=CodeType.DRIVER_CODE, status=CardStatus.ACTIVE)
    drivers.session.add(card)
    drivers.session.commit()
    assert accepts_driver_code(drivers.session, card, "7310" + code.code, morning - timedelta(seconds=1))
    assert not accepts_driver_code(drivers.session, card, "7310" + code.code, morning)
    # Not yet: the nightly run at 05:59 Brussels leaves them pending; at 06:00 it blocks them; then nothing.
    report = run_nightly(drivers.session, morning - timedelta(minutes=1))
    assert "Driver codes blocked: 0 (block pending for a later morning: 6)" in str(report)
    report = run_nightly(drivers.session, morning)
    assert "Driver codes blocked: 6 (block pending for a later morning: 0)" in str(report)
    assert {drivers.status(i) for i in ids} == {DriverCodeStatus.BLOCKED}
    assert "Driver codes blocked: 0" in str(run_nightly(drivers.session, morning))
    events = drivers.session.exec(select(AuditEvent).where(AuditEvent.action == "blocked")).all()
    assert len(events) == 6 and {e.actor_label for e in events} == {"issuer"}


def test_the_boundary_is_per_action_not_per_day(drivers, clock):
    ids = drivers.many(clock.now(), 10)
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids[:5])
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids[5:])
    assert {drivers.status(i) for i in ids} == {DriverCodeStatus.BLOCKED}


@pytest.mark.parametrize("local, zone, expected_local", [
    # Before midnight: the morning after. Just after midnight: the same calendar day's 06:00.
    ("2026-11-26T23:59", "Europe/Brussels", "2026-11-27T06:00"),
    ("2026-11-27T00:01", "Europe/Brussels", "2026-11-27T06:00"),
    ("2026-11-27T05:59", "Europe/Brussels", "2026-11-27T06:00"),
    ("2026-11-27T06:00", "Europe/Brussels", "2026-11-28T06:00"),
    # Another zone: the customer's morning, not the server's.
    ("2026-11-26T23:30", "America/New_York", "2026-11-27T06:00"),
    ("2026-11-27T07:00", "Asia/Tokyo", "2026-11-28T06:00"),
    # Across the change to summer time (Brussels, 29 March 2026 02:00 -> 03:00).
    ("2026-03-28T22:00", "Europe/Brussels", "2026-03-29T06:00"),
])
def test_next_morning_in_the_customers_zone(local, zone, expected_local):
    from zoneinfo import ZoneInfo

    now = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    expected = datetime.fromisoformat(expected_local).replace(tzinfo=ZoneInfo(zone))
    assert next_morning(now, zone) == expected
    assert next_morning(now, zone).tzinfo == UTC
    assert plan_block(6, now, zone).effective_at == expected and plan_block(5, now, zone).effective_at == now


def test_blocking_across_midnight_uses_the_customers_zone(drivers, clock):
    """At 23:30 UTC it is already 00:30 in Brussels: the next morning is 06:00 that same Brussels day."""
    drivers.world.customer.timezone = "Europe/Brussels"
    drivers.session.add(drivers.world.customer)
    drivers.session.commit()
    ids = drivers.many(clock.now(), 6)
    late = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert block_driver_codes(drivers.session, drivers.actor, late, ids).effective_at == datetime(
        2026, 11, 27, 5, 0, tzinfo=UTC)
    # A customer in New York blocking at the same moment (18:30 there) waits until 06:00 New York time.
    drivers.world.customer.timezone = "America/New_York"
    drivers.session.add(drivers.world.customer)
    drivers.session.commit()
    more = drivers.many(clock.now(), 6, start=500)
    assert block_driver_codes(drivers.session, drivers.actor, late, more).effective_at == datetime(
        2026, 11, 27, 11, 0, tzinfo=UTC)
    run_nightly(drivers.session, datetime(2026, 11, 27, 5, 0, tzinfo=UTC))
    assert {drivers.status(i) for i in ids} == {DriverCodeStatus.BLOCKED}
    assert {drivers.status(i) for i in more} == {DriverCodeStatus.BLOCK_PENDING}


def test_block_refuses_codes_that_are_not_active_and_never_blocks_a_card(drivers, clock):
    ids = drivers.many(clock.now(), 2)
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids[:1])
    with pytest.raises(DomainError, match="Only active driver codes can be blocked; Driver 0 .blocked."):
        block_driver_codes(drivers.session, drivers.actor, clock.now(), ids)
    assert drivers.status(ids[1]) is DriverCodeStatus.ACTIVE  # nothing half-done
    with pytest.raises(DomainError, match="Select at least one"):
        block_driver_codes(drivers.session, drivers.actor, clock.now(), [])
    assert "does not block any card" in BLOCK_DOES_NOT_BLOCK_CARDS


# --- unblock ----------------------------------------------------------------------------------------------

def test_unblock_blocked_and_pending_codes(drivers, clock):
    ids = drivers.many(clock.now(), 7)
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids[:1])
    block_driver_codes(drivers.session, drivers.actor, clock.now(), ids[1:])  # 6: pending
    assert unblock_driver_codes(drivers.session, drivers.actor, clock.now(), ids[:3]) == 3
    assert [drivers.status(i) for i in ids[:4]] == [DriverCodeStatus.ACTIVE] * 3 + [DriverCodeStatus.BLOCK_PENDING]
    code = drivers.session.get(DriverCode, ids[1])
    assert code.block_effective_at is None and code.blocked_at is None
    with pytest.raises(DomainError, match="Only blocked .or block pending. driver codes can be unblocked"):
        unblock_driver_codes(drivers.session, drivers.actor, clock.now(), ids[2:4])
    # The cancelled pending block is not applied by the nightly run.
    run_nightly(drivers.session, clock.now() + timedelta(days=1))
    assert drivers.status(ids[1]) is DriverCodeStatus.ACTIVE and drivers.status(ids[3]) is DriverCodeStatus.BLOCKED


# --- reissue ----------------------------------------------------------------------------------------------

def _card(drivers: Drivers, *, number="7002060000000012", code_type=CodeType.DRIVER_CODE, countries=(),
          status=CardStatus.ACTIVE) -> Card:
    card = Card(customer_number_id=drivers.world.number.id, division_id=drivers.world.division.id,
                product_type=ProductType.FLEET_CARD, number=number, code_type=code_type, status=status,
                allowed_countries=list(countries))
    drivers.session.add(card)
    drivers.session.commit()
    return card


def test_reissue_creates_one_request_for_the_selection(drivers, clock):
    card = _card(drivers, countries=["BE", "DE", "PL"])
    ids = drivers.many(clock.now(), 2)
    info = reissue_card(drivers.session, drivers.actor, "7002 0600 0000 0012")
    assert info.card_id == card.id and info.division == "Distribution" and info.driver_code_first == ("DE", "PL")
    request = reissue_driver_codes(drivers.session, drivers.actor, clock.now(), ids, card.number,
                                   drivers.world.division.id)
    assert request.kind is RequestKind.DRIVER_CODE_REISSUE and request.card_id == card.id
    assert request.details["driver_code_ids"] == ids and "by post" in request.details["note"]
    assert "7310" not in str(request.details)  # the codes themselves do not travel in the request
    with pytest.raises(DomainError, match="already asked again"):
        reissue_driver_codes(drivers.session, drivers.actor, clock.now(), ids, card.number,
                             drivers.world.division.id)
    assert len(drivers.session.exec(select(Request)).all()) == 1


def test_reissue_refusals(drivers, clock):
    ids = drivers.many(clock.now(), 1)
    w, s, a, now = drivers.world, drivers.session, drivers.actor, clock.now()
    with pytest.raises(DomainError, match="No card with number 123"):
        reissue_driver_codes(s, a, now, ids, "123", w.division.id)
    pin_card = _card(drivers, number="7002060000000020", code_type=CodeType.PIN)
    with pytest.raises(DomainError, match="used with a PIN"):
        reissue_driver_codes(s, a, now, ids, pin_card.number, w.division.id)
    card = _card(drivers)
    with pytest.raises(DomainError, match="is in the fleet division Distribution, not in Long haul"):
        reissue_driver_codes(s, a, now, ids, card.number, w.second_division.id)
    blocked = _card(drivers, number="7002060000000038", status=CardStatus.BLOCKED)
    with pytest.raises(DomainError, match="is blocked"):
        reissue_driver_codes(s, a, now, ids, blocked.number, w.division.id)
    block_driver_codes(s, a, now, ids)
    with pytest.raises(DomainError, match="Only active driver codes can be reissued"):
        reissue_driver_codes(s, a, now, ids, card.number, w.division.id)


# --- countries -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("countries, expected", [
    ([], ("DE", "IT", "HU", "CZ", "PL", "SK")),  # everywhere
    (["BE", "NL", "FR"], ()),
    (["be", "de", "sk"], ("DE", "SK")),
    (["IT", "HU", "CZ", "AT"], ("IT", "HU", "CZ")),
])
def test_countries_where_the_driver_code_is_typed_first(countries, expected):
    assert driver_code_first(countries) == expected


def test_a_card_of_another_customer_number_is_not_found(drivers, clock):
    card = _card(drivers)
    w = drivers.world
    other_only = w.actor_with("other", DRIVER_RIGHTS, clock.now(), numbers=(w.other_number,))
    with pytest.raises(DomainError, match="No card with number"):
        reissue_card(drivers.session, other_only, card.number)


def test_the_issuer_posts_reissued_codes_and_tells_the_customer(drivers, clock):
    from datetime import timedelta

    from store.issuer.production import process_requests
    from store.models import OutboxMessage, RequestStatus

    card = _card(drivers)
    ids = drivers.many(clock.now(), 2)
    request = reissue_driver_codes(drivers.session, drivers.actor, clock.now(), ids, card.number,
                                   drivers.world.division.id)
    early = process_requests(drivers.session, clock.now() + timedelta(hours=1))
    assert early.driver_codes_posted == 0 and drivers.session.get(Request, request.id).status is RequestStatus.SUBMITTED
    report = process_requests(drivers.session, clock.now() + timedelta(hours=25))
    assert report.driver_codes_posted == 1 and "driver codes posted: 1" in str(report)
    done = drivers.session.get(Request, request.id)
    assert done.status is RequestStatus.DONE and done.details["posted_at"]
    mails = [m for m in drivers.session.exec(select(OutboxMessage)).all() if "Driver codes sent by post" in m.subject
             or "Chauffeurscodes" in m.subject or "Codes chauffeur" in m.subject]
    assert mails and all(card.number in m.subject for m in mails)
    again = process_requests(drivers.session, clock.now() + timedelta(hours=50))
    assert again.driver_codes_posted == 0  # done once
