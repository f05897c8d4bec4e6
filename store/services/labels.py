"""Enum values as a user reads them in a message: the stored (English) value, translated.

The values stay English in the database, JSON and CSV (machine formats); in a sentence they go through
`label()`. The `N_` marks below put every value shown in messages into the catalog.
"""
from __future__ import annotations

import enum

from ..i18n import N_, _
from ..models import Right

_MARKED = (
    # CardStatus, DriverCodeStatus
    N_("new"), N_("in production"), N_("active"), N_("blocked"), N_("deleted"), N_("expired"), N_("block pending"),
    # RenewalStatus
    N_("none"), N_("candidate for renewal"), N_("cancelled"), N_("in renewal"), N_("renewed"),
    # BlockReason
    N_("theft"), N_("loss"), N_("not received"), N_("defect"),
    # ProductType
    N_("fleet card"), N_("passango obu"), N_("libert obu"),
    # Product
    N_("diesel"), N_("petrol 95"), N_("petrol 98"), N_("lpg"), N_("cng"), N_("adblue"), N_("ev charging"),
    N_("car wash"), N_("shop"), N_("lubricants"), N_("parking"), N_("tolls"),
    # AnomalyRule
    N_("product not allowed"), N_("amount limit reached"), N_("volume limit reached"), N_("forbidden day"),
    N_("outside allowed hours"), N_("country not allowed"), N_("volume above tank capacity"),
    N_("odometer implausible"), N_("too many transactions"), N_("blocked or expired plastic"),
    N_("unknown or blocked driver code"),
    # InvoiceStatus
    N_("original"), N_("duplicate"),
)


def enum_label(value: enum.Enum | str) -> str:
    """The value of an enum (or a plain value) in the current language."""
    return _(value.value if isinstance(value, enum.Enum) else value)


# The rights as the users screen lists them (the menu items of Fiche 02 they open), for messages that name a
# right: "You do not have the right “Manage cards and OBUs”" rather than its code "cards.manage".
RIGHT_LABELS: dict[Right, str] = {
    Right.NOTIFICATIONS: N_("Notification settings"),
    Right.DIVISIONS: N_("Manage fleet divisions"),
    Right.USERS: N_("Users (administration)"),
    Right.AUDIT: N_("Audit trail"),
    Right.CARD_CREATE: N_("Create card/OBU"),
    Right.CARD_MANAGE: N_("Manage cards and OBUs"),
    Right.CARD_REQUESTS: N_("My requests"),
    Right.CARD_RENEWAL: N_("Renew cards"),
    Right.DRIVER_CODES_MANAGE: N_("Manage driver codes"),
    Right.DRIVER_CODES_CREATE: N_("Create driver codes"),
    Right.ANOMALIES: N_("Anomalies"),
    Right.DAILY_TRANSACTIONS: N_("Daily transactions"),
    Right.TOLL_TRANSACTIONS: N_("PASSango transactions"),
    Right.REPORT_CARD_FOLLOWUP: N_("Follow-up per card/OBU"),
    Right.REPORT_CONSUMPTION: N_("Consumption follow-up"),
    Right.REPORT_EXPORT: N_("Data export (xls)"),
    Right.REPORT_BUDGET: N_("Budget follow-up"),
    Right.INVOICE_DATA_FILES: N_("Billing data files (TID)"),
    Right.INVOICE_DOWNLOAD: N_("Download invoices"),
    Right.PASSALERT: N_("PASSalert"),
}


def right_label(right: Right | str) -> str:
    """The readable name of a right (a `Right` or its value) in the current language; an unknown value as is."""
    try:
        return _(RIGHT_LABELS[Right(right)])
    except ValueError:
        return str(right)
