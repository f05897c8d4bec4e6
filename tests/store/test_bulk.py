"""Bulk actions (Fiche 06): a preview per card, each card in its own transaction, one bad card never stops the
others and nothing is half-applied on a card."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select
from test_cards import World

import store.services.cards as cards_module
from store.models import AuditEvent, BlockReason, Card, CardLimit, CardStatus, Product, RenewalStatus
from store.models import LimitPeriod, Right
from store.queries.card_filter import CardFilter
from store.services.bulk import (
    BulkAction,
    BulkParams,
    apply_bulk,
    iter_apply_bulk,
    iter_preview_bulk,
    move_to_division,
    preview_bulk,
    resolve_selection,
    template_problems,
)
from store.services.card_specs import Controls, InvalidSpec, LimitSpec
from store.services.cards import spec_from_card
from store.services.cards import create_card
from store.services.errors import DomainError, PermissionDenied


@pytest.fixture
def world(session, clock) -> World:
    return World.build(session, clock.now())


def _card(world: World, clock, plate: str, status: CardStatus) -> Card:
    card, _request = create_card(world.session, world.actor, clock.now(), world.card_spec(license_plate=plate))
    if status is not CardStatus.NEW:
        card = world.set_status(card, status)
    return card


@pytest.fixture
def mixed(world, clock):
    """An active, a blocked and a new card."""
    active = _card(world, clock, "1-AAA-001", CardStatus.ACTIVE)
    blocked = _card(world, clock, "1-BBB-002", CardStatus.BLOCKED)
    new = _card(world, clock, "1-CCC-003", CardStatus.NEW)
    return active.id, blocked.id, new.id


def fresh(world: World, card_id: int) -> Card:
    return world.session.get(Card, card_id, populate_existing=True)


def test_block_preview_and_results_per_card(world, clock, mixed):
    active, blocked, new = mixed
    params = BulkParams(reason=BlockReason.LOSS, duplicate=True)
    preview = preview_bulk(world.session, world.actor, mixed, BulkAction.BLOCK, params)
    assert [p.card_id for p in preview] == [active, blocked, new]
    assert [p.outcome for p in preview] == ["immediate", "refused", "refused"]
    assert "duplicate" in preview[0].message
    assert "already blocked" in preview[1].message
    assert "delete it instead" in preview[2].message
    # The preview writes nothing.
    assert fresh(world, active).status is CardStatus.ACTIVE

    results = apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.BLOCK, params)
    assert [(r.card_id, r.ok) for r in results] == [(active, True), (blocked, False), (new, False)]
    assert results[0].request_id is not None
    assert results[1].message == preview[1].message
    assert fresh(world, active).status is CardStatus.BLOCKED
    assert fresh(world, active).block_reason is BlockReason.LOSS
    assert world.session.exec(select(Card).where(Card.duplicate_of_id == active)).one().status is CardStatus.NEW
    assert fresh(world, new).status is CardStatus.NEW


def test_cancel_and_pin_reissue_per_card(world, clock, mixed):
    active, blocked, new = mixed
    preview = preview_bulk(world.session, world.actor, mixed, BulkAction.PIN_REISSUE)
    assert [p.outcome for p in preview] == ["reproduction", "refused", "refused"]
    results = apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.PIN_REISSUE)
    assert [r.ok for r in results] == [True, False, False]
    # A second time the pending request is the reason.
    assert preview_bulk(world.session, world.actor, [active], BulkAction.PIN_REISSUE)[0].outcome == "refused"

    preview = preview_bulk(world.session, world.actor, mixed, BulkAction.CANCEL)
    assert [p.outcome for p in preview] == ["immediate", "refused", "refused"]
    results = apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.CANCEL)
    assert [r.ok for r in results] == [True, False, False]
    assert fresh(world, active).renewal_status is RenewalStatus.CANCELLED


def test_a_failure_on_one_card_leaves_the_others_applied_and_it_untouched(world, clock, monkeypatch):
    first = _card(world, clock, "1-AAA-001", CardStatus.ACTIVE)
    failing = _card(world, clock, "1-FFF-002", CardStatus.ACTIVE)
    last = _card(world, clock, "1-ZZZ-003", CardStatus.ACTIVE)
    failing_version = failing.version
    real = cards_module._order_duplicate

    def breaks_on_one(session, actor, now, blocked, reason):
        if blocked.id == failing.id:  # after the card row was already set to blocked in the transaction
            raise RuntimeError("the database went away")
        return real(session, actor, now, blocked, reason)

    monkeypatch.setattr(cards_module, "_order_duplicate", breaks_on_one)
    ids = [first.id, failing.id, last.id]
    results = apply_bulk(world.session, world.actor, clock.now(), ids, BulkAction.BLOCK,
                         BulkParams(reason=BlockReason.THEFT, duplicate=True))
    assert [r.ok for r in results] == [True, False, True]
    assert "nothing was changed" in results[1].message
    assert fresh(world, first.id).status is CardStatus.BLOCKED
    assert fresh(world, last.id).status is CardStatus.BLOCKED
    untouched = fresh(world, failing.id)
    assert untouched.status is CardStatus.ACTIVE and untouched.block_reason is None
    assert untouched.version == failing_version
    assert world.session.exec(select(Card).where(Card.duplicate_of_id == failing.id)).first() is None


def test_move_division_same_customer_number_only(world, clock, mixed):
    active, blocked, new = mixed
    params = BulkParams(division_id=world.second_division.id)
    preview = preview_bulk(world.session, world.actor, mixed, BulkAction.MOVE_DIVISION, params)
    assert [p.outcome for p in preview] == ["immediate", "refused", "immediate"]
    assert "blocked" in preview[1].message
    version = fresh(world, active).version
    results = apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.MOVE_DIVISION, params)
    assert [r.ok for r in results] == [True, False, True]
    moved = fresh(world, active)
    assert moved.division_id == world.second_division.id and moved.version == version + 1
    assert fresh(world, blocked).division_id == world.division.id
    event = world.session.exec(select(AuditEvent).where(AuditEvent.object_id == str(active),
                                                        AuditEvent.action == "moved to division")).one()
    assert event.after["division"] == "Long haul"

    across = BulkParams(division_id=world.foreign_division.id)
    preview = preview_bulk(world.session, world.actor, [active], BulkAction.MOVE_DIVISION, across)
    assert preview[0].outcome == "refused" and "another customer number" in preview[0].message
    with pytest.raises(DomainError, match="another customer number"):
        move_to_division(world.session, world.actor, clock.now(), active, world.foreign_division.id)
    assert fresh(world, active).division_id == world.second_division.id


def test_template_classification_is_the_stores(world, clock, mixed):
    active, blocked, new = mixed
    ceiling = BulkParams(limits=(LimitSpec(Product.DIESEL, amount=Decimal("150.00")),))
    preview = preview_bulk(world.session, world.actor, mixed, BulkAction.APPLY_TEMPLATE, ceiling)
    assert [p.outcome for p in preview] == ["immediate", "refused", "immediate"]
    results = apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.APPLY_TEMPLATE, ceiling)
    assert [r.ok for r in results] == [True, False, True]
    diesel = world.session.exec(select(CardLimit).where(CardLimit.card_id == active,
                                                        CardLimit.product == Product.DIESEL)).one()
    assert diesel.amount == Decimal("150.00")

    new_product = BulkParams(limits=(LimitSpec(Product.LPG),))  # what the chip allows: a new plastic
    preview = preview_bulk(world.session, world.actor, [active], BulkAction.APPLY_TEMPLATE, new_product)
    assert preview[0].outcome == "reproduction"
    results = apply_bulk(world.session, world.actor, clock.now(), [active], BulkAction.APPLY_TEMPLATE, new_product)
    assert results[0].ok and results[0].request_id is not None


def test_foreign_card_is_refused_per_card(world, clock, mixed):
    active, _blocked, _new = mixed
    outsider = world.actor_with("liege", (cards_module.Right.CARD_MANAGE,), clock.now(),
                                numbers=(world.other_number,))
    preview = preview_bulk(world.session, outsider, [active], BulkAction.CANCEL)
    assert preview[0].outcome == "refused"
    results = apply_bulk(world.session, outsider, clock.now(), [active], BulkAction.CANCEL)
    assert not results[0].ok
    assert fresh(world, active).renewal_status is RenewalStatus.NONE


# --- a selection as a filter ("mark all that match") ---------------------------------------------------------

def test_resolve_selection_scopes_to_the_actor_and_orders_by_id(world, clock):
    first = _card(world, clock, "1-SEL-001", CardStatus.ACTIVE)
    second = _card(world, clock, "1-SEL-002", CardStatus.BLOCKED)
    elsewhere, _request = create_card(world.session, world.actor, clock.now(), world.card_spec(
        license_plate="1-SEL-003", customer_number_id=world.other_number.id, division_id=world.foreign_division.id))
    _card(world, clock, "9-OTH-999", CardStatus.ACTIVE)

    ids = resolve_selection(world.session, world.actor, CardFilter(text="SEL"))
    assert ids == sorted([first.id, second.id, elsewhere.id])
    assert resolve_selection(world.session, world.actor, CardFilter(
        customer_number_ids=(world.number.id,), text="sel")) == [first.id, second.id]
    assert resolve_selection(world.session, world.actor, CardFilter(
        text="sel", statuses=(CardStatus.ACTIVE,))) == [first.id]

    only_here = world.actor_with("antwerp", (Right.CARD_MANAGE,), clock.now(), numbers=(world.number,))
    assert resolve_selection(world.session, only_here, CardFilter(text="SEL")) == [first.id, second.id]
    with pytest.raises(PermissionDenied):
        resolve_selection(world.session, only_here, CardFilter(customer_number_ids=(world.other_number.id,)))
    viewer = world.actor_with("viewer", (Right.CARD_REQUESTS,), clock.now())
    with pytest.raises(PermissionDenied):
        resolve_selection(world.session, viewer, CardFilter(text="SEL"))


def test_stopping_between_cards_keeps_what_was_done_and_leaves_the_rest(world, clock):
    cards = [_card(world, clock, f"1-STP-00{i}", CardStatus.ACTIVE) for i in range(4)]
    ids = [card.id for card in cards]
    done = []
    for result in iter_apply_bulk(world.session, world.actor, clock.now(), ids, BulkAction.CANCEL):
        done.append(result)
        if len(done) == 2:
            break  # the cancel key
    assert [r.ok for r in done] == [True, True]
    world.session.rollback()  # whatever the caller does next, the two are committed
    assert [fresh(world, i).renewal_status for i in ids] == [RenewalStatus.CANCELLED] * 2 + [RenewalStatus.NONE] * 2

    previews = iter_preview_bulk(world.session, world.actor, ids, BulkAction.CANCEL)
    assert [next(previews).outcome, next(previews).outcome] == ["refused", "refused"]
    previews.close()


def test_iterators_check_right_and_parameters_before_the_first_card(world, clock, mixed):
    with pytest.raises(DomainError, match="reason"):
        iter_apply_bulk(world.session, world.actor, clock.now(), mixed, BulkAction.BLOCK, BulkParams())
    with pytest.raises(DomainError, match="division"):
        iter_preview_bulk(world.session, world.actor, mixed, BulkAction.MOVE_DIVISION, BulkParams())


# --- the template --------------------------------------------------------------------------------------------

def test_template_problems_name_their_field(world, clock, mixed):
    assert [p.field for p in template_problems(BulkParams())] == ["template"]
    bad = BulkParams(limits=(LimitSpec(Product.DIESEL, amount=Decimal("-5")),),
                     controls=Controls(hours_from="25:00", hours_to="26:00", allowed_countries=("XX",),
                                       max_transactions_per_day=500))
    fields = {p.field for p in template_problems(bad)}
    assert {"controls.hours_from", "controls.allowed_countries", "controls.max_transactions_per_day"} <= fields
    assert any(field.startswith("limits.diesel") for field in fields)
    with pytest.raises(InvalidSpec) as caught:
        preview_bulk(world.session, world.actor, mixed, BulkAction.APPLY_TEMPLATE, bad)
    assert caught.value.field_problems
    assert template_problems(BulkParams(limits=(LimitSpec(Product.DIESEL, amount=Decimal("90")),))) == []


def test_template_keeps_other_limits_and_replaces_controls_as_a_whole(world, clock):
    card = _card(world, clock, "1-TPL-001", CardStatus.ACTIVE)
    before = spec_from_card(world.session, card.id)
    others = {limit.product: limit for limit in before.limits if limit.product is not Product.DIESEL}
    assert others, "the test card needs limits besides diesel"
    controls = Controls(allowed_weekdays=(1, 2, 3, 4, 5), hours_from="06:00", hours_to="20:00",
                        allowed_countries=("BE", "NL"), max_transactions_per_day=4,
                        odometer_prompt=before.controls.odometer_prompt)
    params = BulkParams(limits=(LimitSpec(Product.DIESEL, amount=Decimal("120"), period=LimitPeriod.WEEK),),
                        controls=controls)
    preview = preview_bulk(world.session, world.actor, [card.id], BulkAction.APPLY_TEMPLATE, params)
    assert preview[0].outcome == "immediate"
    results = apply_bulk(world.session, world.actor, clock.now(), [card.id], BulkAction.APPLY_TEMPLATE, params)
    assert results[0].ok
    after = spec_from_card(world.session, card.id)
    limits = {limit.product: limit for limit in after.limits}
    assert limits[Product.DIESEL].amount == Decimal("120") and limits[Product.DIESEL].period is LimitPeriod.WEEK
    assert {p: limits[p] for p in others} == others
    assert after.controls == controls  # as a whole: the forbidden days etc. of before are gone too
