"""The Limits and Controls views of Manage cards and OBUs: `card_settings` for the cards of a list window."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from test_cards import CARD_RIGHTS, World

from store.models import Card, CardLimit, LimitAction, LimitPeriod, Product, ProductType, Right
from store.queries.card_settings import card_settings, weekday_runs
from store.services.context import ISSUER
from store.services.errors import PermissionDenied


@pytest.fixture
def world(session, clock) -> World:
    return World.build(session, clock.now())


def add_card(world: World, plate: str, other: bool = False, **fields) -> Card:
    card = Card(customer_number_id=(world.other_number if other else world.number).id,
                division_id=(world.foreign_division if other else world.division).id,
                product_type=ProductType.FLEET_CARD, license_plate=plate, embossed_name=plate, **fields)
    world.session.add(card)
    world.session.flush()
    return card


def test_limits_and_controls_of_the_window(world, session):
    configured = add_card(world, "1-AAA-001", allowed_countries=["BE", "FR", "NL"], allowed_weekdays=[5, 1, 2, 3, 4],
                          allowed_hours_from="06:00", allowed_hours_to="20:00", forbidden_days=["2026-12-25"],
                          odometer_prompt=True, tank_capacity_l=Decimal("80"), max_transactions_per_day=3)
    plain = add_card(world, "1-AAA-002")
    session.add_all([
        CardLimit(card_id=configured.id, product=Product.ADBLUE, volume=Decimal("50"), period=LimitPeriod.DAY,
                  action=LimitAction.NOTIFY),
        CardLimit(card_id=configured.id, product=Product.DIESEL, amount=Decimal("300"), period=LimitPeriod.WEEK),
        CardLimit(card_id=configured.id, product=Product.SHOP, allowed=False),
    ])
    session.commit()
    settings = card_settings(session, world.actor, [plain.id, configured.id, 999_999])
    assert set(settings) == {configured.id, plain.id}  # an unknown id is left out
    mine = settings[configured.id]
    assert [(limit.product, limit.allowed) for limit in mine.limits] == [
        (Product.DIESEL, True), (Product.ADBLUE, True), (Product.SHOP, False)]  # in Product order
    diesel = mine.limits[0]
    assert diesel.amount == Decimal("300") and diesel.period is LimitPeriod.WEEK and diesel.action is LimitAction.BLOCK
    assert mine.limits[1].volume == Decimal("50") and mine.limits[1].action is LimitAction.NOTIFY
    assert mine.allowed_countries == ("BE", "FR", "NL")
    assert mine.allowed_weekdays == (1, 2, 3, 4, 5)
    assert (mine.hours_from, mine.hours_to) == ("06:00", "20:00")
    assert mine.forbidden_days == (date(2026, 12, 25),)
    assert mine.odometer_prompt and mine.tank_capacity_l == Decimal("80") and mine.max_transactions_per_day == 3
    other = settings[plain.id]
    assert other.limits == () and other.allowed_countries == () and other.allowed_weekdays == (1, 2, 3, 4, 5, 6, 7)
    assert not other.odometer_prompt and other.tank_capacity_l is None and other.max_transactions_per_day is None
    assert card_settings(session, world.actor, []) == {}


def test_rights_and_customer_numbers(world, session, clock):
    mine = add_card(world, "1-AAA-001")
    foreign = add_card(world, "1-ZZZ-999", other=True)
    session.commit()
    # One customer number only: the other number's card is not shown.
    antwerp = world.actor_with("antwerp", CARD_RIGHTS, clock.now(), numbers=(world.number,))
    assert set(card_settings(session, antwerp, [mine.id, foreign.id])) == {mine.id}
    assert set(card_settings(session, world.actor, [mine.id, foreign.id])) == {mine.id, foreign.id}
    assert set(card_settings(session, ISSUER, [mine.id, foreign.id])) == {mine.id, foreign.id}
    # Without the right to manage cards: refused.
    reader = world.actor_with("reader", (Right.CARD_REQUESTS,), clock.now())
    with pytest.raises(PermissionDenied):
        card_settings(session, reader, [mine.id])


def test_weekday_runs():
    assert weekday_runs([1, 2, 3, 4, 5]) == [(1, 5)]
    assert weekday_runs([7, 1]) == [(1, 1), (7, 7)]
    assert weekday_runs([1, 2, 4, 5, 6, 6]) == [(1, 2), (4, 6)]
    assert weekday_runs([]) == []
