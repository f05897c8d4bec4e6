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


# --- sort on any column, pages both ways -------------------------------------------------------------

def varied_fleet(world: World, clock) -> list[Card]:
    """Cards whose sortable values differ, repeat and are missing, in both divisions."""
    from datetime import date, timedelta

    from store.models import CodeType, RenewalStatus

    cards = []
    for index in range(17):
        card = add_card(world, None if index % 5 == 0 else f"1-S{index % 6}T-{index:03d}",
                        name=None if index % 5 == 0 and index % 2 else f"NAME {index % 4}",
                        driver=None if index % 4 == 0 else f"Driver {index % 3}",
                        number=None if index % 6 == 0 else f"70061402000{index:07d}",
                        status=list(CardStatus)[index % 4],
                        product_type=ProductType.PASSANGO_OBU if index % 7 == 0 else ProductType.FLEET_CARD)
        card.rank = index % 3
        card.division_id = (world.division if index % 2 else world.second_division).id
        card.renewal_status = list(RenewalStatus)[index % 3]
        card.expiry_date = None if index % 8 == 0 else date(2027, 1 + index % 4, 1)
        card.last_used_at = None if index % 3 == 0 else clock.now() - timedelta(days=index % 5)
        card.created_at = clock.now() - timedelta(days=index % 6)
        card.code_type = CodeType.DRIVER_CODE if index % 2 else CodeType.PIN
        card.category = None if index % 3 else f"Cat {index % 2}"
        card.vehicle_type = f"Van {index % 3}" if index % 4 else None
        cards.append(card)
    world.session.commit()
    return cards


def sort_value(column: str, row):
    """The value a card is sorted on, None when it has none (an empty text counts as none)."""
    values = {
        "plate": row.license_plate or row.embossed_name,
        "number": row.number,
        "rank": row.rank,
        "type": row.product_type.value,
        "status": row.status.value,
        "renewal": row.renewal_status.value,
        "expiry": row.expiry_date,
        "last_use": row.last_used_at,
        "driver": row.driver_name,
        "division": row.division,
        "created": row.created_at,
        "code_type": row.code_type.value,
        "category": row.category,
        "vehicle_type": row.vehicle_type,
    }
    return values[column] if values[column] != "" else None


def promised_order(column: str, rows, descending: bool) -> list[int]:
    """The order the store promises, written out in Python: by value then id, in the chosen direction, and
    the cards without a value last in both directions (among themselves by id, same direction)."""
    having = [row for row in rows if sort_value(column, row) is not None]
    missing = [row for row in rows if sort_value(column, row) is None]
    having.sort(key=lambda row: (sort_value(column, row), row.id), reverse=descending)
    missing.sort(key=lambda row: row.id, reverse=descending)
    return [row.id for row in having + missing]


@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_column_pages_forwards_and_backwards_without_loss(world, session, clock, descending):
    from store.queries.cards import SORT_COLUMNS, CardSort

    varied_fleet(world, clock)
    for column in SORT_COLUMNS:
        sort = CardSort(column, descending)
        everything = search_cards(session, world.actor, world.number.id, sort=sort, limit=1000)
        assert len(everything) == 17
        assert [r.id for r in everything] == promised_order(column, everything, descending), column
        for limit in (1, 3, 5):
            forwards, after = [], None
            while True:
                rows = search_cards(session, world.actor, world.number.id, sort=sort, after=after, limit=limit)
                forwards += [r.id for r in rows]
                if len(rows) < limit:
                    break
                after = rows[-1].after
            assert forwards == [r.id for r in everything], (column, limit)
            page = search_cards(session, world.actor, world.number.id, sort=sort, last=True, limit=limit)
            backwards = [r.id for r in page]
            while len(page) == limit:
                page = search_cards(session, world.actor, world.number.id, sort=sort, before=page[0].after,
                                    limit=limit)
                backwards = [r.id for r in page] + backwards
            assert backwards == [r.id for r in everything], (column, limit)


