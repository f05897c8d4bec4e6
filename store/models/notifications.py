"""Who gets which e-mail, the e-mail outbox, and the audit trail."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import enum_field, json_field, str_field, utc_field


class NotificationKind(str, enum.Enum):
    ANOMALY = "anomaly"
    REQUEST_DONE = "request done"
    RENEWAL_NOTICE = "renewal notice"
    INVOICE_AVAILABLE = "invoice available"  # Fiche 11 customer alert settings
    PASSALERT = "passalert"


class NotificationSetting(SQLModel, table=True):
    __tablename__ = "notification_setting"
    __table_args__ = (UniqueConstraint("user_id", "kind", "detail"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: NotificationKind = enum_field(NotificationKind)
    detail: str = str_field(40, "")  # e.g. the anomaly rule; "" means all of that kind
    enabled: bool = True


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanent failure


class Channel(str, enum.Enum):
    EMAIL = "email"
    LETTER = "letter"


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the change that causes it; a sender delivers it later."""

    __tablename__ = "outbox_message"
    id: Optional[int] = Field(default=None, primary_key=True)
    channel: Channel = enum_field(Channel, Channel.EMAIL)
    to_address: str = str_field(200)
    subject: str = str_field(200)
    body: str = Field(sa_type=Text, nullable=False)
    language: str = str_field(5, "en")
    user_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    status: OutboxStatus = enum_field(OutboxStatus, OutboxStatus.PENDING, index=True)
    attempts: int = 0
    next_attempt_at: Optional[datetime] = utc_field()
    last_error: Optional[str] = str_field(400, None)
    created_at: datetime = utc_field(nullable=False, index=True)
    sent_at: Optional[datetime] = utc_field()


class AuditEvent(SQLModel, table=True):
    """Who did what and when, before and after. Only services write it; the app never edits it."""

    __tablename__ = "audit_event"
    id: Optional[int] = Field(default=None, primary_key=True)
    occurred_at: datetime = utc_field(nullable=False, index=True)
    actor_user_id: Optional[int] = Field(default=None, foreign_key="app_user.id", index=True)
    actor_label: str = str_field(80)  # user name, or "issuer" / "system" for batches
    customer_id: Optional[int] = Field(default=None, foreign_key="customer.id", index=True)
    object_type: str = str_field(40, index=True)
    object_id: Optional[str] = str_field(40, None)
    action: str = str_field(40, index=True)
    before: dict = json_field(dict)
    after: dict = json_field(dict)
