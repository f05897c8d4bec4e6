"""The e-mail outbox: every mail is a row written in the same transaction as the change that causes it.

Services call `queue_email` inside their own transaction (it neither flushes nor commits); a sender
delivers the pending rows later, so a change never waits for a mail server and a rolled-back change sends
nothing.

`send_pending` is that sender (the `cardsonline outbox send` command and the app's background worker). The
SMTP server comes from a URL (`CARDSONLINE_SMTP_URL`):

    smtp://[user:password@]host[:port][?starttls=1][&from=portal@example.com][&cafile=/path/ca.pem]
    smtps://[user:password@]host[:port][?from=…][&cafile=…]

`smtp://` is plain SMTP (port 25 by default), upgraded with STARTTLS when `starttls=1` (port 587 is usual);
`smtps://` is implicit TLS (port 465 by default). User and password are URL-decoded (write `@` as `%40`).
`from=` is the sender address (default `DEFAULT_FROM`); `cafile=` a PEM file of certificate authorities to
trust besides the system's (a company's own mail relay). Certificates and host names are always checked.

A message's outcome is committed on its own: a transient failure (the server cannot be reached, a 4xx
answer) leaves it pending with `next_attempt_at` 1, 2, 4 … minutes later (at most `MAX_BACKOFF`), and after
`max_attempts` tries it is failed; a permanent failure (a 5xx answer, e.g. an unknown recipient) is failed at
once. `last_error` keeps the server's answer.
"""
from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import or_, update
from sqlmodel import Session, select

from ..i18n import _
from ..models import Channel, OutboxMessage, OutboxStatus, Right, User
from .context import Actor

log = logging.getLogger(__name__)

SMTP_URL_ENV = "CARDSONLINE_SMTP_URL"
DEFAULT_FROM = "Cards Online <no-reply@cardsonline.invalid>"
MAX_ATTEMPTS = 5
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=10)  # a message being sent is not picked by a second sender meanwhile
SEND_BATCH = 100
OUTBOX_PAGE = 50


def queue_email(session: Session, now: datetime, *, to_address: str, subject: str, body: str,
                language: str = "en", user_id: int | None = None) -> OutboxMessage:
    """Add one e-mail to the outbox, pending from `now`, in the caller's transaction."""
    message = OutboxMessage(channel=Channel.EMAIL, to_address=to_address, subject=subject, body=body,
                            language=language, user_id=user_id, status=OutboxStatus.PENDING, attempts=0,
                            next_attempt_at=now, created_at=now)
    session.add(message)
    return message


