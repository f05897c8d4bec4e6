"""`cardsonline outbox send|list`: real SMTP with aiosmtpd, a real SQLite file, click's runner."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlmodel import select

from store.models import OutboxMessage, OutboxStatus
from store.services.outbox import queue_email
from tui.cli import main


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def queue_two(db, clock):
    with db.session() as session:
        queue_email(session, clock.now(), to_address="jan@test.example", subject="Uw kaart is verzonden",
                    body="Dag Jan", language="nl")
        queue_email(session, clock.now(), to_address="nobody@test.example", subject="Invitation", body="Hi")
        session.commit()


def test_send_needs_the_smtp_url(db):
    result = run("outbox", "send", "--database-url", db.url, env={"CARDSONLINE_SMTP_URL": ""})
    assert result.exit_code == 1
    assert "CARDSONLINE_SMTP_URL is not set" in result.output and "outbox list" in result.output
    bad = run("outbox", "send", "--database-url", db.url, env={"CARDSONLINE_SMTP_URL": "http://x"})
    assert bad.exit_code == 1 and "smtp:// or smtps://" in bad.output


def test_send_then_list(db, clock, smtp_server):
    queue_two(db, clock)
    smtp_server.reject["nobody@test.example"] = (550, "5.1.1 No such user")
    listed = run("outbox", "list", "--database-url", db.url, "--status", "pending")
    assert listed.exit_code == 0 and "jan@test.example" in listed.output and "Uw kaart is verzonden" in listed.output

    sent = run("outbox", "send", "--database-url", db.url, "--now", "2026-11-26T10:00",
               env={"CARDSONLINE_SMTP_URL": smtp_server.url + "?from=fleet@test.example"})
    assert sent.exit_code == 1, sent.output  # one mail failed for good
    assert "Outbox: 1 sent, 0 to retry later, 1 failed." in sent.output
    assert "nobody@test.example: 550 5.1.1 No such user" in sent.output
    assert [m["To"] for m in smtp_server.messages] == ["jan@test.example"]
    with db.session() as session:
        jan = session.exec(select(OutboxMessage).where(OutboxMessage.to_address == "jan@test.example")).one()
        assert jan.sent_at.isoformat() == "2026-11-26T10:00:00+00:00"  # --now is the clock

    as_json = json.loads(run("outbox", "list", "--database-url", db.url, "--format", "json").output)
    assert [(m["to"], m["status"]) for m in as_json] == [("nobody@test.example", "failed"),
                                                          ("jan@test.example", "sent")]
    assert as_json[1]["body"].startswith("Dag Jan") and as_json[0]["last_error"] == "550 5.1.1 No such user"
    failed = run("outbox", "list", "--database-url", db.url, "--status", "failed")
    assert "nobody@test.example" in failed.output and "jan@test.example" not in failed.output
    again = run("outbox", "send", "--database-url", db.url, env={"CARDSONLINE_SMTP_URL": smtp_server.url})
    assert again.exit_code == 0 and "Outbox: 0 sent" in again.output


def test_an_unreachable_server_keeps_the_mails_for_later(db, clock):
    from tests.conftest import free_port

    queue_two(db, clock)
    result = run("outbox", "send", "--database-url", db.url, env={"CARDSONLINE_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"})
    assert result.exit_code == 0 and "0 sent, 2 to retry later, 0 failed" in result.output
    with db.session() as session:
        assert {m.status for m in session.exec(select(OutboxMessage)).all()} == {OutboxStatus.PENDING}
