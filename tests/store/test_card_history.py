"""The card's configuration history (store.services.card_history, issue 8): every path that changes what the
anomaly rules read writes a version, and the import judges each transaction by the version in force at its time."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import delete, func
from sqlmodel import select
from test_cards import World
from test_transactions_import import fleet, fuel_line, write  # noqa: F401  (the fixture and the file helpers)

from store.issuer.production import process_requests
from store.issuer.transactions_import import import_transactions
from store.models import (
    Anomaly,
    AnomalyRule,
    BlockReason,
    Card,
    CardConfigVersion,
    CardLimit,
    CardStatus,
    FuelTransaction,
    LimitPeriod,
    Plastic,
    Product,
)
from store.services import cards
from store.services.bulk import BulkAction, BulkParams, apply_bulk
from store.services.card_history import backfill_versions, record_card_versions
from store.services.card_specs import LimitSpec
from store.services.cards import spec_from_card

UTC = timezone.utc


def versions(session, card_id: int) -> list[CardConfigVersion]:
    session.expire_all()
    return list(session.exec(select(CardConfigVersion).where(CardConfigVersion.card_id == card_id)
                             .order_by(CardConfigVersion.valid_from, CardConfigVersion.id)).all())


def diesel_limit(version: CardConfigVersion) -> str | None:
    import json

    return next(line[2] for line in json.loads(version.config)["limits"] if line[0] == "diesel")


def lower_diesel(session, fleet, now: datetime, amount: str) -> None:
    truck = session.get(Card, fleet.truck.id)
    current = spec_from_card(session, truck.id)
    limits = tuple(LimitSpec(Product.DIESEL, amount=Decimal(amount), period=LimitPeriod.DAY)
                   if limit.product is Product.DIESEL else limit for limit in current.limits)
    cards.apply_change(session, fleet.world.actor, now, truck.id, replace(current, limits=limits), truck.version)


def rules(session, card_id: int) -> list[tuple[str, AnomalyRule]]:
    rows = session.exec(select(Anomaly).where(Anomaly.card_id == card_id).order_by(Anomaly.id)).all()
    return [(row.fuel_transaction_id, row.rule) for row in rows]


# --- the writes ---------------------------------------------------------------------------------------------

def test_created_card_has_one_version_from_its_creation(session, fleet, clock):
    [version] = versions(session, fleet.truck.id)
    assert version.valid_from == clock.now() and version.valid_to is None
    assert diesel_limit(version) == "300.00"


def test_a_change_closes_the_version_and_opens_one_and_a_no_op_change_writes_none(session, fleet, clock):
    later = clock.now() + timedelta(days=1)
    lower_diesel(session, fleet, later, "100")
    old, new = versions(session, fleet.truck.id)
    assert (old.valid_to, new.valid_from, new.valid_to) == (later, later, None)
    assert (diesel_limit(old), diesel_limit(new)) == ("300.00", "100.00")
    lower_diesel(session, fleet, later + timedelta(hours=1), "100")  # the same values: no new version
    assert len(versions(session, fleet.truck.id)) == 2
    lower_diesel(session, fleet, later, "90")  # again at the same instant: that version is amended
    old, new = versions(session, fleet.truck.id)
    assert (diesel_limit(new), new.valid_from, old.valid_to) == ("90.00", later, later)


def test_block_writes_a_blocked_version(session, fleet, clock):
    moment = clock.now() + timedelta(hours=5)
    cards.block_card(session, fleet.world.actor, moment, fleet.truck.id, BlockReason.LOSS, duplicate=True)
    old, new = versions(session, fleet.truck.id)
    assert old.valid_to == moment == new.valid_from
    assert '"status":"blocked"' in new.config and '"status":"active"' in old.config
    assert '[1,"blocked","2030-11-26"]' in new.config
    duplicate = session.exec(select(Card).where(Card.duplicate_of_id == fleet.truck.id)).one()
    [copy] = versions(session, duplicate.id)  # the duplicate starts with the blocked card's limits
    assert copy.valid_from == moment and diesel_limit(copy) == "300.00"


def test_cancel_writes_a_version(session, fleet, clock):
    moment = clock.now() + timedelta(hours=2)
    cards.cancel_card(session, fleet.world.actor, moment, fleet.truck.id)
    old, new = versions(session, fleet.truck.id)
    assert new.valid_from == moment and '"cancelled":true' in new.config and '"cancelled":false' in old.config


def test_bulk_template_writes_a_version_per_card(session, fleet, clock):
    moment = clock.now() + timedelta(days=2)
    second, _ = cards.create_card(session, fleet.world.actor, clock.now(), fleet.world.card_spec())
    second = fleet.world.set_status(second, CardStatus.ACTIVE)
    results = apply_bulk(session, fleet.world.actor, moment, [fleet.truck.id, second.id], BulkAction.APPLY_TEMPLATE,
                         BulkParams(limits=(LimitSpec(Product.DIESEL, amount=Decimal("150")),)))
    assert all(result.ok for result in results)
    for card_id in (fleet.truck.id, second.id):
        old, new = versions(session, card_id)
        assert (old.valid_to, new.valid_from, diesel_limit(new)) == (moment, moment, "150.00")


def test_issuer_production_writes_the_status_changes(session, clock):
    world = World.build(session, clock.now())
    card, _ = cards.create_card(session, world.actor, clock.now(), world.card_spec())
    step = clock.now() + timedelta(days=1)
    process_requests(session, step)  # numbered, in production
    process_requests(session, step + timedelta(days=1))  # shipped: active
    found = versions(session, card.id)
    assert ['"status":"new"' in found[0].config, '"status":"in production"' in found[1].config,
            '"status":"active"' in found[-1].config] == [True, True, True]
    assert all(a.valid_to == b.valid_from for a, b in zip(found, found[1:])) and found[-1].valid_to is None


def test_a_change_made_outside_the_services_amends_the_open_version(session, fleet, clock):
    """The safety net: an ORM change committed without record_card_versions makes no new version (its time is
    unknown) but the open version holds it, so the import never judges by a configuration that is gone."""
    limit = session.exec(select(CardLimit).where(CardLimit.card_id == fleet.truck.id,
                                                 CardLimit.product == Product.DIESEL)).one()
    limit.amount = Decimal("222")
    session.add(limit)
    session.commit()
    [version] = versions(session, fleet.truck.id)
    assert diesel_limit(version) == "222.00"


def test_backfill_writes_one_version_per_card_without_one(session, fleet, clock):
    session.execute(delete(CardConfigVersion).where(CardConfigVersion.card_id == fleet.obu.id))
    session.commit()
    written = backfill_versions(session.connection())
    session.commit()
    [version] = versions(session, fleet.obu.id)
    assert written == 1 and version.valid_from == session.get(Card, fleet.obu.id).created_at
    count = session.exec(select(func.count()).select_from(CardConfigVersion)).one()
    assert count == session.exec(select(func.count()).select_from(Card)).one()


# --- the import judges by the version in force ---------------------------------------------------------------

def test_yesterdays_transaction_is_judged_by_yesterdays_limit(session, fleet, clock, tmp_path):
    """Diesel 300 a day until today 09:00, 100 since. 248.66 yesterday 14:00 is fine; 127.05 today 09:30 is not."""
    truck = fleet.truck
    today_nine = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    lower_diesel(session, fleet, today_nine, "100")
    path = write(tmp_path, [fuel_line("Y-1", truck, "2026-11-26T14:00:00+00:00", quantity="137"),
                            fuel_line("T-1", truck, "2026-11-27T09:30:00+00:00", quantity="70")])
    report = import_transactions(session, path, today_nine + timedelta(hours=1), alerts=False)
    assert (report.fuel, report.anomalies) == (2, 1)
    anomaly = session.exec(select(Anomaly)).one()
    assert anomaly.rule is AnomalyRule.LIMIT_AMOUNT and anomaly.details["limit"] == "100.00"
    assert session.get(FuelTransaction, anomaly.fuel_transaction_id).issuer_transaction_id == "T-1"


def test_a_transaction_at_the_change_instant_gets_the_new_version(session, fleet, clock, tmp_path):
    """valid_from is inclusive: 09:00:00 is judged by the 100 limit, 08:59:59 by the 300 one."""
    truck = fleet.truck
    change = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    lower_diesel(session, fleet, change, "100")
    path = write(tmp_path, [fuel_line("B-1", truck, "2026-11-27T08:59:59+00:00", quantity="70"),
                            fuel_line("B-2", truck, "2026-11-27T09:00:00+00:00", quantity="70")])
    report = import_transactions(session, path, change + timedelta(hours=1), alerts=False)
    assert report.anomalies == 1
    anomaly = session.exec(select(Anomaly)).one()
    tx = session.get(FuelTransaction, anomaly.fuel_transaction_id)
    assert tx.issuer_transaction_id == "B-2" and anomaly.details["limit"] == "100.00"
    assert anomaly.details["total"] == "254.10"  # both fills count in the day's sum


def test_a_transaction_while_blocked_stays_an_anomaly_after_an_unblock(session, fleet, clock, tmp_path):
    """Blocked at 10:00, used at 11:00, unblocked at 12:00 (an issuer correction: the card and its plastic
    active again), imported at 13:00: the 11:00 fill was made on a blocked plastic. The 09:30 fill was not."""
    truck = fleet.truck
    blocked_at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    cards.block_card(session, fleet.world.actor, blocked_at, truck.id, BlockReason.LOSS, duplicate=False)
    card = session.get(Card, truck.id)
    card.status, card.blocked_at, card.block_reason = CardStatus.ACTIVE, None, None
    plastic = session.exec(select(Plastic).where(Plastic.card_id == truck.id)).one()
    plastic.status = CardStatus.ACTIVE
    session.add_all([card, plastic])
    record_card_versions(session, [truck.id], blocked_at + timedelta(hours=2))
    session.commit()
    assert len(versions(session, truck.id)) == 3
    path = write(tmp_path, [fuel_line("S-1", truck, "2026-11-26T09:30:00+00:00", quantity="10"),
                            fuel_line("S-2", truck, "2026-11-26T11:00:00+00:00", quantity="10"),
                            fuel_line("S-3", truck, "2026-11-26T12:30:00+00:00", quantity="10")])
    report = import_transactions(session, path, blocked_at + timedelta(hours=3), alerts=False)
    assert (report.fuel, report.anomalies) == (3, 1)
    anomaly = session.exec(select(Anomaly)).one()
    tx = session.get(FuelTransaction, anomaly.fuel_transaction_id)
    assert (tx.issuer_transaction_id, anomaly.rule) == ("S-2", AnomalyRule.PLASTIC_NOT_VALID)
    assert anomaly.details["reason"] == "blocked"


def test_reimport_with_versions_is_idempotent(session, fleet, clock, tmp_path):
    truck = fleet.truck
    change = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    lower_diesel(session, fleet, change, "100")
    path = write(tmp_path, [fuel_line("R-1", truck, "2026-11-26T14:00:00+00:00", quantity="137"),
                            fuel_line("R-2", truck, "2026-11-27T09:30:00+00:00", quantity="70")])
    first = import_transactions(session, path, change + timedelta(hours=1), alerts=False)
    second = import_transactions(session, path, change + timedelta(hours=2), alerts=False)
    assert (first.imported, first.anomalies) == (2, 1)
    assert (second.imported, second.already_there, second.anomalies) == (0, 2, 0)
    assert len(rules(session, truck.id)) == 1
