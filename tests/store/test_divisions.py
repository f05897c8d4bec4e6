"""My account -> Manage fleet divisions: list with counts, create, rename, delete when empty, move cards and
driver codes inside one customer number."""
from __future__ import annotations

import pytest
from sqlmodel import select
from test_cards import World

from store.models import AuditEvent, Card, CardStatus, DriverCode, DriverCodeStatus, FleetDivision, Right
from store.services.cards import create_card
from store.services.divisions import (
    NAME_MAX,
    create_division,
    delete_division,
    list_divisions,
    move_cards,
    move_driver_codes,
    rename_division,
)
from store.services.errors import DomainError, NotFound, PermissionDenied, StaleObject

RIGHTS = (Right.DIVISIONS, Right.CARD_MANAGE, Right.CARD_CREATE, Right.DRIVER_CODES_MANAGE)


@pytest.fixture
def world(session, clock) -> World:
    world = World.build(session, clock.now())
    world.actor = world.actor_with("divadmin", RIGHTS, clock.now())
    return world


def _card(world: World, clock, plate: str, status: CardStatus = CardStatus.ACTIVE, division=None) -> Card:
    creator = world.actor_with(f"creator{plate}", (Right.CARD_CREATE,), clock.now())
    card, _request = create_card(world.session, creator, clock.now(),
                                 world.card_spec(license_plate=plate,
                                                 division_id=(division or world.division).id))
    if status is not CardStatus.NEW:
        card = world.set_status(card, status)
    return card


def _code(world: World, code: str, division=None, status=DriverCodeStatus.ACTIVE) -> DriverCode:
    driver_code = DriverCode(customer_number_id=world.number.id, division_id=(division or world.division).id,
                             code=code, driver_name=f"Driver {code}", status=status)
    world.session.add(driver_code)
    world.session.commit()
    return driver_code


def _events(session, object_type: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.object_type == object_type)
                             .order_by(AuditEvent.id)).all())


# --- list ------------------------------------------------------------------------------------------------

def test_list_counts_cards_and_driver_codes_per_division(session, world, clock):
    _card(world, clock, "1-AAA-001")
    _card(world, clock, "1-AAA-002", CardStatus.BLOCKED)
    _card(world, clock, "1-AAA-003", division=world.second_division)
    _code(world, "1234")
    rows = list_divisions(session, world.actor, world.number.id)
    assert [(r.name, r.cards, r.movable_cards, r.driver_codes) for r in rows] == [
        ("Distribution", 2, 1, 1), ("Long haul", 1, 1, 0)]
    assert [r.name for r in list_divisions(session, world.actor, world.other_number.id)] == ["Management"]


