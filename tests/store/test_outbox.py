"""The e-mail sender against a real SMTP server (aiosmtpd on 127.0.0.1), and reading the outbox."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from store.models import OutboxMessage, OutboxStatus, Right, User
from store.services.context import ISSUER, actor_for
from store.services.errors import PermissionDenied
from store.services.outbox import (
    DEFAULT_FROM,
    backoff,
    count_outbox,
    list_outbox,
    parse_smtp_url,
    queue_email,
    send_pending,
)


def queue(session, clock, to="driver@test.example", subject="Hello", body="Dag Jan,\n\nUw kaart is verzonden.",
          language="nl"):
    message = queue_email(session, clock.now(), to_address=to, subject=subject, body=body, language=language)
    session.commit()
    return message


def status_of(session, message_id):
    session.expire_all()
    return session.get(OutboxMessage, message_id)


def test_a_pending_mail_is_delivered_over_smtp(session, clock, smtp_server):
    message = queue(session, clock, subject="Uw kaart is verzonden — ‘ë’")
    report = send_pending(session, clock.now(), smtp_server.url + "?from=Portal%20<portal@test.example>")
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    assert str(report) == "Outbox: 1 sent, 0 to retry later, 0 failed."
    [mail] = smtp_server.messages
    assert mail["To"] == "driver@test.example" and mail["Subject"] == "Uw kaart is verzonden — ‘ë’"
    assert mail["From"] == "Portal <portal@test.example>" and mail["Content-Language"] == "nl"
    assert mail.get_content().startswith("Dag Jan,\n\nUw kaart is verzonden.")
    assert smtp_server.envelopes == [("portal@test.example", ["driver@test.example"])]
    sent = status_of(session, message.id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (OutboxStatus.SENT, 1, clock.now(), None)
    # Sent once: a second run has nothing to do.
    assert send_pending(session, clock.now(), smtp_server.url).sent == 0
    assert len(smtp_server.messages) == 1


def test_the_default_sender_address(session, clock, smtp_server):
    queue(session, clock)
    send_pending(session, clock.now(), smtp_server.url)
    assert smtp_server.messages[0]["From"] == DEFAULT_FROM


def test_only_due_mails_go_and_the_oldest_first_within_the_limit(session, clock, smtp_server):
    first = queue(session, clock, to="a@test.example")
    clock.advance(timedelta(seconds=1))
    queue(session, clock, to="b@test.example")
    later = queue_email(session, clock.now(), to_address="c@test.example", subject="s", body="b")
    later.next_attempt_at = clock.now() + timedelta(minutes=5)
    session.commit()
    report = send_pending(session, clock.now(), smtp_server.url, limit=1)
    assert report.sent == 1 and [m["To"] for m in smtp_server.messages] == ["a@test.example"]
    assert status_of(session, first.id).status is OutboxStatus.SENT
    send_pending(session, clock.now(), smtp_server.url)
    assert [m["To"] for m in smtp_server.messages] == ["a@test.example", "b@test.example"]
    clock.advance(timedelta(minutes=5))
    send_pending(session, clock.now(), smtp_server.url)
    assert len(smtp_server.messages) == 3


def test_a_mail_of_a_rolled_back_change_is_never_sent(session, clock, smtp_server):
    queue_email(session, clock.now(), to_address="ghost@test.example", subject="s", body="b")
    session.rollback()
    assert send_pending(session, clock.now(), smtp_server.url).sent == 0
    assert smtp_server.messages == [] and session.exec(select(OutboxMessage)).all() == []


def test_a_4xx_answer_is_retried_with_exponential_back_off_then_failed(session, clock, smtp_server):
    smtp_server.reject["busy@test.example"] = (451, "4.3.0 Mailbox busy, try later")
    message = queue(session, clock, to="busy@test.example")
    ok = queue(session, clock, to="ok@test.example")
    start = clock.now()
    report = send_pending(session, clock.now(), smtp_server.url, max_attempts=4)
    assert (report.sent, report.retried, report.failed) == (1, 1, 0)  # the other mail still goes
    assert status_of(session, ok.id).status is OutboxStatus.SENT
    waits = []
    for attempt in (1, 2, 3):
        row = status_of(session, message.id)
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, attempt)
        assert row.last_error == "451 4.3.0 Mailbox busy, try later"
        waits.append(row.next_attempt_at - clock.now())
        # Not due before its time.
        clock.advance(row.next_attempt_at - clock.now() - timedelta(seconds=1))
        assert send_pending(session, clock.now(), smtp_server.url, max_attempts=4).retried == 0
        clock.advance(timedelta(seconds=1))
        send_pending(session, clock.now(), smtp_server.url, max_attempts=4)
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    row = status_of(session, message.id)
    assert (row.status, row.attempts, row.next_attempt_at) == (OutboxStatus.FAILED, 4, None)
    assert clock.now() - start == timedelta(minutes=7)
    assert [m["To"] for m in smtp_server.messages] == ["ok@test.example"]


def test_a_temporary_refusal_that_clears_is_delivered_on_the_retry(session, clock, smtp_server):
    smtp_server.reject["busy@test.example"] = (450, "4.2.1 Try again later")
    message = queue(session, clock, to="busy@test.example")
    send_pending(session, clock.now(), smtp_server.url)
    del smtp_server.reject["busy@test.example"]
    clock.advance(timedelta(minutes=1))
    assert send_pending(session, clock.now(), smtp_server.url).sent == 1
    row = status_of(session, message.id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, None)


def test_the_back_off_doubles_up_to_an_hour():
    assert [backoff(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 60, 60, 60)]


def test_a_5xx_answer_fails_the_mail_at_once(session, clock, smtp_server):
    smtp_server.reject["nobody@test.example"] = (550, "5.1.1 No such user here")
    message = queue(session, clock, to="nobody@test.example")
    report = send_pending(session, clock.now(), smtp_server.url)
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    assert report.errors == [f"{message.id} → nobody@test.example: 550 5.1.1 No such user here"]
    row = status_of(session, message.id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 1, "550 5.1.1 No such user here")
    clock.advance(timedelta(days=1))
    assert send_pending(session, clock.now(), smtp_server.url).failed == 0  # never tried again


def test_an_unreachable_server_is_a_transient_failure_for_the_whole_batch(session, clock):
    from tests.conftest import free_port

    first, second = queue(session, clock, to="a@test.example"), queue(session, clock, to="b@test.example")
    report = send_pending(session, clock.now(), f"smtp://127.0.0.1:{free_port()}", timeout=5)
    assert (report.sent, report.retried, report.failed) == (0, 2, 0)
    for message_id in (first.id, second.id):
        row = status_of(session, message_id)
        assert row.status is OutboxStatus.PENDING and row.attempts == 1
        assert row.next_attempt_at == clock.now() + timedelta(minutes=1)
        assert row.last_error.startswith("cannot reach the server")


def test_starttls_is_used_when_asked_and_the_certificate_is_checked(session, clock, smtp_tls_server):
    message = queue(session, clock)
    report = send_pending(session, clock.now(), smtp_tls_server.url)
    assert report.sent == 1, report.errors
    assert status_of(session, message.id).status is OutboxStatus.SENT
    assert smtp_tls_server.messages[0]["To"] == "driver@test.example"


def test_a_server_requiring_starttls_refuses_plain_smtp(session, clock, smtp_tls_server):
    message = queue(session, clock)
    report = send_pending(session, clock.now(), f"smtp://{smtp_tls_server.host}:{smtp_tls_server.port}")
    assert report.sent == 0 and smtp_tls_server.messages == []
    assert "530" in status_of(session, message.id).last_error  # "Must issue a STARTTLS command first"


def test_an_untrusted_certificate_is_not_accepted(session, clock, smtp_tls_server):
    message = queue(session, clock)
    report = send_pending(session, clock.now(),
                          f"smtp://{smtp_tls_server.host}:{smtp_tls_server.port}?starttls=1", timeout=5)
    assert (report.sent, report.retried) == (0, 1) and smtp_tls_server.messages == []
    row = status_of(session, message.id)
    assert row.status is OutboxStatus.PENDING and row.last_error.startswith("TLS:")


def test_smtp_urls():
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.starttls, plain.implicit_tls, plain.username) == \
        ("mail.example.com", 25, False, False, None)
    submission = parse_smtp_url("smtp://portal%40example.com:s%3Acret@mail.example.com:587?starttls=1"
                                "&from=Fleet%20portal%20%3Cfleet@example.com%3E")
    assert (submission.port, submission.starttls, submission.username, submission.password) == \
        (587, True, "portal@example.com", "s:cret")
    assert submission.from_address == "Fleet portal <fleet@example.com>"
    assert "s:cret" not in submission.describe() and "s:cret" not in repr(submission)
    implicit = parse_smtp_url("smtps://mail.example.com")
    assert (implicit.port, implicit.implicit_tls) == (465, True)
    for bad, problem in (("http://x", "smtp:// or smtps://"), ("smtp://", "no host"),
                         ("smtp://h?tls=1", "Unknown SMTP URL option 'tls'"),
                         ("smtps://h?starttls=1", "already encrypted"), ("smtp://h:99999", "invalid port")):
        with pytest.raises(ValueError, match=problem):
            parse_smtp_url(bad)


def test_the_outbox_list_is_for_administrators_and_their_own_company(demo_db, clock):
    with demo_db.session() as session:
        admin = actor_for(session, session.exec(select(User).where(User.username == "fleetadmin")).one())
        depot = actor_for(session, session.exec(select(User).where(User.username == "depot")).one())
        assert Right.USERS in admin.rights and Right.USERS not in depot.rights
        with pytest.raises(PermissionDenied):
            list_outbox(session, depot)
        queue_email(session, clock.now(), to_address="stranger@test.example", subject="no user", body="b")
        session.commit()
        rows = list_outbox(session, admin, limit=500)
        assert rows and all(row.username is not None for row in rows)  # not the mail without a user
        assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)  # newest first
        assert count_outbox(session, admin) == len(rows)
        everything = list_outbox(session, ISSUER, limit=500)
        assert len(everything) == len(rows) + 1 and everything[0].to_address == "stranger@test.example"
        # Keyset pages.
        first = list_outbox(session, admin, limit=2)
        second = list_outbox(session, admin, after_id=first[-1].id, limit=2)
        assert [r.id for r in first + second] == [r.id for r in rows[:4]]
        sent = list_outbox(session, admin, OutboxStatus.SENT, limit=500)
        assert sent and all(r.status is OutboxStatus.SENT for r in sent)
        assert count_outbox(session, admin, OutboxStatus.SENT) == len(sent)
