"""Enum values as a user reads them in a message: the stored (English) value, translated.

The values stay English in the database, JSON and CSV (machine formats); in a sentence they go through
`label()`. The `N_` marks below put every value shown in messages into the catalog.
"""
from __future__ import annotations

import enum

from ..i18n import N_, _

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
