"""The demo data set: deterministic, complete (every status), consistent, and fast to build in batches."""
from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from store import demo as demo_module
from store.db import Database, FixedClock
from store.demo import DEMO_PASSWORDS, LIQUID_FUELS, DemoExists, build_demo, is_demo
from store.migrate import upgrade
from store.models import (
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    Card,
    CardLimit,
    CardStatus,
    CodeType,
    CustomerNumber,
    DriverCode,
    DriverCodeStatus,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LimitAction,
    LimitPeriod,
    PinOrigin,
    Plastic,
    Product,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    TollCondition,
    TollTransaction,
    User,
)
from store.services.auth import authenticate
from store.services.errors import AuthenticationFailed

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)  # the conftest clock
TODAY = date(2026, 11, 26)
ZONE = ZoneInfo("Europe/Brussels")  # the demo customer's
PRODUCED = (CardStatus.IN_PRODUCTION, CardStatus.ACTIVE, CardStatus.BLOCKED, CardStatus.EXPIRED)


def snapshot(db: Database) -> dict:
    """What two builds must agree on, row for row."""
    with db.session() as session:
        return {
            "cards": session.exec(select(Card.id, Card.number, Card.license_plate, Card.driver_name, Card.status,
                                         Card.renewal_status, Card.expiry_date, Card.last_used_at)
                                  .order_by(Card.id)).all(),
            "fuel": session.exec(select(FuelTransaction.issuer_transaction_id, FuelTransaction.amount_incl_vat,
                                        FuelTransaction.odometer_km).order_by(FuelTransaction.id)).all(),
            "tolls": session.exec(select(TollTransaction.issuer_transaction_id).order_by(TollTransaction.id)).all(),
            "limits": session.exec(select(CardLimit.card_id, CardLimit.product, CardLimit.amount)
                                   .order_by(CardLimit.id)).all(),
            "invoices": session.exec(select(Invoice.number, Invoice.total_incl_vat).order_by(Invoice.id)).all(),
            "driver codes": session.exec(select(DriverCode.code, DriverCode.driver_name).order_by(DriverCode.id)).all(),
        }


def test_same_seed_gives_identical_data_and_another_seed_does_not(db):
    first_summary = build_demo(db)
    first = snapshot(db)
    assert build_demo(db, force=True) == first_summary
    assert snapshot(db) == first
    build_demo(db, seed=7, force=True)
    other = snapshot(db)
    assert other["cards"] != first["cards"]
    assert other["fuel"] != first["fuel"]


def test_refuses_a_database_with_data_unless_forced(db):
    assert not is_demo(db)
    build_demo(db, cards=10)
    assert is_demo(db)
    with pytest.raises(DemoExists):
        build_demo(db, cards=10)
    build_demo(db, cards=12, force=True)
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Card).where(
            Card.product_type == ProductType.FLEET_CARD)).one() == 12


def test_large_demo_writes_in_batches_and_limits_transactions(db, monkeypatch):
    # Small batches and transaction limit, so the boundaries are crossed without a slow 3,000-card build.
    monkeypatch.setattr(demo_module, "BATCH_CARDS", 64)
    monkeypatch.setattr(demo_module, "TRANSACTION_CARDS", 100)
    calls = []
    summary = build_demo(db, cards=300, progress=lambda done, total, what: calls.append((done, total, what)))
    total = 300 + 40  # OBUs are cards / 7.5
    assert calls == [(done, total, "cards") for done in (64, 128, 192, 256, 320, 340)]
    assert "for the first 100 cards/OBUs (at most 100 get transactions)" in summary
    with db.session() as session:
        ids = session.exec(select(Card.id).order_by(Card.id)).all()
        assert ids == list(range(1, total + 1))
        assert session.exec(select(func.max(FuelTransaction.card_id))).one() <= 100
        assert session.exec(select(func.max(TollTransaction.card_id))).one() <= 100
        assert session.exec(select(func.count()).select_from(Card).where(
            Card.last_used_at.is_not(None), Card.id > 100)).one() == 0
        numbers = session.exec(select(Card.number).where(Card.number.is_not(None))).all()
        assert len(numbers) == len(set(numbers))
        assert session.exec(select(func.count()).select_from(Card).where(
            Card.id > 64, Card.duplicate_of_id.is_not(None))).one() > 0


