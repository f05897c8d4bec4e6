"""Personalised driver codes (Fiches 13-16): 4 issuer digits + 4 customer digits."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import enum_field, str_field, utc_field


class DriverCodeStatus(str, enum.Enum):
    ACTIVE = "active"
    BLOCK_PENDING = "block pending"  # more than 5 blocked at once: effective next morning
    BLOCKED = "blocked"


class DriverCode(SQLModel, table=True):
    __tablename__ = "driver_code"
    __table_args__ = (UniqueConstraint("customer_number_id", "code"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    division_id: int = Field(foreign_key="fleet_division.id", index=True)
    code: str = str_field(4)  # the customer's 4 digits
    driver_name: str = str_field(25, index=True)
    status: DriverCodeStatus = enum_field(DriverCodeStatus, DriverCodeStatus.ACTIVE, index=True)
    block_effective_at: Optional[datetime] = utc_field()
    blocked_at: Optional[datetime] = utc_field()
    created_at: Optional[datetime] = utc_field()
    version: int = 1
