"""The audit trail (My account → Audit trail): who did what and when, with the values before and after.

Read only: nothing in the app edits or deletes an event. An actor with the right `account.audit` reads the
events of their own customer (their users' changes and the issuer's work on their cards); the issuer reads
every event. Pages are keyset pages, newest first (`after_id` = the last row's id).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from ..models import AuditEvent, Customer, Right
from ..services.context import Actor

AUDIT_PAGE = 50
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    """Every field optional: `user` is the actor's label (a user name, "issuer", "system");
    `date_from`/`date_to` inclusive days in the customer's time zone."""

    user: str | None = None
    object_type: str | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    occurred_at: datetime
    user: str
    object_type: str
    object_id: str | None
    action: str
    before: dict
    after: dict


def customer_zone(session: Session, actor: Actor) -> ZoneInfo:
    customer = session.get(Customer, actor.customer_id) if actor.customer_id else None
    try:
        return ZoneInfo(customer.timezone if customer else "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name must not stop the trail
        return ZoneInfo("UTC")


def _scoped(actor: Actor):
    actor.require(Right.AUDIT)
    query = select(AuditEvent)
    if not actor.is_issuer:
        query = query.where(AuditEvent.customer_id == actor.customer_id)
    return query


def _filtered(session: Session, actor: Actor, audit_filter: AuditFilter):
    query = _scoped(actor)
    f = audit_filter
    if f.user:
        query = query.where(AuditEvent.actor_label == f.user)
    if f.object_type:
        query = query.where(AuditEvent.object_type == f.object_type)
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.date_from is not None or f.date_to is not None:
        zone = customer_zone(session, actor)
        if f.date_from is not None:
            query = query.where(AuditEvent.occurred_at >= datetime.combine(f.date_from, time(), tzinfo=zone))
        if f.date_to is not None:
            query = query.where(AuditEvent.occurred_at <
                                datetime.combine(f.date_to + timedelta(days=1), time(), tzinfo=zone))
    return query


def _row(event: AuditEvent) -> AuditRow:
    return AuditRow(id=event.id, occurred_at=event.occurred_at, user=event.actor_label,
                    object_type=event.object_type, object_id=event.object_id, action=event.action,
                    before=dict(event.before or {}), after=dict(event.after or {}))


def search_audit(session: Session, actor: Actor, audit_filter: AuditFilter = AuditFilter(), *,
                 after_id: int | None = None, limit: int = AUDIT_PAGE) -> list[AuditRow]:
    """One page of events matching `audit_filter`, newest first (by id: the order they were written)."""
    query = _filtered(session, actor, audit_filter)
    if after_id is not None:
        query = query.where(AuditEvent.id < after_id)
    return [_row(e) for e in session.exec(query.order_by(AuditEvent.id.desc()).limit(limit)).all()]


def count_audit(session: Session, actor: Actor, audit_filter: AuditFilter = AuditFilter()) -> int:
    query = _filtered(session, actor, audit_filter).with_only_columns(func.count(AuditEvent.id))
    return session.execute(query).scalar_one()


def iter_audit(session: Session, actor: Actor, audit_filter: AuditFilter = AuditFilter(),
               batch: int = EXPORT_BATCH) -> Iterator[AuditRow]:
    """Every matching event, newest first, read in keyset batches (for exports: flat memory)."""
    after_id = None
    while True:
        rows = search_audit(session, actor, audit_filter, after_id=after_id, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1].id


def audit_choices(session: Session, actor: Actor) -> tuple[list[str], list[str], list[str]]:
    """The users, object types and actions that occur in the actor's trail, sorted (for filter lists)."""
    base = _scoped(actor)

    def distinct(column) -> list[str]:
        query = base.with_only_columns(column).distinct().order_by(column)
        return [value for value in session.execute(query).scalars().all() if value]

    return distinct(AuditEvent.actor_label), distinct(AuditEvent.object_type), distinct(AuditEvent.action)


def change_lines(row: AuditRow) -> list[tuple[str, str, str]]:
    """(field, before, after) for every field in either side, in a stable order; "" where a side lacks it."""
    def shown(value) -> str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            import json

            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return str(value)

    keys = list(row.before) + [k for k in row.after if k not in row.before]
    return [(key, shown(row.before.get(key)), shown(row.after.get(key))) for key in keys]
