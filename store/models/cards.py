"""Cards and OBUs with their limits, controls, addresses, documents, and the requests to the issuer."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import Date, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .base import enum_field, json_field, money_field, str_field, utc_field, volume_field


class ProductType(str, enum.Enum):
    FLEET_CARD = "fleet card"
    PASSANGO_OBU = "passango obu"
    LIBERT_OBU = "libert obu"

    @property
    def is_obu(self) -> bool:
        return self is not ProductType.FLEET_CARD


class CardStatus(str, enum.Enum):
    NEW = "new"  # requested, not yet produced: can be deleted, not blocked (Fiche 09)
    IN_PRODUCTION = "in production"
    ACTIVE = "active"
    BLOCKED = "blocked"  # final for that plastic
    DELETED = "deleted"  # production stopped before it started
    EXPIRED = "expired"


class RenewalStatus(str, enum.Enum):
    NONE = "none"  # not in a renewal campaign
    CANDIDATE = "candidate for renewal"
    CANCELLED = "cancelled"  # will not be renewed; stays active until expiry
    IN_RENEWAL = "in renewal"
    RENEWED = "renewed"


class CodeType(str, enum.Enum):
    PIN = "pin"
    DRIVER_CODE = "driver code"


class PinOrigin(str, enum.Enum):
    CUSTOMER = "customer"
    ISSUER = "issuer"


class BlockReason(str, enum.Enum):
    THEFT = "theft"
    LOSS = "loss"
    NOT_RECEIVED = "not received"
    DEFECT = "defect"


class Product(str, enum.Enum):
    """Products and services a limit can be set on (Fiche 03 step 4)."""

    DIESEL = "diesel"
    PETROL_95 = "petrol 95"
    PETROL_98 = "petrol 98"
    LPG = "lpg"
    CNG = "cng"
    ADBLUE = "adblue"
    EV_CHARGING = "ev charging"
    CAR_WASH = "car wash"
    SHOP = "shop"
    LUBRICANTS = "lubricants"
    PARKING = "parking"
    TOLLS = "tolls"

    @property
    def is_fuel(self) -> bool:
        return self in FUELS


FUELS = frozenset(
    {Product.DIESEL, Product.PETROL_95, Product.PETROL_98, Product.LPG, Product.CNG, Product.ADBLUE, Product.EV_CHARGING}
)


class LimitPeriod(str, enum.Enum):
    TRANSACTION = "transaction"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class LimitAction(str, enum.Enum):
    BLOCK = "block"
    NOTIFY = "notify"


class AddressKind(str, enum.Enum):
    SHIPPING = "shipping"
    PIN_MAILING = "pin mailing"  # read-only in the portal: changes by written request (Fiche 13)
    BILLING = "billing"


class Address(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    kind: AddressKind = enum_field(AddressKind)
    name: str = str_field(120)
    street: str = str_field(120)
    postal_code: str = str_field(12)
    city: str = str_field(80)
    country: str = str_field(2, "BE")


# Manage cards and OBUs on a 100,000-card fleet (Fiche 06): each sortable column has an index that serves
# "this customer number's cards in this order" (store.queries.cards.search_cards walks it with a keyset),
# and the common filters count from an index. The expressions must stay written exactly as the query's.
CARD_SEARCH_INDEXES = (
    Index("ix_card_sort_plate", "customer_number_id", text("coalesce(license_plate, embossed_name, '')"), "id"),
    Index("ix_card_sort_number", "customer_number_id", text("coalesce(number, '')"), "id"),
    Index("ix_card_sort_expiry", "customer_number_id", text("coalesce(expiry_date, '9999-12-31')"), "id"),
    Index("ix_card_sort_last_use", "customer_number_id",
          text("coalesce(last_used_at, '0001-01-01 00:00:00.000000')"), "id"),
    Index("ix_card_sort_created", "customer_number_id",
          text("coalesce(created_at, '0001-01-01 00:00:00.000000')"), "id"),
    Index("ix_card_sort_driver", "customer_number_id", text("coalesce(driver_name, '')"), "id"),
    Index("ix_card_number_status", "customer_number_id", "status", "id"),
    Index("ix_card_number_expiry", "customer_number_id", "expiry_date"),
)


class Card(SQLModel, table=True):
    """A fleet card or an OBU. The number never changes; each new plastic raises the rank."""

    __table_args__ = CARD_SEARCH_INDEXES
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    division_id: int = Field(foreign_key="fleet_division.id", index=True)
    product_type: ProductType = enum_field(ProductType, index=True)
    number: Optional[str] = str_field(19, None, unique=True)  # given by the issuer at production
    rank: int = 0  # 0 until the first plastic is produced
    status: CardStatus = enum_field(CardStatus, CardStatus.NEW, index=True)
    renewal_status: RenewalStatus = enum_field(RenewalStatus, RenewalStatus.NONE, index=True)
    cancelled_by_user: bool = False  # Fiche 09 "cancel": not renewed after expiry
    expiry_date: Optional[date] = Field(default=None, sa_type=Date, index=True)
    license_plate: Optional[str] = str_field(15, None, index=True)
    embossed_name: Optional[str] = str_field(27, None)
    driver_name: Optional[str] = str_field(60, None, index=True)
    category: Optional[str] = str_field(30, None)
    vehicle_type: Optional[str] = str_field(30, None)
    additional_mention: Optional[str] = str_field(27, None)
    linked_card_id: Optional[int] = Field(default=None, foreign_key="card.id", index=True)
    duplicate_of_id: Optional[int] = Field(default=None, foreign_key="card.id", index=True)
    code_type: CodeType = enum_field(CodeType, CodeType.PIN)
    pin_origin: Optional[PinOrigin] = enum_field(PinOrigin, None)
    pin_hash: Optional[str] = str_field(200, None)  # never the PIN itself
    shipping_address_id: Optional[int] = Field(default=None, foreign_key="address.id")
    # Controls (Fiche 03 step 5).
    odometer_prompt: bool = False
    tank_capacity_l: Optional[Decimal] = volume_field()
    allowed_weekdays: list = json_field(lambda: [1, 2, 3, 4, 5, 6, 7])  # ISO weekdays
    allowed_hours_from: Optional[str] = str_field(5, None)  # "HH:MM"
    allowed_hours_to: Optional[str] = str_field(5, None)
    forbidden_days: list = json_field(list)  # ISO dates
    allowed_countries: list = json_field(list)  # ISO 3166 alpha-2; empty means everywhere
    max_transactions_per_day: Optional[int] = None
    # OBU settings (Fiche 05, 08).
    vehicle_class: Optional[str] = str_field(10, None)
    weight_kg: Optional[int] = None
    length_cm: Optional[int] = None
    width_cm: Optional[int] = None
    height_cm: Optional[int] = None
    axles: Optional[int] = None
    euro_class: Optional[str] = str_field(10, None)
    technical_properties: dict = json_field(dict)
    block_reason: Optional[BlockReason] = enum_field(BlockReason, None)
    blocked_at: Optional[datetime] = utc_field()
    created_at: Optional[datetime] = utc_field(index=True)
    produced_at: Optional[datetime] = utc_field()
    last_used_at: Optional[datetime] = utc_field(index=True)
    version: int = 1


class Plastic(SQLModel, table=True):
    """One physical card or box of a card number: rank 1, 2, … An old plastic stays valid until expiry."""

    __table_args__ = (UniqueConstraint("card_id", "rank"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id", index=True)
    rank: int
    status: CardStatus = enum_field(CardStatus)
    expiry_date: Optional[date] = Field(default=None, sa_type=Date)
    produced_at: Optional[datetime] = utc_field()


class CardConfigVersion(SQLModel, table=True):
    """What the anomaly rules read of a card (limits, controls, status, plastics) from `valid_from` (inclusive)
    until `valid_to` (exclusive; None: still in force), so a transaction is judged against the configuration in
    force at its time (issue 8). Written only by store.services.card_history.record_card_versions; `config` is
    the canonical JSON of store.services.card_history.snapshot (compared as text to skip no-op changes)."""

    __tablename__ = "card_config_version"
    __table_args__ = (Index("ix_card_config_version_card_from", "card_id", "valid_from"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id")
    valid_from: datetime = utc_field(nullable=False)
    valid_to: Optional[datetime] = utc_field()
    config: str = Field(sa_type=Text, nullable=False)


class CardLimit(SQLModel, table=True):
    __tablename__ = "card_limit"
    __table_args__ = (UniqueConstraint("card_id", "product"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id", index=True)
    product: Product = enum_field(Product)
    allowed: bool = True  # the product/service may be bought at all
    amount: Optional[Decimal] = money_field()  # EUR
    volume: Optional[Decimal] = volume_field()  # litres (kWh for EV charging)
    period: LimitPeriod = enum_field(LimitPeriod, LimitPeriod.DAY)
    action: LimitAction = enum_field(LimitAction, LimitAction.BLOCK)


class TollOperator(str, enum.Enum):
    VIAPASS_BE = "viapass (BE)"
    TOLL_COLLECT_DE = "toll collect (DE)"
    ASFINAG_AT = "asfinag (AT)"
    SANEF_FR = "sanef (FR)"
    VINCI_FR = "vinci autoroutes (FR)"
    APRR_FR = "aprr (FR)"
    AUTOSTRADE_IT = "autostrade (IT)"
    VIA_T_ES = "via-t (ES)"
    VIA_VERDE_PT = "via verde (PT)"
    EASYGO_DK = "easygo (DK)"


class TollCondition(SQLModel, table=True):
    __tablename__ = "toll_condition"
    __table_args__ = (UniqueConstraint("card_id", "operator"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id", index=True)
    operator: TollOperator = enum_field(TollOperator)
    connection_fee: Optional[Decimal] = money_field()  # None: no connection costs
    confirmed: bool = False  # conditions with connection costs wait for the issuer


class RequestKind(str, enum.Enum):
    CREATE = "create"
    COPY = "copy"
    CHANGE = "change"  # a change that needs reproduction
    DUPLICATE = "duplicate"
    PIN_REISSUE = "pin reissue"
    TOLL_CONDITIONS = "toll conditions"
    RENEWAL = "renewal"
    DELETE = "delete"
    DRIVER_CODE_REISSUE = "driver code reissue"


class RequestStatus(str, enum.Enum):
    SUBMITTED = "submitted"
    WAITING_FOR_DOCUMENT = "waiting for document"
    IN_PRODUCTION = "in production"
    SHIPPED = "shipped"
    DONE = "done"
    REJECTED = "rejected"


class Request(SQLModel, table=True):
    """Every order to the issuer, followed in My requests."""

    id: Optional[int] = Field(default=None, primary_key=True)
    customer_number_id: int = Field(foreign_key="customer_number.id", index=True)
    card_id: Optional[int] = Field(default=None, foreign_key="card.id", index=True)
    kind: RequestKind = enum_field(RequestKind, index=True)
    status: RequestStatus = enum_field(RequestStatus, RequestStatus.SUBMITTED, index=True)
    reason: Optional[str] = str_field(400, None)
    details: dict = json_field(dict)
    fee: Optional[Decimal] = money_field()
    created_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = utc_field(nullable=False, index=True)
    updated_at: Optional[datetime] = utc_field()


class DocumentKind(str, enum.Enum):
    REGISTRATION_CERTIFICATE = "registration certificate"
    OTHER = "other"


class Document(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: int = Field(foreign_key="card.id", index=True)
    request_id: Optional[int] = Field(default=None, foreign_key="request.id")
    kind: DocumentKind = enum_field(DocumentKind)
    filename: str = str_field(200)
    content_type: str = str_field(80)
    size: int
    sha256: str = str_field(64)
    content: bytes = Field(sa_type=LargeBinary, nullable=False)
    uploaded_at: datetime = utc_field(nullable=False)
    uploaded_by_id: Optional[int] = Field(default=None, foreign_key="app_user.id")
