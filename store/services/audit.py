"""The audit trail: one event per change, written in the change's own transaction."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlmodel import Session

from ..models import AuditEvent
from .context import Actor


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def record(session: Session, actor: Actor, now: datetime, object_type: str, object_id: Any, action: str,
           before: dict | None = None, after: dict | None = None, customer_id: int | None = None) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        customer_id=customer_id if customer_id is not None else actor.customer_id,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        action=action,
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
    )
    session.add(event)
    return event