# --- SMTP settings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = DEFAULT_FROM
    cafile: str | None = None

    def describe(self) -> str:
        """The server without the password, for messages and logs."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        tls = " (STARTTLS)" if self.starttls else ""
        return f"{scheme}://{user}{self.host}:{self.port}{tls}"


_TRUE = {"1", "true", "yes", "on"}


def parse_smtp_url(url: str) -> SmtpSettings:
    """The settings of an `smtp://` or `smtps://` URL (see the module's docstring); ValueError if malformed."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(_("The SMTP URL must start with smtp:// or smtps://, not {scheme!r}.").format(
            scheme=url.split(":", 1)[0]))
    if not parts.hostname:
        raise ValueError(_("The SMTP URL has no host, e.g. smtp://mail.example.com:587?starttls=1."))
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(_("The SMTP URL has an invalid port: {error}.").format(error=exc)) from None
    query = {key.lower(): values[-1] for key, values in parse_qs(parts.query).items()}
    known = {"starttls", "from", "cafile"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ValueError(_("Unknown SMTP URL option {option!r}; known: {known}.").format(
            option=unknown[0], known=", ".join(sorted(known))))
    implicit = scheme == "smtps"
    starttls = query.get("starttls", "").lower() in _TRUE
    if implicit and starttls:
        raise ValueError(_("smtps:// is already encrypted: starttls=1 is only for smtp://."))
    return SmtpSettings(
        host=parts.hostname, port=port or (465 if implicit else 25), implicit_tls=implicit, starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        from_address=query.get("from") or DEFAULT_FROM, cafile=query.get("cafile") or None,
    )


# --- the sender ---------------------------------------------------------------------------------------

@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # one line per failure: "id → address: answer"

    def __str__(self) -> str:
        return _("Outbox: {sent} sent, {retried} to retry later, {failed} failed.").format(
            sent=self.sent, retried=self.retried, failed=self.failed)


class _Transient(Exception):
    pass


class _Permanent(Exception):
    pass


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: 1, 2, 4 … minutes, at most MAX_BACKOFF."""
    return min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _answer(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def _classify(exc: Exception) -> Exception:
    """A smtplib/socket error as _Transient or _Permanent with a readable text."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        text = "; ".join(_answer(code, msg) for code, msg in answers)
        return _Permanent(text) if any(code >= 500 for code, _msg in answers) else _Transient(text)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Wrong credentials are the server's settings, not the message's: try again once they are fixed.
        return _Transient(f"authentication failed: {_answer(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Transient(f"the server does not support it: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = _answer(exc.smtp_code, exc.smtp_error)
        return _Permanent(text) if 500 <= exc.smtp_code < 600 else _Transient(text)
    if isinstance(exc, ssl.SSLError):
        return _Transient(f"TLS: {exc.reason or exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Transient(f"the server closed the connection: {exc}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _Transient("the server did not answer in time")
    if isinstance(exc, OSError):
        return _Transient(f"cannot reach the server: {exc.strerror or exc}")
    return _Transient(str(exc) or type(exc).__name__)


def _tls_context(settings: SmtpSettings, given: ssl.SSLContext | None) -> ssl.SSLContext:
    if given is not None:
        return given
    context = ssl.create_default_context()
    if settings.cafile:
        context.load_verify_locations(cafile=settings.cafile)
    return context


def _connect(settings: SmtpSettings, timeout: float, context: ssl.SSLContext | None) -> smtplib.SMTP:
    if settings.implicit_tls:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout,
                                              context=_tls_context(settings, context))
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=_tls_context(settings, context))
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def build_email(message: OutboxMessage, from_address: str, now: datetime) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(idstring=f"outbox.{message.id}", domain="cardsonline.invalid")
    mail.set_content(message.body)
    mail["Content-Language"] = message.language  # after set_content, which drops Content-* headers
    return mail


def _due(now: datetime):
    return (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.channel == Channel.EMAIL) & or_(
        OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now)


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    """Take the message for this sender (committed), so a second sender running meanwhile skips it."""
    result = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, _due(now))
        .values(next_attempt_at=now + CLAIM_LEASE)
    )
    session.commit()
    return result.rowcount == 1


def _record(session: Session, message_id: int, now: datetime, report: SendReport, max_attempts: int,
            error: Exception | None) -> None:
    message = session.get(OutboxMessage, message_id)
    message.attempts = (message.attempts or 0) + 1
    if error is None:
        message.status, message.sent_at, message.next_attempt_at, message.last_error = \
            OutboxStatus.SENT, now, None, None
        report.sent += 1
    else:
        message.last_error = str(error)[:400]
        if isinstance(error, _Permanent) or message.attempts >= max_attempts:
            message.status, message.next_attempt_at = OutboxStatus.FAILED, None
            report.failed += 1
        else:
            message.next_attempt_at = now + backoff(message.attempts)
            report.retried += 1
        report.errors.append(f"{message.id} → {message.to_address}: {error}")
    session.add(message)
    session.commit()