def test_cards_without_a_value_come_last_whichever_the_direction(world, session, clock):
    """Expiry descending used to show the cards without an expiry date on top, last use ascending the cards
    never used: the empty values now end the list both ways, also across a page boundary."""
    from store.queries.cards import CardSort

    varied_fleet(world, clock)
    for column in ("expiry", "last_use", "driver"):
        for descending in (False, True):
            sort = CardSort(column, descending)
            rows = search_cards(session, world.actor, world.number.id, sort=sort, limit=1000)
            having = [sort_value(column, row) is not None for row in rows]
            assert having == sorted(having, reverse=True) and having[0] and not having[-1], (column, descending)
            first = search_cards(session, world.actor, world.number.id, sort=sort, limit=2)
            assert all(sort_value(column, row) is not None for row in first), (column, descending)
            last = search_cards(session, world.actor, world.number.id, sort=sort, last=True, limit=2)
            assert [sort_value(column, row) for row in last] == [None, None], (column, descending)


def test_an_unknown_sort_column_is_refused():
    from store.queries.cards import CardSort

    with pytest.raises(ValueError, match="cannot sort on"):
        CardSort("pin_hash")


# --- the search plan gives the same rows as the plain filter --------------------------------------------

TEXTS = ["1-S", "s1t", "1-S3T-009", "1s3t0", "name 2", "NAME", "driver 1", "river", "7006140200000", "0000013",
         "distrib", "long haul", "haul", "zzz", "1", "S3", "%", "_", "1-s5t-0", "ha"]


def test_the_search_plan_changes_no_result(world, session, clock, monkeypatch):
    """Whatever path the plan takes (trigram candidates, date indexes or not), the rows are the plain
    filter's rows, in the same order."""
    from datetime import date

    from sqlmodel import select

    from store.models import FleetDivision
    from store.queries import card_filter as card_filter_module
    from store.queries.card_filter import SearchPlan, card_filter_clauses, plan_search

    varied_fleet(world, clock)
    add_card(world, "1-S3T-009", other=True)  # the same plate at another customer number
    session.commit()

    def ids(card_filter: CardFilter, plan: SearchPlan) -> list[int]:
        query = (select(Card.id).join(FleetDivision, FleetDivision.id == Card.division_id)
                 .where(*card_filter_clauses(card_filter, plan)).order_by(Card.id))
        return list(session.exec(query).all())

    sqlite = session.get_bind().dialect.name == "sqlite"
    used = set()
    # Many candidates allowed (read from them, or walk the sort index keeping them), then almost none.
    for limit, dense in ((2000, 2000), (2000, 0), (1, 0)):
        monkeypatch.setattr(card_filter_module, "NARROW_LIMIT", limit)
        monkeypatch.setattr(card_filter_module, "DENSE_TEXT", dense)
        for text in TEXTS:
            for dates in ({}, {"expiry_from": date(2027, 2, 1), "expiry_to": date(2027, 3, 31)}):
                card_filter = CardFilter(customer_number_ids=(world.number.id,), text=text, **dates)
                plan = plan_search(session, card_filter)
                used.add(("dense " if plan.dense_text else "") + "candidates" if plan.text_candidates is not None
                         else plan)
                assert ids(card_filter, plan) == ids(card_filter, SearchPlan()), (text, dates, plan)
                rows = search_cards(session, world.actor, world.number.id, card_filter, limit=1000)
                assert sorted(r.id for r in rows) == ids(card_filter, SearchPlan())
    if sqlite:  # every path was taken
        assert "candidates" in used and "dense candidates" in used
        assert SearchPlan(skip_date_indexes=True) in used
        assert SearchPlan() in used
    else:
        assert used == {SearchPlan()}


def test_text_finds_number_plate_without_dashes_name_driver_and_division(world, session, clock):
    varied_fleet(world, clock)

    def plates(text: str) -> set[str]:
        rows = search_cards(session, world.actor, world.number.id, CardFilter(text=text), limit=1000)
        return {r.license_plate or r.embossed_name or f"#{r.id}" for r in rows}

    assert plates("1-S3T-009") == {"1-S3T-009"}
    assert plates("1s3t009") == {"1-S3T-009"}  # typed without dashes
    assert plates("1 S3T 009") == {"1-S3T-009"}  # or with spaces
    assert plates("7006140200000000") == plates("70061402000000000") | plates("70061402000000001")
    assert "NAME 2" in plates("name 2")  # the name on a card without a plate
    by_driver = search_cards(session, world.actor, world.number.id, CardFilter(text="driver 2"), limit=1000)
    assert by_driver and all(r.driver_name == "Driver 2" for r in by_driver)
    haul = search_cards(session, world.actor, world.number.id, CardFilter(text="long HAUL"), limit=1000)
    assert len(haul) == 9 and {r.division for r in haul} == {"Long haul"}
