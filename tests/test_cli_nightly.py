"""`cardsonline issuer nightly [--now]`: applies the driver-code blocks that are due; idempotent."""
from __future__ import annotations

from click.testing import CliRunner
from sqlmodel import select

from store.db import Database
from store.demo import build_demo
from store.models import DriverCode, DriverCodeStatus
from tui.cli import main


def test_nightly_applies_due_blocks_once(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'nightly.db'}"
    database = Database(url, clock=clock)
    database.ensure_schema()
    build_demo(database, cards=10)  # 6 driver codes are block pending until the next morning, 06:00 Brussels
    database.dispose()

    def nightly(now: str):
        result = CliRunner().invoke(main, ["issuer", "nightly", "--database-url", url, "--now", now],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def statuses():
        with Database(url).session() as session:
            return [c.status for c in session.exec(select(DriverCode))]

    assert "Driver codes blocked: 0 (block pending for a later morning: 6)" in nightly("2026-11-27T05:59+01:00")
    output = nightly("2026-11-27T06:00+01:00")
    assert output.startswith("Nightly run at 2026-11-27 05:00 UTC.")
    assert "Driver codes blocked: 6 (block pending for a later morning: 0)" in output
    assert "Driver codes blocked: 0 (block pending for a later morning: 0)" in nightly("2026-11-27T06:00+01:00")
    assert DriverCodeStatus.BLOCK_PENDING not in statuses()
    assert statuses().count(DriverCodeStatus.BLOCKED) == 12


def test_nightly_runs_the_renewal_campaign_too_and_a_second_run_changes_nothing(tmp_path, clock):
    import re

    url = f"sqlite:///{tmp_path / 'nightly-renewals.db'}"
    database = Database(url, clock=clock)
    database.ensure_schema()
    build_demo(database, cards=60)
    database.dispose()

    def nightly(now: str) -> str:
        result = CliRunner().invoke(main, ["issuer", "nightly", "--database-url", url, "--now", now],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def counts(output: str) -> list[int]:
        line = next(line for line in output.splitlines() if line.startswith("- renewals: "))
        return [int(n) for n in re.findall(r"\d+", line.split("UTC.", 1)[1].replace("in 3 months", ""))]

    first = nightly("2026-12-01T06:00+01:00")  # the 1st of a month: campaign steps are due
    assert "- renewals: Renewal run at" in first and sum(counts(first)) > 0
    again = nightly("2026-12-01T06:00+01:00")
    assert sum(counts(again)) == 0, again


def test_nightly_sends_the_anomaly_alerts_an_import_left_unsent_once(demo_db, clock):
    from sqlmodel import func, select

    from store.models import Anomaly, Card, Customer, CustomerNumber, CustomerOption, OutboxMessage

    url = demo_db.url
    simulate = CliRunner().invoke(main, ["issuer", "simulate-transactions", "--database-url", url, "--days", "7",
                                         "--cards-limit", "30", "--break-rate", "0.3", "--no-alerts"],
                                  catch_exceptions=False)
    assert simulate.exit_code == 0, simulate.output

    def unsent() -> int:  # new anomalies of customers with an alert option, not yet in a digest
        with Database(url).session() as session:
            customers = [c.id for c in session.exec(select(Customer)).all()
                         if {CustomerOption.ANOMALY_DETECTION.value, CustomerOption.PASSALERT.value} & set(c.options or ())]
            return session.exec(select(func.count()).select_from(Anomaly)
                                .join(Card, Card.id == Anomaly.card_id)
                                .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
                                .where(Anomaly.notified_at.is_(None),
                                       CustomerNumber.customer_id.in_(customers))).one()

    def digests() -> list[str]:  # subjects of the anomaly digests ("N anomalies on your cards", in 3 languages)
        with Database(url).session() as session:
            return [s for s in session.exec(select(OutboxMessage.subject)).all()
                    if any(word in s for word in ("anomal", "afwijking"))]

    before, digests_before = unsent(), len(digests())
    assert before > 0, "the simulated rule breaks left no anomaly to alert about"
    first = CliRunner().invoke(main, ["issuer", "nightly", "--database-url", url], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert f"- anomaly alerts: Anomaly alerts: {len(digests()) - digests_before} e-mails for {before} anomalies." \
        in first.output
    assert unsent() == 0
    again = CliRunner().invoke(main, ["issuer", "nightly", "--database-url", url], catch_exceptions=False)
    assert "- anomaly alerts: Anomaly alerts: 0 e-mails for 0 anomalies." in again.output