def test_ids_continue_after_the_demo(db):
    """Ids were set by the demo: the next insert must not collide (PostgreSQL sequences are reset)."""
    build_demo(db, cards=20)
    with db.session() as session:
        highest = session.exec(select(func.max(Card.id))).one()
        template = session.get(Card, 1)
        card = Card(customer_number_id=template.customer_number_id, division_id=template.division_id,
                    product_type=ProductType.FLEET_CARD, license_plate="1-NEW-001", created_at=NOW)
        session.add(card)
        session.flush()
        assert card.id == highest + 1
        fuel_id = session.exec(select(func.max(FuelTransaction.id))).one()
        transaction = FuelTransaction(
            issuer_transaction_id="after-the-demo", card_id=card.id, rank=1, occurred_at=NOW, station="Q8 Gent",
            city="Gent", country="BE", product=Product.DIESEL, quantity=Decimal("10.000"), unit_price=Decimal("1.5000"),
            amount_excl_vat=Decimal("15.00"), vat_rate=Decimal("21.00"), amount_incl_vat=Decimal("18.15"))
        session.add(transaction)
        session.commit()
        assert transaction.id == fuel_id + 1


@pytest.fixture(scope="class")
def demo(tmp_path_factory):
    """One default demo shared by the read-only tests of a class: building it once keeps them fast."""
    url = os.environ.get("CARDSONLINE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    database = Database(url, clock=FixedClock(NOW))
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(database.engine)
    summary = build_demo(database)
    with database.session() as session:
        yield database, session, summary
    database.dispose()


class TestDefaultDemo:
    def test_summary_counts_what_was_created(self, demo):
        _, session, summary = demo

        def count(model, *where):
            return session.exec(select(func.count()).select_from(model).where(*where)).one()

        assert "150 fleet cards" in summary and "20 OBUs" in summary
        assert count(Card, Card.product_type == ProductType.FLEET_CARD) == 150
        assert count(Card, Card.product_type != ProductType.FLEET_CARD) == 20
        assert f"{count(FuelTransaction):,} fuel and {count(TollTransaction):,} toll transactions" in summary
        assert f"{count(Plastic):,} plastics" in summary
        assert f"{count(Invoice):,} invoices with {count(InvoiceLine):,} lines" in summary
        assert f"{count(Anomaly):,} anomalies" in summary

    def test_every_card_has_its_configuration_versions(self, demo):
        """One version from the card's creation, two for a blocked card (active until blocked_at), and the open
        one is exactly what the tables hold: recording them all again writes nothing."""
        from store.models import CardConfigVersion
        from store.services.card_history import record_card_versions

        _, session, _ = demo
        versions: dict[int, list] = {}
        for version in session.exec(select(CardConfigVersion).order_by(CardConfigVersion.valid_from)).all():
            versions.setdefault(version.card_id, []).append(version)
        cards = session.exec(select(Card)).all()
        assert {card.id for card in cards} == set(versions)
        for card in cards:
            found = versions[card.id]
            assert found[0].valid_from == card.created_at and found[-1].valid_to is None
            if card.blocked_at is not None:
                before, after = found
                assert before.valid_to == after.valid_from == card.blocked_at
                assert '"status":"active"' in before.config and '"status":"blocked"' in after.config
            else:
                assert len(found) == 1
        try:
            assert record_card_versions(session, [card.id for card in cards], NOW) == 0
        finally:
            session.rollback()

    def test_every_status_and_renewal_status_in_plausible_combinations(self, demo):
        _, session, _ = demo
        cards = session.exec(select(Card)).all()
        assert {c.status for c in cards} == set(CardStatus)
        assert {c.renewal_status for c in cards} == set(RenewalStatus)
        for card in cards:
            if card.renewal_status is not RenewalStatus.NONE:
                assert card.status is CardStatus.ACTIVE and card.product_type is ProductType.FLEET_CARD
            if card.renewal_status in (RenewalStatus.CANDIDATE, RenewalStatus.CANCELLED, RenewalStatus.IN_RENEWAL):
                assert TODAY < card.expiry_date <= TODAY + timedelta(days=90)
            elif card.status is CardStatus.ACTIVE:
                assert card.expiry_date > TODAY + timedelta(days=90)  # else the campaign would hold it
            if card.status is CardStatus.EXPIRED:
                assert card.expiry_date < TODAY
            assert (card.status is CardStatus.BLOCKED) == (card.block_reason is not None) == (card.blocked_at is not None)
        assert any(c.cancelled_by_user for c in cards)
        cancelled = [c for c in cards if c.renewal_status is RenewalStatus.CANCELLED]
        assert any(not c.cancelled_by_user for c in cancelled)  # cancelled for not being used
        for card in cancelled:
            if not card.cancelled_by_user:
                assert card.last_used_at is None or card.last_used_at < NOW - timedelta(days=90)
        three_months_ago = NOW - timedelta(days=90)
        assert any(c.status is CardStatus.ACTIVE and c.renewal_status is RenewalStatus.NONE
                   and (c.last_used_at is None or c.last_used_at < three_months_ago) for c in cards)

    def test_ranks_numbers_and_plastics_agree(self, demo):
        _, session, _ = demo
        plastics = defaultdict(list)
        for plastic in session.exec(select(Plastic).order_by(Plastic.rank)).all():
            plastics[plastic.card_id].append(plastic)
        for card in session.exec(select(Card)).all():
            own = plastics[card.id]
            if card.status in PRODUCED:
                assert card.number and card.rank >= 1 and card.produced_at is not None
                assert [p.rank for p in own] == list(range(1, card.rank + 1))
                if card.renewal_status is RenewalStatus.IN_RENEWAL:  # Fiche 12: the renewed plastic is being made
                    new = own.pop()
                    assert new.status is CardStatus.IN_PRODUCTION and new.produced_at is None
                    assert new.expiry_date == card.expiry_date.replace(year=card.expiry_date.year + 4)
                assert own[-1].status is card.status and own[-1].expiry_date == card.expiry_date
                produced_day = own[-1].produced_at.astimezone(ZONE).date()
                assert card.expiry_date.year - produced_day.year == 4
                for earlier in own[:-1]:
                    assert earlier.status in (CardStatus.EXPIRED, CardStatus.BLOCKED)
                    assert earlier.expiry_date < TODAY
                assert card.created_at < own[0].produced_at
            else:
                assert card.number is None and card.rank == 0 and card.expiry_date is None and not own
        assert any(card.rank > 1 for card in session.exec(select(Card)).all())

    def test_blocked_cards_have_duplicates(self, demo):
        _, session, _ = demo
        duplicates = session.exec(select(Card).where(Card.duplicate_of_id.is_not(None))).all()
        assert duplicates
        for duplicate in duplicates:
            original = session.get(Card, duplicate.duplicate_of_id)
            assert original.status is CardStatus.BLOCKED and original.id < duplicate.id
            assert duplicate.license_plate == original.license_plate and duplicate.number != original.number
            assert duplicate.created_at > original.blocked_at
            request = session.exec(select(Request).where(Request.card_id == duplicate.id)).one()
            assert request.kind is RequestKind.DUPLICATE

    def test_cards_have_varied_codes_limits_and_controls(self, demo):
        _, session, _ = demo
        cards = session.exec(select(Card).where(Card.product_type == ProductType.FLEET_CARD)).all()
        assert {c.code_type for c in cards} == set(CodeType)
        pins = [c for c in cards if c.code_type is CodeType.PIN]
        assert {c.pin_origin for c in pins} == set(PinOrigin)
        assert all((c.pin_hash is None) == (c.pin_origin is PinOrigin.ISSUER) for c in pins)
        assert all(c.pin_hash is None for c in cards if c.code_type is CodeType.DRIVER_CODE)
        assert all(c.license_plate or c.driver_name for c in cards)
        assert all(c.category and c.vehicle_type for c in cards)
        assert any(c.allowed_weekdays != [1, 2, 3, 4, 5, 6, 7] for c in cards)
        assert any(c.allowed_hours_from for c in cards)
        assert any(c.forbidden_days for c in cards)
        assert any(c.allowed_countries for c in cards) and any(not c.allowed_countries for c in cards)
        assert any(c.tank_capacity_l for c in cards) and any(c.max_transactions_per_day for c in cards)
        limits = session.exec(select(CardLimit)).all()
        assert {limit.period for limit in limits} == set(LimitPeriod)
        assert {limit.action for limit in limits} == set(LimitAction)
        assert any(limit.volume for limit in limits) and any(not limit.allowed for limit in limits)
        with_limits = {limit.card_id for limit in limits}
        assert all(c.id in with_limits for c in cards)

    def test_obus_have_settings_toll_conditions_and_links(self, demo):
        _, session, _ = demo
        obus = session.exec(select(Card).where(Card.product_type != ProductType.FLEET_CARD)).all()
        assert {o.product_type for o in obus} == {ProductType.PASSANGO_OBU, ProductType.LIBERT_OBU}
        conditions = defaultdict(list)
        for condition in session.exec(select(TollCondition)).all():
            conditions[condition.card_id].append(condition)
        for obu in obus:
            assert obu.vehicle_class and obu.weight_kg and obu.axles and obu.euro_class
            assert conditions[obu.id]
        linked = [o for o in obus if o.linked_card_id]
        assert linked
        for obu in linked:
            card = session.get(Card, obu.linked_card_id)
            assert card.product_type is ProductType.FLEET_CARD and card.license_plate == obu.license_plate

    def test_requests_follow_new_and_produced_cards(self, demo):
        _, session, _ = demo
        admin = session.exec(select(User).where(User.username == "fleetadmin")).one()
        requests = session.exec(select(Request)).all()
        assert {r.created_by_id for r in requests} == {admin.id}
        by_card = defaultdict(list)
        for request in requests:
            by_card[request.card_id].append(request)
        for card in session.exec(select(Card).where(Card.status.in_([CardStatus.NEW, CardStatus.IN_PRODUCTION]))):
            assert by_card[card.id], card
            assert by_card[card.id][-1].status not in (RequestStatus.DONE, RequestStatus.REJECTED)
        statuses = {r.status for r in requests}
        assert {RequestStatus.DONE, RequestStatus.REJECTED, RequestStatus.SUBMITTED,
                RequestStatus.IN_PRODUCTION} <= statuses
        assert all(r.created_at <= NOW for r in requests)

    def test_forty_driver_codes_unique_per_customer_number(self, demo):
        _, session, _ = demo
        codes = session.exec(select(DriverCode)).all()
        assert len(codes) == 40
        assert {c.status for c in codes} == set(DriverCodeStatus)
        per_number = defaultdict(list)
        for code in codes:
            per_number[code.customer_number_id].append(code.code)
            assert len(code.code) == 4 and code.code.isdigit()
            assert 0 < len(code.driver_name) <= 25
        assert len(per_number) == 2
        assert all(len(set(own)) == len(own) for own in per_number.values())

    def test_transactions_are_consistent(self, demo):
        _, session, _ = demo
        cards = {c.id: c for c in session.exec(select(Card)).all()}
        fuel = session.exec(select(FuelTransaction).order_by(FuelTransaction.occurred_at, FuelTransaction.id)).all()
        tolls = session.exec(select(TollTransaction)).all()
        assert len(fuel) > 1_000 and tolls
        assert {t.country for t in fuel} == {"BE", "NL", "FR", "DE", "LU"}
        assert sum(t.country == "BE" for t in fuel) > len(fuel) / 2
        odometers = defaultdict(list)
        last_use = {}
        for t in fuel:
            card = cards[t.card_id]
            assert card.product_type is ProductType.FLEET_CARD and card.status in PRODUCED
            assert NOW - timedelta(days=183) < t.occurred_at <= NOW
            assert 1 <= t.rank <= card.rank
            vat = (t.amount_excl_vat * t.vat_rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert t.amount_incl_vat == t.amount_excl_vat + vat
            if card.blocked_at:
                assert t.occurred_at < card.blocked_at
            if t.odometer_km is not None:
                odometers[t.card_id].append(t.odometer_km)
            assert (t.driver_code is not None) <= (card.code_type is CodeType.DRIVER_CODE)
            last_use[t.card_id] = t.occurred_at
        for t in tolls:
            assert cards[t.card_id].product_type.is_obu
            assert t.entry_at < t.exit_at <= NOW
            last_use[t.card_id] = max(last_use.get(t.card_id, t.exit_at), t.exit_at)
        assert all(readings == sorted(readings) for readings in odometers.values())
        previous = {}
        for t in fuel:  # a shop or car wash right after a fill is bought in the same town
            before = previous.get(t.card_id)
            if before and t.occurred_at - before.occurred_at < timedelta(minutes=15):
                assert (t.city, t.country) == (before.city, before.country)
            previous[t.card_id] = t
        assert {card_id: card.last_used_at for card_id, card in cards.items() if card.last_used_at} == last_use

    def test_transactions_respect_the_card_controls_except_anomalies(self, demo):
        _, session, _ = demo
        cards = {c.id: c for c in session.exec(select(Card)).all()}
        chosen = defaultdict(set)
        for limit in session.exec(select(CardLimit).where(CardLimit.allowed)).all():
            chosen[limit.card_id].add(limit.product)
        deviating = set(session.exec(select(Anomaly.fuel_transaction_id)).all())
        checked = 0
        for t in session.exec(select(FuelTransaction)).all():
            if t.id in deviating:
                continue
            card, local = cards[t.card_id], t.occurred_at.astimezone(ZONE)
            assert t.product in chosen[card.id]
            assert local.isoweekday() in card.allowed_weekdays
            assert local.date().isoformat() not in card.forbidden_days
            assert not card.allowed_countries or t.country in card.allowed_countries
            if card.allowed_hours_from:
                assert card.allowed_hours_from <= f"{local:%H:%M}" <= card.allowed_hours_to
            if card.tank_capacity_l and t.product in LIQUID_FUELS:
                assert t.quantity <= card.tank_capacity_l
            checked += 1
        assert checked > 1_000

    def test_anomalies_point_to_their_transactions(self, demo):
        _, session, _ = demo
        anomalies = session.exec(select(Anomaly)).all()
        assert len({a.rule for a in anomalies}) >= 5
        assert {a.status for a in anomalies} == set(AnomalyStatus)
        for anomaly in anomalies:
            transaction = session.get(FuelTransaction, anomaly.fuel_transaction_id)
            assert transaction.card_id == anomaly.card_id and anomaly.detected_at > transaction.occurred_at
            assert (anomaly.status is AnomalyStatus.ACKNOWLEDGED) == (anomaly.acknowledged_at is not None)
            if anomaly.rule is AnomalyRule.COUNTRY_NOT_ALLOWED:
                card = session.get(Card, anomaly.card_id)
                assert transaction.country not in card.allowed_countries

    def test_invoices_total_their_lines_and_are_numbered_without_gaps(self, demo):
        _, session, _ = demo
        invoices = session.exec(select(Invoice).order_by(Invoice.year, Invoice.sequence)).all()
        assert len(invoices) >= 4
        numbers = {n.id for n in session.exec(select(CustomerNumber)).all()}
        assert {i.customer_number_id for i in invoices} == numbers
        for year in {i.year for i in invoices}:
            sequences = [i.sequence for i in invoices if i.year == year]
            assert sequences == list(range(1, len(sequences) + 1))
        for invoice in invoices:
            assert invoice.number == f"{invoice.year}-{invoice.sequence:06d}"
            assert invoice.issue_date <= TODAY and invoice.period_end < invoice.issue_date
            assert invoice.pdf is None and invoice.signature_p7s is None
            lines = session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)).all()
            assert invoice.total_excl_vat == sum(line.amount_excl_vat for line in lines)
            assert invoice.total_vat == sum(line.vat_amount for line in lines)
            assert invoice.total_incl_vat == invoice.total_excl_vat + invoice.total_vat
            for line in lines:
                assert line.amount_incl_vat == line.amount_excl_vat + line.vat_amount
            covered = session.exec(select(func.count()).select_from(FuelTransaction)
                                   .where(FuelTransaction.invoice_id == invoice.id)).one()
            covered += session.exec(select(func.count()).select_from(TollTransaction)
                                    .where(TollTransaction.invoice_id == invoice.id)).one()
            assert covered == len(lines)
        month_before_newest = (max(i.period_start for i in invoices) - timedelta(days=1)).replace(day=1)
        for invoice in invoices:
            recent = invoice.period_start >= month_before_newest  # not downloaded yet
            assert invoice.status is (InvoiceStatus.ORIGINAL if recent else InvoiceStatus.DUPLICATE)
            assert (invoice.first_downloaded_at is None) == recent

    def test_demo_users_can_log_in(self, demo):
        _, session, _ = demo
        for username in ("fleetadmin", "depot", "accounting"):
            assert authenticate(session, username, DEMO_PASSWORDS[username], NOW).user.username == username
        with pytest.raises(AuthenticationFailed, match="ended"):
            authenticate(session, "intern", DEMO_PASSWORDS["intern"], NOW)


