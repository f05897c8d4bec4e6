"""Every table of the domain. Importing this package registers them all on SQLModel.metadata."""
from .accounts import (  # noqa: F401
    Customer,
    CustomerNumber,
    CustomerOption,
    FleetDivision,
    PasswordHistory,
    Right,
    SystemSetting,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from .cards import (  # noqa: F401
    Address,
    AddressKind,
    BlockReason,
    Card,
    CardConfigVersion,
    CardLimit,
    CardStatus,
    CodeType,
    Document,
    DocumentKind,
    LimitAction,
    LimitPeriod,
    PinOrigin,
    Plastic,
    Product,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    TollCondition,
    TollOperator,
)
from .driver_codes import DriverCode, DriverCodeStatus  # noqa: F401
from .invoices import Invoice, InvoiceLine, InvoiceStatus  # noqa: F401
from .notifications import (  # noqa: F401
    AuditEvent,
    Channel,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    OutboxStatus,
)
from .transactions import (  # noqa: F401
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    Budget,
    CardMonthTotal,
    CardProductBlock,
    FuelTransaction,
    TollTransaction,
)

from sqlmodel import SQLModel

metadata = SQLModel.metadata
