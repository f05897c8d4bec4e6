"""CardFilter: every criterion against a Python oracle over the demo's cards, and the actor's scope."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from store.demo import build_demo
from store.models import Card, CardStatus, CustomerNumber, FleetDivision, ProductType, RenewalStatus, User
from store.queries.card_filter import CardFilter, apply_card_filter, scoped_filter
from store.queries.fleet_export import count_fleet
from store.services.context import actor_for
from store.services.errors import PermissionDenied


@pytest.fixture
def demo(db, session):
    build_demo(db, cards=60)
    cards = session.exec(select(Card).order_by(Card.id)).all()
    divisions = {d.id: d for d in session.exec(select(FleetDivision)).all()}
    return cards, divisions


def actor(session, username):
    return actor_for(session, session.exec(select(User).where(User.username == username)).one())


def found(session, card_filter: CardFilter) -> list[int]:
    return list(session.exec(apply_card_filter(select(Card.id), card_filter).order_by(Card.id)).all())


def check(session, cards, card_filter: CardFilter, keep) -> list[int]:
    expected = [c.id for c in cards if keep(c)]
    assert 0 < len(expected) < len(cards), "the example must select some cards but not all"
    assert found(session, card_filter) == expected
    return expected


def test_the_empty_filter_finds_every_card(session, demo):
    cards, _ = demo
    assert found(session, CardFilter()) == [c.id for c in cards]


def test_enum_id_and_date_criteria(session, demo):
    cards, _ = demo
    check(session, cards, CardFilter(statuses=(CardStatus.ACTIVE,)), lambda c: c.status is CardStatus.ACTIVE)
    check(session, cards, CardFilter(statuses=(CardStatus.NEW, CardStatus.IN_PRODUCTION)),
          lambda c: c.status in (CardStatus.NEW, CardStatus.IN_PRODUCTION))
    obus = (ProductType.PASSANGO_OBU, ProductType.LIBERT_OBU)
    check(session, cards, CardFilter(product_types=obus), lambda c: c.product_type in obus)
    check(session, cards, CardFilter(renewal_statuses=(RenewalStatus.CANDIDATE, RenewalStatus.CANCELLED)),
          lambda c: c.renewal_status in (RenewalStatus.CANDIDATE, RenewalStatus.CANCELLED))
    first_number = cards[0].customer_number_id
    check(session, cards, CardFilter(customer_number_ids=(first_number,)),
          lambda c: c.customer_number_id == first_number)
    check(session, cards, CardFilter(division_ids=(2, 3)), lambda c: c.division_id in (2, 3))

    expiries = sorted(c.expiry_date for c in cards if c.expiry_date)
    low, high = expiries[len(expiries) // 4], expiries[3 * len(expiries) // 4]
    check(session, cards, CardFilter(expiry_from=low), lambda c: c.expiry_date is not None and c.expiry_date >= low)
    check(session, cards, CardFilter(expiry_to=high), lambda c: c.expiry_date is not None and c.expiry_date <= high)
    check(session, cards, CardFilter(expiry_from=low, expiry_to=high),
          lambda c: c.expiry_date is not None and low <= c.expiry_date <= high)
    # Inclusive bounds: a one-day range finds the cards expiring that day.
    check(session, cards, CardFilter(expiry_from=low, expiry_to=low), lambda c: c.expiry_date == low)

    # Criteria combine with AND.
    check(session, cards, CardFilter(statuses=(CardStatus.ACTIVE,), product_types=(ProductType.FLEET_CARD,),
                                     division_ids=(1,)),
          lambda c: c.status is CardStatus.ACTIVE and c.product_type is ProductType.FLEET_CARD and c.division_id == 1)


@pytest.mark.parametrize("zone_name", ["UTC", "Europe/Brussels"])
def test_last_use_is_a_range_of_days_in_the_time_zone(session, demo, zone_name):
    cards, _ = demo
    zone = ZoneInfo(zone_name)

    def local_day(card):
        return card.last_used_at.astimezone(zone).date() if card.last_used_at else None

    days = sorted(local_day(c) for c in cards if c.last_used_at)
    low, high = days[len(days) // 4], days[-3]
    check(session, cards, CardFilter(last_use_from=low, time_zone=zone_name),
          lambda c: local_day(c) is not None and local_day(c) >= low)
    check(session, cards, CardFilter(last_use_to=high, time_zone=zone_name),
          lambda c: local_day(c) is not None and local_day(c) <= high)
    check(session, cards, CardFilter(last_use_from=low, last_use_to=low, time_zone=zone_name),
          lambda c: local_day(c) == low)
    # Cards never used fall out of any last-use range.
    far = CardFilter(last_use_from=date(2000, 1, 1), last_use_to=days[-1] + timedelta(days=1), time_zone=zone_name)
    assert found(session, far) == [c.id for c in cards if c.last_used_at]


def test_text_matches_number_plate_driver_and_division_case_insensitively(session, demo):
    cards, divisions = demo

    def contains(value, text):
        return value is not None and text.lower() in value.lower()

    def matches(text):
        return lambda c: (contains(c.number, text) or contains(c.license_plate, text)
                          or contains(c.driver_name, text) or contains(divisions[c.division_id].name, text))

    with_number = next(c for c in cards if c.number)
    with_plate = next(c for c in cards if c.license_plate)
    with_driver = next(c for c in cards if c.driver_name)
    for text in (with_number.number[-6:], with_plate.license_plate[2:5].lower(),
                 with_driver.driver_name.split()[-1].upper(), "long HAUL", "  long   haul  "):
        hits = check(session, cards, CardFilter(text=text), matches(" ".join(text.split())))
        assert hits
    # The division name matches even when the statement already joins FleetDivision (no correlation).
    joined = apply_card_filter(select(Card.id).join(FleetDivision, FleetDivision.id == Card.division_id),
                               CardFilter(text="management")).order_by(Card.id)
    assert list(session.exec(joined).all()) == [c.id for c in cards if c.division_id == 3]
    # LIKE wildcards typed by the user are taken literally.
    assert found(session, CardFilter(text="%")) == []
    assert found(session, CardFilter(text="_")) == []
    # Text combines with the other criteria.
    check(session, cards, CardFilter(text="long haul", statuses=(CardStatus.ACTIVE,)),
          lambda c: c.division_id == 2 and c.status is CardStatus.ACTIVE)


def test_scope_refuses_customer_numbers_the_actor_may_not_use(session, demo):
    cards, _ = demo
    depot = actor(session, "depot")  # cards.manage on the first customer number only
    admin = actor(session, "fleetadmin")
    antwerp, liege = session.exec(select(CustomerNumber.id).order_by(CustomerNumber.number)).all()
    assert depot.customer_number_ids == (antwerp,)

    with pytest.raises(PermissionDenied):
        scoped_filter(session, depot, CardFilter(customer_number_ids=(liege,)))
    with pytest.raises(PermissionDenied):
        count_fleet(session, depot, CardFilter(customer_number_ids=(antwerp, liege)))
    # Without customer numbers: the actor's own, and the customer's time zone.
    scoped = scoped_filter(session, depot, CardFilter(text="x"))
    assert scoped.customer_number_ids == (antwerp,) and scoped.time_zone == "Europe/Brussels"
    assert count_fleet(session, depot, CardFilter()) == sum(c.customer_number_id == antwerp for c in cards)
    assert count_fleet(session, admin, CardFilter()) == len(cards)
    assert count_fleet(session, admin, CardFilter(customer_number_ids=(liege,))) == sum(
        c.customer_number_id == liege for c in cards)

    # The right is needed too: accounting may see both customer numbers but has no cards.manage.
    with pytest.raises(PermissionDenied, match=r"“Manage cards and OBUs”"):
        count_fleet(session, actor(session, "accounting"), CardFilter())
