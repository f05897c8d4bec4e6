"""The `cardsonline` command's subcommands, run as a user would (click's runner, a real SQLite file)."""
from __future__ import annotations

from click.testing import CliRunner
from sqlmodel import select

from store.db import Database
from store.models import Card, CardStatus, Request, RequestStatus
from tui.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_db_upgrade_demo_and_the_issuers_production_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgraded = run("db", "upgrade", "--database-url", url)
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert upgraded.exit_code == 0 and f"revision {head}" in upgraded.output

    built = run("demo", "--database-url", url, "--cards", "40", "--seed", "7")
    assert built.exit_code == 0, built.output
    assert "fleetadmin" in built.output and "Fleet#2026" in built.output
    refused = run("demo", "--database-url", url)
    assert refused.exit_code == 1 and "--force" in refused.output

    with Database(url).session() as session:
        new_before = len(session.exec(select(Card).where(Card.status == CardStatus.NEW)).all())
    produced = run("issuer", "process-requests", "--database-url", url, "--all")
    assert produced.exit_code == 0, produced.output
    assert "Requests taken into production" in produced.output
    with Database(url).session() as session:
        assert new_before > 0
        still_new = session.exec(select(Card).where(Card.status == CardStatus.NEW)).all()
        for card in still_new:  # only OBUs still waiting for their registration certificate
            statuses = session.exec(select(Request.status).where(Request.card_id == card.id)).all()
            assert RequestStatus.WAITING_FOR_DOCUMENT in statuses


def test_now_must_be_an_iso_datetime(tmp_path):
    result = CliRunner().invoke(main, ["issuer", "process-requests", "--database-url",
                                       f"sqlite:///{tmp_path / 'x.db'}", "--now", "tomorrow"])
    assert result.exit_code == 2
    assert "not an ISO date-time" in result.output


def test_the_portal_command_passes_idle_and_lock_settings_to_the_app(tmp_path, monkeypatch):
    import tui.app

    started = []
    monkeypatch.setattr(tui.app.CardsOnlineApp, "run", lambda self, **kw: started.append(self))
    url = f"sqlite:///{tmp_path / 'first.db'}"
    first = CliRunner().invoke(main, ["--database-url", url, "--idle-minutes", "2", "--lock-after", "3",
                                      "--lock-minutes", "30"], catch_exceptions=False)
    assert first.exit_code == 0
    assert "adding demo data" in first.output and "Fleet#2026" in first.output  # first run: the demo
    app = started[0]
    assert app.idle_timeout == 120
    assert (app.login_policy.max_failures, app.login_policy.lock_minutes) == (3, 30)
    again = CliRunner().invoke(main, ["--database-url", url], catch_exceptions=False)
    assert "adding demo data" not in again.output and len(started) == 2
