"""Column types shared by every table: aware UTC datetimes, enums stored as their values, money."""
from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field


class UTCDateTime(TypeDecorator):
    """Stores UTC, returns timezone-aware UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use store.db clock times")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def enum_type(enum_cls: type[enum.Enum]) -> SAEnum:
    # Stored as VARCHAR of the value: no native enum types, so PostgreSQL migrations stay plain.
    return SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utc_field(*, nullable: bool = True, index: bool = False, default: Any = None) -> Any:
    return Field(default=default, sa_type=UTCDateTime, nullable=nullable, index=index)


def enum_field(enum_cls: type[enum.Enum], default: Any = ..., *, index: bool = False) -> Any:
    if default is ...:
        return Field(sa_type=enum_type(enum_cls), nullable=False, index=index)
    return Field(default=default, sa_type=enum_type(enum_cls), nullable=default is None, index=index)


def money_field(default: Decimal | None = None, *, nullable: bool = True) -> Any:
    return Field(default=default, sa_type=Numeric(14, 2), nullable=nullable)


def volume_field(default: Decimal | None = None, *, nullable: bool = True) -> Any:
    return Field(default=default, sa_type=Numeric(12, 3), nullable=nullable)


def json_field(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)


def str_field(length: int, default: Any = ..., *, index: bool = False, unique: bool = False) -> Any:
    nullable = default is None
    if default is ...:
        return Field(sa_type=String(length), nullable=False, index=index, unique=unique)
    return Field(default=default, sa_type=String(length), nullable=nullable, index=index, unique=unique)
