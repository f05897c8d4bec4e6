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
