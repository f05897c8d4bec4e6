"""Manage cards and OBUs (Fiche 06): the quick search with keyset pages, its count, and its scoping."""
from __future__ import annotations

import pytest
from test_cards import World

from store.models import Card, CardStatus, ProductType, Right
from store.queries.card_filter import CardFilter
from store.queries.cards import count_cards, search_cards
from store.services.errors import PermissionDenied


@pytest.fixture
def world(session, clock) -> World:
    return World.build(session, clock.now())


def add_card(world: World, plate: str | None, name: str | None = None, driver: str | None = None,
             number: str | None = None, status: CardStatus = CardStatus.ACTIVE,
             product_type: ProductType = ProductType.FLEET_CARD, other: bool = False) -> Card:
    card = Card(customer_number_id=(world.other_number if other else world.number).id,
                division_id=(world.foreign_division if other else world.division).id,
                product_type=product_type, license_plate=plate, embossed_name=name or plate, driver_name=driver,
                number=number, status=status)
    world.session.add(card)
    world.session.flush()
    return card


def page_through(session, actor, number_id, limit, card_filter: CardFilter | None = None) -> list[int]:
    ids, after = [], None
    while True:
        rows = search_cards(session, actor, number_id, card_filter, after=after, limit=limit)
        ids += [row.id for row in rows]
        if len(rows) < limit:
            return ids
        after = rows[-1].after


def test_pages_lose_and_repeat_no_row(world, session):
    # Duplicate plates (a blocked card and its duplicate share one) and cards with only a name.
    for index in range(23):
        add_card(world, f"1-AAA-{index % 7:03d}", driver=f"Driver {index}")
    for index in range(5):
        add_card(world, None, name=f"POOL CAR {index}")
    add_card(world, "1-ZZZ-999", other=True)  # another customer number
    session.commit()
    everything = search_cards(session, world.actor, world.number.id, limit=1000)
    assert len(everything) == 28 == count_cards(session, world.actor, world.number.id)
    assert [row.sort_value for row in everything] == sorted(row.sort_value for row in everything)
    for limit in (1, 4, 7, 50):
        ids = page_through(session, world.actor, world.number.id, limit)
        assert ids == [row.id for row in everything], limit
    # A row added meanwhile before the current position does not shift the next page.
    first = search_cards(session, world.actor, world.number.id, limit=10)
    add_card(world, "0-AAA-000")
    session.commit()
    second = search_cards(session, world.actor, world.number.id, after=first[-1].after, limit=10)
    assert second[0].id == everything[10].id


def test_text_matches_number_plate_and_driver_anywhere_case_insensitively(world, session):
    jan = add_card(world, "1-ABC-234", driver="Jan Peeters", number="700614020001000018")
    els = add_card(world, "2-XYZ-555", name="ELS COOLS", driver="Els Cools", number="700614020001000026")
    pool = add_card(world, None, name="POOL 100%")
    session.commit()

    def found(text: str) -> set[int]:
        rows = search_cards(session, world.actor, world.number.id, CardFilter(text=text))
        assert count_cards(session, world.actor, world.number.id, CardFilter(text=text)) == len(rows)
        return {row.id for row in rows}

    assert found("1-abc") == {jan.id}  # plate prefix
    assert found("abc234") == {jan.id}  # plate without its dashes
    assert found("peeters") == {jan.id}  # driver name, contains
    assert found("0026") == {els.id}  # number, contains
    assert found("els") == {els.id}  # embossed/driver name
    assert found("100%") == {pool.id}  # LIKE wildcards are literal
    assert found("_") == set()
    assert found("  ") == {jan.id, els.id, pool.id}


def test_status_and_type_filters(world, session):
    active = add_card(world, "1-AAA-001")
    new = add_card(world, "1-AAA-002", status=CardStatus.NEW)
    obu = add_card(world, "1-AAA-003", product_type=ProductType.PASSANGO_OBU)
    blocked = add_card(world, "1-AAA-004", status=CardStatus.BLOCKED)
    session.commit()
    actor, number = world.actor, world.number.id
    assert [r.id for r in search_cards(session, actor, number, CardFilter(statuses=(CardStatus.NEW,)))] == [new.id]
    assert {r.id for r in search_cards(session, actor, number, CardFilter(statuses=(CardStatus.ACTIVE, CardStatus.BLOCKED)))} \
        == {active.id, obu.id, blocked.id}
    assert [r.id for r in search_cards(session, actor, number, CardFilter(product_types=(ProductType.PASSANGO_OBU,)))] == [obu.id]
    assert count_cards(session, actor, number, CardFilter(statuses=(CardStatus.ACTIVE,),
                                                     product_types=(ProductType.FLEET_CARD,))) == 1
    row = search_cards(session, actor, number, CardFilter(text="1-AAA-003"))[0]
    assert (row.division, row.status, row.product_type) == ("Distribution", CardStatus.ACTIVE, ProductType.PASSANGO_OBU)


def test_scoped_to_the_actors_customer_numbers(world, session, clock):
    add_card(world, "1-AAA-001")
    theirs = add_card(world, "9-OTH-001", other=True)
    session.commit()
    depot = world.actor_with("depot", [Right.CARD_MANAGE], clock.now(), numbers=(world.number,))
    assert [r.license_plate for r in search_cards(session, depot, world.number.id)] == ["1-AAA-001"]
    with pytest.raises(PermissionDenied):
        search_cards(session, depot, world.other_number.id)
    with pytest.raises(PermissionDenied):
        count_cards(session, depot, world.other_number.id)
    assert [r.id for r in search_cards(session, world.actor, world.other_number.id)] == [theirs.id]
    accounting = world.actor_with("accounting", [Right.INVOICE_DOWNLOAD], clock.now())
    with pytest.raises(PermissionDenied):
        search_cards(session, accounting, world.number.id)


def test_filtered_pages_lose_and_repeat_no_row(world, session):
    """Keyset pages over a filter (status + expiry range + text) cover exactly the filtered rows, once."""
    from datetime import date

    for index in range(30):
        card = add_card(world, f"1-FLT-{index % 9:03d}", driver=f"Driver {index}",
                        status=CardStatus.ACTIVE if index % 3 else CardStatus.BLOCKED)
        card.expiry_date = date(2027, 1 + index % 12, 1)
    session.commit()
    card_filter = CardFilter(text="flt", statuses=(CardStatus.ACTIVE,), expiry_from=date(2027, 3, 1),
                             expiry_to=date(2027, 9, 30))
    everything = search_cards(session, world.actor, world.number.id, card_filter, limit=1000)
    expected = [i for i in range(30) if i % 3 and 3 <= 1 + i % 12 <= 9]
    assert len(everything) == len(expected) == count_cards(session, world.actor, world.number.id, card_filter)
    for limit in (1, 4, 7):
        assert page_through(session, world.actor, world.number.id, limit, card_filter) == [r.id for r in everything]


def test_the_filter_names_no_other_customer_number(world, session):
    """The screen's customer number wins over one the filter names: no way around the scope."""
    add_card(world, "1-AAA-001")
    add_card(world, "9-OTH-001", other=True)
    session.commit()
    rows = search_cards(session, world.actor, world.number.id, CardFilter(customer_number_ids=(world.other_number.id,)))
    assert [r.license_plate for r in rows] == ["1-AAA-001"]
