"""Fuel/service and toll transactions from the issuer, anomalies found in them, and budgets."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Date, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import enum_field, json_field, money_field, str_field, utc_field, volume_field
from .cards import LimitAction, Product


class FuelTransaction(SQLModel, table=True):
    __tablename__ = "fuel_transaction"
    # The anomaly checks read a card's recent history (period sums, last odometer) per import batch.
    __table_args__ = (Index("ix_fuel_transaction_card_time", "card_id", "occurred_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    issuer_transaction_id: str = str_field(40, unique=True)  # makes imports idempotent
    card_id: int = Field(foreign_key="card.id", index=True)
    rank: int
    occurred_at: datetime = utc_field(nullable=False, index=True)
    station: str = str_field(80)
    city: str = str_field(80)
    country: str = str_field(2)
    product: Product = enum_field(Product)
    quantity: Decimal = volume_field(nullable=False)
    unit_price: Decimal = Field(sa_type=Numeric(10, 4), nullable=False)
    amount_excl_vat: Decimal = money_field(nullable=False)
    vat_rate: Decimal = Field(sa_type=Numeric(5, 2), nullable=False)
    amount_incl_vat: Decimal = money_field(nullable=False)
    odometer_km: Optional[int] = None
    driver_code: Optional[str] = str_field(8, None)
    invoice_id: Optional[int] = Field(default=None, foreign_key="invoice.id", index=True)


class TollTransaction(SQLModel, table=True):
    __tablename__ = "toll_transaction"
    __table_args__ = (Index("ix_toll_transaction_card_time", "card_id", "exit_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    issuer_transaction_id: str = str_field(40, unique=True)
    card_id: int = Field(foreign_key="card.id", index=True)  # the OBU
    operator: str = str_field(40)
    country: str = str_field(2)
    entry_point: str = str_field(80)
    exit_point: str = str_field(80)
    entry_at: datetime = utc_field(nullable=False)
    exit_at: datetime = utc_field(nullable=False, index=True)
    vehicle_class: str = str_field(10)
    amount_excl_vat: Decimal = money_field(nullable=False)
    vat_rate: Decimal = Field(sa_type=Numeric(5, 2), nullable=False)
    amount_incl_vat: Decimal = money_field(nullable=False)
    invoice_id: Optional[int] = Field(default=None, foreign_key="invoice.id", index=True)


class AnomalyRule(str, enum.Enum):
    PRODUCT_NOT_ALLOWED = "product not allowed"
    LIMIT_AMOUNT = "amount limit reached"
    LIMIT_VOLUME = "volume limit reached"
    FORBIDDEN_DAY = "forbidden day"
    OUTSIDE_HOURS = "outside allowed hours"
    COUNTRY_NOT_ALLOWED = "country not allowed"
    ABOVE_TANK_CAPACITY = "volume above tank capacity"
    ODOMETER = "odometer implausible"
    TOO_MANY_TRANSACTIONS = "too many transactions"
    PLASTIC_NOT_VALID = "blocked or expired plastic"
    DRIVER_CODE = "unknown or blocked driver code"


class AnomalyStatus(str, enum.Enum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"


class Anomaly(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id", index=True)
    fuel_transaction_id: Optional[int] = Field(default=None, foreign_key="fuel_transaction.id", index=True)
    toll_transaction_id: Optional[int] = Field(default=None, foreign_key="toll_transaction.id", index=True)
    rule: AnomalyRule = enum_field(AnomalyRule, index=True)
    details: dict = json_field(dict)  # the values that broke the rule
    action: LimitAction = enum_field(LimitAction, LimitAction.NOTIFY)
    status: AnomalyStatus = enum_field(AnomalyStatus, AnomalyStatus.NEW, index=True)
    comment: Optional[str] = str_field(400, None)
    detected_at: datetime = utc_field(nullable=False, index=True)
    acknowledged_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    acknowledged_at: Optional[datetime] = utc_field()
    notified_at: Optional[datetime] = utc_field()


class CardProductBlock(SQLModel, table=True):
    """A limit with the action *block* was exceeded: that product is blocked for the card until the limit's
    period ends (store.issuer.anomaly_rules). Later transactions of the product on the card in
    [blocked_from, until) are themselves an anomaly."""

    __tablename__ = "card_product_block"
    __table_args__ = (Index("ix_card_product_block_card_until", "card_id", "until"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id")
    product: Product = enum_field(Product)
    blocked_from: datetime = utc_field(nullable=False)  # the time of the transaction that exceeded the limit
    until: datetime = utc_field(nullable=False)  # the end of the limit's period (customer's local time)
    anomaly_id: Optional[int] = Field(default=None, foreign_key="anomaly.id", index=True)
    created_at: datetime = utc_field(nullable=False)


class Budget(SQLModel, table=True):
    """A monthly budget per division or per card that the user sets (Monthly reports)."""

    __table_args__ = (UniqueConstraint("customer_number_id", "division_id", "card_id", "month"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    division_id: Optional[int] = Field(default=None, foreign_key="fleet_division.id")
    card_id: Optional[int] = Field(default=None, foreign_key="card.id", index=True)
    month: date = Field(sa_type=Date)  # first day of the month
    amount: Decimal = money_field(nullable=False)


class CardMonthTotal(SQLModel, table=True):
    """A card's transactions summed per month of its customer's time zone (issue 8: the monthly reports read
    these instead of every transaction). Kept in the transaction that inserts the transactions
    (store.issuer.month_totals.add_to_month_totals); `cardsonline db rebuild-month-totals` recomputes it.

    Fuel: every fuel/service transaction (count, amounts), litres of the litre products (fuels and AdBlue).
    Consumption (store.queries.reports.CONSUMPTION_PRODUCTS only): count, litres and cost; the lowest and highest
    odometer reading; litres and cost of the fills with a reading (`km_*`) and of those at the lowest reading
    (`low_*`), so "measured" = km_* - low_* (the fills above the month's lowest reading)."""

    __tablename__ = "card_month_total"
    # SQLite keeps the lines in (card, month) order in the primary key itself: a report's scan reads each line once.
    __table_args__ = {"sqlite_with_rowid": False}
    card_id: int = Field(foreign_key="card.id", primary_key=True)
    month: date = Field(sa_type=Date, primary_key=True)  # first day of the month, customer's time zone
    fuel_count: int = 0
    fuel_litres: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 3), nullable=False)
    fuel_excl: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    fuel_incl: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    toll_count: int = 0
    toll_excl: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    toll_incl: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    cons_count: int = 0
    cons_litres: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 3), nullable=False)
    cons_cost: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    km_min: Optional[int] = None
    km_max: Optional[int] = None
    km_litres: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 3), nullable=False)
    km_cost: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
    low_litres: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 3), nullable=False)
    low_cost: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2), nullable=False)