def test_the_issuers_production_run_handles_every_open_demo_request(db):
    from datetime import timedelta

    from store.issuer.production import process_requests
    from store.models import Request, RequestStatus

    build_demo(db, cards=150)
    with db.session() as session:
        first = process_requests(session, db.clock.now() + timedelta(days=2), all_due=True)
        assert first.handled > 0
        again = process_requests(session, db.clock.now() + timedelta(days=2), all_due=True)
        assert again.handled == 0  # idempotent
        open_requests = session.exec(select(Request).where(
            Request.status.in_([RequestStatus.SUBMITTED, RequestStatus.IN_PRODUCTION]))).all()
        assert all(r.kind.value == "renewal" for r in open_requests)  # the renewal campaign is not production's


def test_every_demo_card_and_obu_passes_the_forms_validation(db):
    """What the demo holds, a user can open in the change form and save again."""
    from store.services.card_specs import validate_spec
    from store.services.cards import spec_from_card

    build_demo(db, cards=60)
    with db.session() as session:
        cards = session.exec(select(Card).where(Card.status.in_([CardStatus.ACTIVE, CardStatus.NEW]))).all()
        assert any(card.product_type.is_obu for card in cards)
        for card in cards:
            problems = validate_spec(spec_from_card(session, card.id), card=card)
            assert problems == [], (card.id, card.product_type, problems)


