"""Changing a customer's time zone (store.services.customers.change_timezone) rebuilds the month totals of its
cards in the same transaction: they equal a full rebuild's, the reports show the months of the new zone, and
the cards of other customers are left alone. The fleet is test_reports' (Europe/Brussels), figures by hand."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlmodel import select
from test_month_totals import recomputed, totals
from test_reports import OCT, NOV, PERIOD, build_fleet, fuel

from store.issuer.month_totals import rebuild_month_totals
from store.models import (AuditEvent, Card, CardMonthTotal, CardStatus, Customer, CustomerNumber, FleetDivision,
                          Product, ProductType, Right)
from store.queries import reports
from store.services import customers
from store.services.context import ISSUER
from store.services.errors import DomainError, PermissionDenied

D = Decimal
UTC = timezone.utc


@pytest.fixture
def fleet(session):
    return build_fleet(session)


@pytest.fixture
def stranger(session):
    """A card of another customer (Brussels too) with a fill at 23:30 UTC on 31 October: November there."""
    customer = Customer(name="Ander BV", driver_code_prefix="7399", timezone="Europe/Brussels")
    session.add(customer)
    session.flush()
    number = CustomerNumber(customer_id=customer.id, number="4099001", name="Ander")
    session.add(number)
    session.flush()
    division = FleetDivision(customer_number_id=number.id, name="Alles")
    session.add(division)
    session.flush()
    card = Card(customer_number_id=number.id, division_id=division.id, product_type=ProductType.FLEET_CARD,
                number="7006000000000099", rank=1, status=CardStatus.ACTIVE, license_plate="1-ZZZ-099")
    session.add(card)
    session.flush()
    session.add(fuel(card, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), Product.DIESEL, "10", "16.00", "19.36"))
    session.flush()
    rebuild_month_totals(session.connection())
    session.commit()
    return card


def test_the_totals_follow_the_new_zone_in_the_same_transaction(session, fleet, stranger, clock):
    before = totals(session)
    assert before == recomputed(session)
    lines = customers.change_timezone(session, ISSUER, clock.now(), fleet.customer.id, "UTC")
    session.expire_all()
    assert session.get(Customer, fleet.customer.id).timezone == "UTC"
    after = totals(session)
    assert after == recomputed(session)  # what `cardsonline db rebuild-month-totals` would write
    assert after != before
    assert lines == len([key for key in after if key[0] != stranger.id])
    # A's 5 l at 22:30 UTC on 30 September is September now; its 20 l at 23:30 UTC on 31 October is October.
    assert (fleet.a.id, date(2026, 9, 1)) in after
    assert after[(fleet.a.id, OCT)]["fuel_litres"] == D("140.000")
    # The other customer is still in Brussels: its fill stays in November.
    assert {key for key in after if key[0] == stranger.id} == {(stranger.id, NOV)}


def test_the_reports_show_the_months_of_the_new_zone(session, fleet, clock):
    october, november = reports.followup_months(session, fleet.actor, fleet.number.id, PERIOD)
    assert october.fuel == reports.Figures(4, D("125.000"), D("200.00"), D("242.00"))  # Brussels (test_reports)
    customers.change_timezone(session, ISSUER, clock.now(), fleet.customer.id, "UTC")
    october, november = reports.followup_months(session, fleet.actor, fleet.number.id, PERIOD)
    # October in UTC: A's 50, 40, 30 l and the 20 l of 23:30 on 31 October; not the 5 l of 30 September 22:30.
    assert october.fuel == reports.Figures(4, D("140.000"), D("224.00"), D("271.04"))
    # November in UTC: A's 60 l and car wash, B's 40 l and shop; the toll of 23:30 on 30 November is November's.
    assert november.fuel == reports.Figures(4, D("100.000"), D("171.00"), D("206.91"))
    assert november.toll == reports.Figures(2, D("0.000"), D("22.50"), D("27.23"))
    [a, _b] = reports.consumption_cards(session, fleet.actor, fleet.number.id, PERIOD)
    # October in UTC: readings 10,000 → 11,100 = 1,100 km; the 50 l at the lowest left out: 40 + 30 + 20 l.
    assert (a.months[0].figures.distance_km, a.months[0].figures.measured_litres) == (1100, D("90.000"))


def test_the_change_is_audited_and_only_the_issuers(session, fleet, clock):
    with pytest.raises(PermissionDenied):  # a portal user, even one holding every right
        customers.change_timezone(session, fleet.with_rights(*Right), clock.now(), fleet.customer.id, "UTC")
    with pytest.raises(DomainError, match="no time zone"):
        customers.change_timezone(session, ISSUER, clock.now(), fleet.customer.id, "Europe/Atlantis")
    before = totals(session)
    assert customers.change_timezone(session, ISSUER, clock.now(), fleet.customer.id, "europe/brussels") == 0
    assert totals(session) == before  # the same zone: nothing to rebuild
    customers.change_timezone(session, ISSUER, clock.now(), fleet.customer.id, "america/new_york")
    session.expire_all()
    assert session.get(Customer, fleet.customer.id).timezone == "America/New_York"
    [event] = session.exec(select(AuditEvent).where(AuditEvent.object_type == "customer")).all()
    assert (event.action, event.before, event.after, event.actor_label) == (
        "time zone changed", {"timezone": "Europe/Brussels"}, {"timezone": "America/New_York"}, "issuer")


def test_a_rebuild_limited_to_cards_or_a_customer_leaves_the_others(session, fleet, stranger):
    everything = totals(session)
    session.exec(CardMonthTotal.__table__.delete())
    session.flush()
    assert rebuild_month_totals(session.connection(), [fleet.a.id, fleet.c.id]) == len(
        [key for key in everything if key[0] in (fleet.a.id, fleet.c.id)])
    assert totals(session) == {k: v for k, v in everything.items() if k[0] in (fleet.a.id, fleet.c.id)}
    rebuild_month_totals(session.connection(), customer_id=fleet.customer.id)
    assert totals(session) == {k: v for k, v in everything.items() if k[0] != stranger.id}
    rebuild_month_totals(session.connection(), customer_id=stranger_customer(session, stranger))
    assert totals(session) == everything
    session.rollback()


def stranger_customer(session, card: Card) -> int:
    return session.get(CustomerNumber, card.customer_number_id).customer_id


def test_the_issuer_command_changes_the_zone_and_the_totals(db, session, fleet):
    from click.testing import CliRunner

    from tui.cli import main

    result = CliRunner().invoke(main, ["issuer", "set-timezone", "--database-url", db.url, "4020002", "Asia/Tokyo"])
    assert result.exit_code == 0, result.output
    assert "Rapport NV: time zone Asia/Tokyo;" in result.output
    session.expire_all()
    assert session.get(Customer, fleet.customer.id).timezone == "Asia/Tokyo"
    assert totals(session) == recomputed(session)
    # A's 10 l at 21:59 UTC on 30 September is 06:59 on 1 October in Tokyo.
    assert totals(session)[(fleet.a.id, OCT)]["fuel_count"] == 5
    unknown = CliRunner().invoke(main, ["issuer", "set-timezone", "--database-url", db.url, "9999999", "UTC"])
    assert unknown.exit_code == 1 and "This customer number does not exist." in unknown.output
