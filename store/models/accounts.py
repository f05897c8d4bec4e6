"""Customers, customer numbers (Multipass), fleet divisions, users and their rights."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Date, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import enum_field, enum_type, str_field, utc_field


class Right(str, enum.Enum):
    """The applications of the portal (Fiche 02 menu items) a user may be granted (Fiche 10)."""

    NOTIFICATIONS = "account.notifications"
    DIVISIONS = "account.divisions"
    USERS = "account.users"
    AUDIT = "account.audit"
    CARD_CREATE = "cards.create"
    CARD_MANAGE = "cards.manage"
    CARD_REQUESTS = "cards.requests"
    CARD_RENEWAL = "cards.renewal"
    DRIVER_CODES_MANAGE = "driver_codes.manage"
    DRIVER_CODES_CREATE = "driver_codes.create"
    ANOMALIES = "daily.anomalies"
    DAILY_TRANSACTIONS = "daily.transactions"
    TOLL_TRANSACTIONS = "daily.toll_transactions"
    REPORT_CARD_FOLLOWUP = "reports.card_followup"
    REPORT_CONSUMPTION = "reports.consumption"
    REPORT_EXPORT = "reports.export"
    REPORT_BUDGET = "reports.budget"
    INVOICE_DATA_FILES = "invoices.data_files"
    INVOICE_DOWNLOAD = "invoices.download"
    PASSALERT = "passalert"


class CustomerOption(str, enum.Enum):
    """Options the customer bought; a menu item needs both the option (if any) and the right."""

    OBU = "obu"
    DRIVER_CODES = "driver_codes"
    PASSALERT = "passalert"
    ANOMALY_DETECTION = "anomaly_detection"
    INVOICES_ONLINE = "invoices_online"
    MONTHLY_REPORTS = "monthly_reports"


class UserStatus(str, enum.Enum):
    INVITED = "invited"  # created, first login not yet done
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Customer(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = str_field(120)
    vat_number: Optional[str] = str_field(20, None)
    # 4 issuer digits that start every personalised driver code of this customer (Fiche 13).
    driver_code_prefix: str = str_field(4)
    timezone: str = str_field(40, "Europe/Brussels")
    language: str = str_field(5, "nl")
    options: list = Field(default_factory=list, sa_type=JSON, nullable=False)
    contact_name: Optional[str] = str_field(120, None)
    contact_email: Optional[str] = str_field(200, None)
    created_at: Optional[datetime] = utc_field()


class CustomerNumber(SQLModel, table=True):
    __tablename__ = "customer_number"
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    number: str = str_field(12, unique=True)
    name: str = str_field(120)
    card_sequence: int = 0  # last card sequence handed out by the issuer for this number


class FleetDivision(SQLModel, table=True):
    __tablename__ = "fleet_division"
    __table_args__ = (UniqueConstraint("customer_number_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    name: str = str_field(60)
    version: int = 1


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    username: str = str_field(60, unique=True)
    password_hash: Optional[str] = str_field(200, None)
    last_name: str = str_field(80)
    first_name: str = str_field(80)
    email: str = str_field(200)
    phone: str = str_field(10)
    language: str = str_field(5, "nl")
    status: UserStatus = enum_field(UserStatus, UserStatus.ACTIVE)
    valid_from: Optional[date] = Field(default=None, sa_type=Date)
    valid_until: Optional[date] = Field(default=None, sa_type=Date)
    failed_logins: int = 0
    locked_until: Optional[datetime] = utc_field()
    password_changed_at: Optional[datetime] = utc_field()
    last_login_at: Optional[datetime] = utc_field()
    invitation_sent_at: Optional[datetime] = utc_field()
    invitation_failures: int = 0
    totp_secret: Optional[str] = str_field(64, None)
    totp_required: bool = False
    # The time step (Unix time // 30) of the last one-time code accepted: that code, and any of an earlier step,
    # is refused from then on (replay). None: no code accepted since the secret was set.
    totp_last_step: Optional[int] = None
    created_at: Optional[datetime] = utc_field()
    version: int = 1

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class PasswordHistory(SQLModel, table=True):
    __tablename__ = "password_history"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    password_hash: str = str_field(200)
    created_at: datetime = utc_field(nullable=False)


class UserRight(SQLModel, table=True):
    __tablename__ = "user_right"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    right: Right = Field(primary_key=True, sa_type=enum_type(Right))


class UserCustomerNumber(SQLModel, table=True):
    """Multipass: the customer numbers a user may act for."""

    __tablename__ = "user_customer_number"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", primary_key=True)


class SystemSetting(SQLModel, table=True):
    """Small facts about this database (e.g. that it holds demo data)."""

    __tablename__ = "system_setting"
    key: str = Field(sa_type=String(60), primary_key=True)
    value: str = str_field(400)
