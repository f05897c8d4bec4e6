"""The e-mail outbox: every mail is a row written in the same transaction as the change that causes it.

Services call `queue_email` inside their own transaction (it neither flushes nor commits); a sender
delivers the pending rows later, so a change never waits for a mail server and a rolled-back change sends
nothing.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ..models import Channel, OutboxMessage, OutboxStatus


def queue_email(session: Session, now: datetime, *, to_address: str, subject: str, body: str,
                language: str = "en", user_id: int | None = None) -> OutboxMessage:
    """Add one e-mail to the outbox, pending from `now`, in the caller's transaction."""
    message = OutboxMessage(channel=Channel.EMAIL, to_address=to_address, subject=subject, body=body,
                            language=language, user_id=user_id, status=OutboxStatus.PENDING, attempts=0,
                            next_attempt_at=now, created_at=now)
    session.add(message)
    return message