def test_demo_budgets_give_budget_follow_up_something_to_show(demo_db):
    """Distribution sits a little above its usual spend, Long haul a little below (so it goes over in some
    months), three Long-haul cards have their own budget, and the other customer number has none."""
    from store.models import Budget, CustomerNumber, FleetDivision, Right
    from store.queries.reports import MonthRange, budget_followup
    from store.services.context import Actor

    with demo_db.session() as session:
        first, second = session.exec(select(CustomerNumber).order_by(CustomerNumber.number)).all()
        budgets = session.exec(select(Budget)).all()
        assert budgets and {b.customer_number_id for b in budgets} == {first.id}
        divisions = {d.id: d.name for d in session.exec(select(FleetDivision)).all()}
        assert {divisions[b.division_id] for b in budgets if b.division_id} == {"Distribution", "Long haul"}
        assert len({b.card_id for b in budgets if b.card_id}) == 3
        assert max(b.month for b in budgets) == date(2026, 12, 1)  # this month (November 2026) and the next
        actor = Actor(user_id=None, label="tester", customer_id=first.customer_id,
                      rights=frozenset({Right.REPORT_BUDGET}), customer_number_ids=(first.id,))
        rows = budget_followup(session, actor, first.id, MonthRange(date(2026, 6, 1), date(2026, 10, 1)))
        by_label = {row.label: row for row in rows if row.kind == "division"}
        assert by_label["Long haul"].over_months >= 1
        assert by_label["Distribution"].over_months < 5