def test_list_needs_the_right_and_the_customer_number(session, world, clock):
    without = world.actor_with("nodiv", (Right.CARD_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied, match="“Manage fleet divisions”"):
        list_divisions(session, without, world.number.id)
    outsider = world.actor_with("outsider", (Right.DIVISIONS,), clock.now(), numbers=(world.other_number,))
    with pytest.raises(PermissionDenied, match="customer number"):
        list_divisions(session, outsider, world.number.id)


# --- create ----------------------------------------------------------------------------------------------

def test_create_trims_the_name_and_writes_an_audit_event(session, world, clock):
    division = create_division(session, world.actor, clock.now(), world.number.id, "  Zone   Nord  ")
    assert division.name == "Zone Nord"
    assert session.get(FleetDivision, division.id).customer_number_id == world.number.id
    [event] = _events(session, "fleet_division")
    assert (event.action, event.actor_label, event.after["name"]) == ("created", "divadmin", "Zone Nord")
    assert event.customer_id == world.customer.id


@pytest.mark.parametrize("name, message", [
    ("", "Type a name"),
    ("   ", "Type a name"),
    ("x" * (NAME_MAX + 1), f"at most {NAME_MAX} characters"),
])
def test_create_refuses_an_empty_or_too_long_name(session, world, clock, name, message):
    with pytest.raises(DomainError, match=message) as raised:
        create_division(session, world.actor, clock.now(), world.number.id, name)
    assert raised.value.field == "name"
    assert create_division(session, world.actor, clock.now(), world.number.id, "x" * NAME_MAX).name == "x" * NAME_MAX


def test_names_are_unique_within_a_customer_number_whatever_the_case(session, world, clock):
    with pytest.raises(DomainError, match="already has a fleet division named “distribution”"):
        create_division(session, world.actor, clock.now(), world.number.id, " distribution ")
    # The same name in another customer number is fine.
    create_division(session, world.actor, clock.now(), world.other_number.id, "Distribution")
    assert not [e for e in _events(session, "fleet_division") if e.after.get("customer_number") == "4020001"]


def test_create_needs_the_right_and_the_customer_number(session, world, clock):
    without = world.actor_with("nodiv", (Right.CARD_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied):
        create_division(session, without, clock.now(), world.number.id, "New")
    outsider = world.actor_with("outsider", (Right.DIVISIONS,), clock.now(), numbers=(world.other_number,))
    with pytest.raises(PermissionDenied):
        create_division(session, outsider, clock.now(), world.number.id, "New")
    assert _events(session, "fleet_division") == []


# --- rename ----------------------------------------------------------------------------------------------

def test_rename_keeps_the_cards_and_is_audited(session, world, clock):
    card = _card(world, clock, "1-AAA-001")
    division = rename_division(session, world.actor, clock.now(), world.division.id, " Distribution BE ",
                               expected_version=1)
    assert (division.name, division.version) == ("Distribution BE", 2)
    assert session.get(Card, card.id).division_id == world.division.id
    [event] = _events(session, "fleet_division")
    assert (event.action, event.before, event.after) == ("renamed", {"name": "Distribution"},
                                                         {"name": "Distribution BE"})


def test_rename_may_change_the_case_but_not_take_another_divisions_name(session, world, clock):
    assert rename_division(session, world.actor, clock.now(), world.division.id, "DISTRIBUTION").name == \
        "DISTRIBUTION"
    with pytest.raises(DomainError, match="named “long haul”"):
        rename_division(session, world.actor, clock.now(), world.division.id, "long haul")
    with pytest.raises(DomainError, match="Type a name"):
        rename_division(session, world.actor, clock.now(), world.division.id, " ")
    assert session.get(FleetDivision, world.division.id).name == "DISTRIBUTION"


def test_rename_to_the_same_name_changes_nothing(session, world, clock):
    rename_division(session, world.actor, clock.now(), world.division.id, "Distribution ")
    assert session.get(FleetDivision, world.division.id).version == 1
    assert _events(session, "fleet_division") == []


def test_rename_of_a_division_changed_meanwhile_is_refused(session, world, clock):
    rename_division(session, world.actor, clock.now(), world.division.id, "North")
    with pytest.raises(StaleObject, match="changed by divadmin meanwhile"):
        rename_division(session, world.actor, clock.now(), world.division.id, "South", expected_version=1)


def test_rename_of_another_customer_numbers_division_is_refused(session, world, clock):
    outsider = world.actor_with("outsider", (Right.DIVISIONS,), clock.now(), numbers=(world.other_number,))
    with pytest.raises(PermissionDenied):
        rename_division(session, outsider, clock.now(), world.division.id, "Mine")
    with pytest.raises(NotFound):
        rename_division(session, world.actor, clock.now(), 999_999, "Ghost")


# --- delete ----------------------------------------------------------------------------------------------

def test_delete_an_empty_division(session, world, clock):
    division = create_division(session, world.actor, clock.now(), world.number.id, "Temporary")
    delete_division(session, world.actor, clock.now(), division.id, expected_version=1)
    assert session.get(FleetDivision, division.id) is None
    assert [e.action for e in _events(session, "fleet_division")] == ["created", "deleted"]


def test_delete_is_refused_while_cards_or_driver_codes_are_in_it(session, world, clock):
    _card(world, clock, "1-AAA-001", division=world.second_division)
    with pytest.raises(DomainError, match="Long haul still holds 1 card/OBU: move them"):
        delete_division(session, world.actor, clock.now(), world.second_division.id)
    _code(world, "1111")
    _code(world, "2222")
    with pytest.raises(DomainError, match="Distribution still holds 2 driver codes"):
        delete_division(session, world.actor, clock.now(), world.division.id)
    assert session.get(FleetDivision, world.division.id) is not None
    assert _events(session, "fleet_division") == []


def test_a_division_with_blocked_cards_says_why_it_must_stay(session, world, clock):
    _card(world, clock, "1-AAA-001", CardStatus.BLOCKED, division=world.second_division)
    with pytest.raises(DomainError, match="1 of the cards is blocked, deleted or expired and cannot move"):
        delete_division(session, world.actor, clock.now(), world.second_division.id)


def test_the_last_division_of_a_customer_number_stays(session, world, clock):
    with pytest.raises(DomainError, match="Management is the only fleet division of customer number 4020002"):
        delete_division(session, world.actor, clock.now(), world.foreign_division.id)


def test_delete_needs_the_right(session, world, clock):
    division = create_division(session, world.actor, clock.now(), world.number.id, "Temporary")
    without = world.actor_with("nodiv", (Right.CARD_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied):
        delete_division(session, without, clock.now(), division.id)
    assert session.get(FleetDivision, division.id) is not None


# --- move cards ------------------------------------------------------------------------------------------

def test_move_every_movable_card_to_another_division(session, world, clock):
    first = _card(world, clock, "1-AAA-001")
    second = _card(world, clock, "1-AAA-002", CardStatus.NEW)
    blocked = _card(world, clock, "1-AAA-003", CardStatus.BLOCKED)
    result = move_cards(session, world.actor, clock.now(), world.division.id, world.second_division.id)
    assert (result.moved, result.staying, result.refused) == (2, 1, ())
    session.expire_all()
    assert session.get(Card, first.id).division_id == world.second_division.id
    assert session.get(Card, second.id).division_id == world.second_division.id
    assert session.get(Card, blocked.id).division_id == world.division.id
    assert [e.action for e in _events(session, "card")][-2:] == ["moved to division", "moved to division"]


def test_move_chosen_cards_lists_a_refused_one_and_moves_the_others(session, world, clock):
    first = _card(world, clock, "1-AAA-001")
    blocked = _card(world, clock, "1-AAA-002", CardStatus.BLOCKED)
    elsewhere = _card(world, clock, "1-AAA-003", division=world.second_division)
    result = move_cards(session, world.actor, clock.now(), world.division.id, world.second_division.id,
                        [blocked.id, first.id, elsewhere.id])
    assert [(r.card_id, r.ok) for r in result.results] == [(blocked.id, False), (first.id, True),
                                                           (elsewhere.id, False)]
    assert "blocked: it can no longer be moved" in result.results[0].message
    assert "not in this division" in result.results[2].message
    assert result.moved == 1
    session.expire_all()
    assert session.get(Card, first.id).division_id == world.second_division.id


def test_cards_only_move_inside_their_customer_number(session, world, clock):
    _card(world, clock, "1-AAA-001")
    with pytest.raises(DomainError, match="belongs to another customer number"):
        move_cards(session, world.actor, clock.now(), world.division.id, world.foreign_division.id)
    with pytest.raises(DomainError, match="another division than the one they are in"):
        move_cards(session, world.actor, clock.now(), world.division.id, world.division.id)


def test_moving_cards_needs_the_divisions_and_the_card_right(session, world, clock):
    card = _card(world, clock, "1-AAA-001")
    only_divisions = world.actor_with("onlydiv", (Right.DIVISIONS,), clock.now())
    with pytest.raises(PermissionDenied, match="“Manage cards and OBUs”"):
        move_cards(session, only_divisions, clock.now(), world.division.id, world.second_division.id)
    only_cards = world.actor_with("onlycards", (Right.CARD_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied, match="“Manage fleet divisions”"):
        move_cards(session, only_cards, clock.now(), world.division.id, world.second_division.id)
    session.expire_all()
    assert session.get(Card, card.id).division_id == world.division.id


# --- move driver codes ---------------------------------------------------------------------------------

def test_move_all_driver_codes_whatever_their_status(session, world, clock):
    active = _code(world, "1111")
    blocked = _code(world, "2222", status=DriverCodeStatus.BLOCKED)
    result = move_driver_codes(session, world.actor, clock.now(), world.division.id, world.second_division.id)
    assert result.moved == 2
    session.expire_all()
    assert {session.get(DriverCode, c.id).division_id for c in (active, blocked)} == {world.second_division.id}
    events = _events(session, "driver_code")
    assert [(e.action, e.before["division"], e.after["division"]) for e in events] == [
        ("moved to division", "Distribution", "Long haul")] * 2
    # Now empty: it can go.
    delete_division(session, world.actor, clock.now(), world.division.id)


def test_move_chosen_driver_codes(session, world, clock):
    first, second = _code(world, "1111"), _code(world, "2222")
    assert move_driver_codes(session, world.actor, clock.now(), world.division.id, world.second_division.id,
                             [second.id]).moved == 1
    session.expire_all()
    assert session.get(DriverCode, first.id).division_id == world.division.id
    assert session.get(DriverCode, second.id).division_id == world.second_division.id
    with pytest.raises(DomainError, match="not in the division Distribution"):
        move_driver_codes(session, world.actor, clock.now(), world.division.id, world.second_division.id,
                          [first.id, second.id])
    session.expire_all()
    assert session.get(DriverCode, first.id).division_id == world.division.id  # nothing half-done


def test_driver_codes_only_move_inside_their_customer_number_and_with_the_right(session, world, clock):
    code = _code(world, "1111")
    with pytest.raises(DomainError, match="belongs to another customer number"):
        move_driver_codes(session, world.actor, clock.now(), world.division.id, world.foreign_division.id)
    without = world.actor_with("nodiv", (Right.DRIVER_CODES_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied):
        move_driver_codes(session, without, clock.now(), world.division.id, world.second_division.id)
    session.expire_all()
    assert session.get(DriverCode, code.id).division_id == world.division.id
    assert _events(session, "driver_code") == []