def send_pending(session: Session, now: datetime, smtp_url: str | SmtpSettings, *, limit: int = SEND_BATCH,
                 max_attempts: int = MAX_ATTEMPTS, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> SendReport:
    """Deliver up to `limit` due e-mails (pending, next attempt at or before `now`), oldest first.

    One SMTP connection serves the batch. Each message's outcome is committed on its own, so a crash
    half-way loses nothing and sends nothing twice. When the server cannot be reached at all, every due
    message of the batch counts one failed try. `ssl_context` replaces the default verifying context
    (tests). ValueError when the URL is malformed.
    """
    settings = smtp_url if isinstance(smtp_url, SmtpSettings) else parse_smtp_url(smtp_url)
    report = SendReport()
    ids = list(session.exec(select(OutboxMessage.id).where(_due(now))
                            .order_by(OutboxMessage.created_at, OutboxMessage.id).limit(limit)).all())
    session.commit()  # end the read transaction: each outcome below is its own transaction
    if not ids:
        return report
    smtp: smtplib.SMTP | None = None
    unreachable: Exception | None = None  # the server could not be reached: the rest of the batch waits too
    try:
        for message_id in ids:
            if not _claim(session, message_id, now):
                continue  # another sender took it meanwhile
            message = session.get(OutboxMessage, message_id)
            if unreachable is not None:
                _record(session, message_id, now, report, max_attempts, unreachable)
                continue
            error: Exception | None = None
            try:
                if smtp is None:
                    try:
                        smtp = _connect(settings, timeout, ssl_context)
                    except Exception as exc:  # noqa: BLE001
                        unreachable = _classify(exc)
                        if isinstance(unreachable, _Permanent):  # e.g. 554 at greeting: still the server's fault
                            unreachable = _Transient(str(unreachable))
                        raise
                smtp.send_message(build_email(message, settings.from_address, now),
                                  from_addr=_envelope_sender(settings.from_address),
                                  to_addrs=[message.to_address])
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the message
                error = unreachable or _classify(exc)
                if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)) or smtp is None:
                    _quit(smtp)
                    smtp = None  # reconnect for the next message
                else:
                    _reset(smtp)
            _record(session, message_id, now, report, max_attempts, error)
    finally:
        _quit(smtp)
    if report.errors:
        log.warning("Outbox via %s: %s", settings.describe(), "; ".join(report.errors))
    return report


def _envelope_sender(from_address: str) -> str:
    from email.utils import parseaddr

    return parseaddr(from_address)[1] or from_address


def _reset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except Exception:  # noqa: BLE001 - the next send finds out
        pass


def _quit(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except Exception:  # noqa: BLE001
        smtp.close()


# --- reading the outbox -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutboxRow:
    id: int
    status: OutboxStatus
    to_address: str
    subject: str
    body: str
    language: str
    username: str | None
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


def _outbox_query(actor: Actor, status: OutboxStatus | None):
    query = select(OutboxMessage, User.username).outerjoin(User, User.id == OutboxMessage.user_id)
    if not actor.is_issuer:
        # An administrator reads the mails of their own company's users.
        query = query.where(User.customer_id == actor.customer_id)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return query


def list_outbox(session: Session, actor: Actor, status: OutboxStatus | None = None, *,
                after_id: int | None = None, limit: int = OUTBOX_PAGE) -> list[OutboxRow]:
    """One page of the outbox, newest first, for an administrator (right to manage users) or the issuer.

    An administrator sees the mails to the users of their own customer; the issuer (CLI) sees every mail.
    For the next page pass the last row's id as `after_id` (keyset pagination).
    """
    actor.require(Right.USERS)
    query = _outbox_query(actor, status)
    if after_id is not None:
        query = query.where(OutboxMessage.id < after_id)
    rows = session.exec(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return [
        OutboxRow(id=m.id, status=m.status, to_address=m.to_address, subject=m.subject, body=m.body,
                  language=m.language, username=username, attempts=m.attempts or 0, created_at=m.created_at,
                  next_attempt_at=m.next_attempt_at, sent_at=m.sent_at, last_error=m.last_error)
        for m, username in rows
    ]


def count_outbox(session: Session, actor: Actor, status: OutboxStatus | None = None) -> int:
    from sqlalchemy import func

    actor.require(Right.USERS)
    query = _outbox_query(actor, status).with_only_columns(func.count(OutboxMessage.id))
    return session.execute(query).scalar_one()
