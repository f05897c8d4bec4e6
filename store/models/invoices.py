"""Monthly invoices per customer number, their lines, signed files and download status (Fiche 11)."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Date, LargeBinary, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import enum_field, money_field, str_field, utc_field, volume_field


class InvoiceStatus(str, enum.Enum):
    ORIGINAL = "original"
    DUPLICATE = "duplicate"  # after the first download


class Invoice(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("year", "sequence"), UniqueConstraint("customer_number_id", "period_start"))
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    number: str = str_field(20, unique=True)
    year: int
    sequence: int  # gapless per year
    issue_date: date = Field(sa_type=Date)
    period_start: date = Field(sa_type=Date)
    period_end: date = Field(sa_type=Date)
    total_excl_vat: Decimal = money_field(nullable=False)
    total_vat: Decimal = money_field(nullable=False)
    total_incl_vat: Decimal = money_field(nullable=False)
    status: InvoiceStatus = enum_field(InvoiceStatus, InvoiceStatus.ORIGINAL, index=True)
    pdf: Optional[bytes] = Field(default=None, sa_type=LargeBinary)
    signature_p7s: Optional[bytes] = Field(default=None, sa_type=LargeBinary)
    pdf_sha256: Optional[str] = str_field(64, None)
    first_downloaded_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    first_downloaded_at: Optional[datetime] = utc_field()
    created_at: Optional[datetime] = utc_field()


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_line"
    id: Optional[int] = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    card_id: Optional[int] = Field(default=None, foreign_key="card.id", index=True)
    description: str = str_field(200)
    quantity: Optional[Decimal] = volume_field()
    amount_excl_vat: Decimal = money_field(nullable=False)
    vat_rate: Decimal = Field(sa_type=Numeric(5, 2), nullable=False)
    vat_amount: Decimal = money_field(nullable=False)
    amount_incl_vat: Decimal = money_field(nullable=False)
    fuel_transaction_id: Optional[int] = Field(default=None, foreign_key="fuel_transaction.id", index=True)
    toll_transaction_id: Optional[int] = Field(default=None, foreign_key="toll_transaction.id", index=True)
