"""The shown names of the store's enum values, as the screens translate them.

The store keeps English values (`Product.PETROL_95.value == "petrol 95"`); a screen must not translate a value
built at run time (`_(product.value.capitalize())` is no msgid any catalog has), so every value has a literal
msgid here, marked with `N_` and translated when shown: `product_label(Product.DIESEL)`.
Keyed by the enum's value, so a plain string from a query or a JSON detail works as well as the enum.
"""
from __future__ import annotations

from typing import Any

from store.i18n import N_, _, pgettext

PRODUCT_LABELS = {
    "diesel": N_("Diesel"),
    "petrol 95": N_("Petrol 95"),
    "petrol 98": N_("Petrol 98"),
    "lpg": N_("LPG"),
    "cng": N_("CNG"),
    "adblue": N_("AdBlue"),
    "ev charging": N_("EV charging"),
    "car wash": N_("Car wash"),
    "shop": N_("Shop"),
    "lubricants": N_("Lubricants"),
    "parking": N_("Parking"),
    "tolls": N_("Tolls"),
}
PRODUCT_TYPE_LABELS = {  # the spelling of DOMAIN.md
    "fleet card": N_("Fleet Card"),
    "passango obu": N_("PASSango OBU"),
    "libert obu": N_("Liber-t OBU"),
}
CODE_TYPE_LABELS = {"pin": N_("PIN"), "driver code": N_("Driver code")}
PERIOD_LABELS = {"transaction": N_("transaction"), "day": N_("day"), "week": N_("week"), "month": N_("month")}
LIMIT_ACTION_LABELS = {"block": N_("block"), "notify": N_("notify")}
BLOCK_REASON_LABELS = {"theft": N_("Theft"), "loss": N_("Loss"), "not received": N_("Not received"),
                       "defect": N_("Defect")}
# Every store.models.AnomalyRule needs a line here (tests/tui/test_tui_notifications.py checks it): the
# screens list the rules from the enum, so a rule without a label would show its raw English value.
ANOMALY_RULE_LABELS = {
    "product not allowed": N_("Product not allowed"),
    "amount limit reached": N_("Amount limit reached"),
    "volume limit reached": N_("Volume limit reached"),
    "forbidden day": N_("Forbidden day"),
    "outside allowed hours": N_("Outside the allowed hours"),
    "country not allowed": N_("Country not allowed"),
    "volume above tank capacity": N_("Volume above tank capacity"),
    "odometer implausible": N_("Implausible odometer"),
    "too many transactions": N_("Too many transactions"),
    "blocked or expired plastic": N_("Blocked or expired card"),
    "unknown or blocked driver code": N_("Unknown or blocked driver code"),
}
WEEKDAY_SHORT = {1: N_("Mon"), 2: N_("Tue"), 3: N_("Wed"), 4: N_("Thu"), 5: N_("Fri"), 6: N_("Sat"), 7: N_("Sun")}


def label(table: dict, value: Any) -> str:
    """`value` (an enum member or its value) named from `table`, translated; an unknown value as it is."""
    key = getattr(value, "value", value)
    return _(table[key]) if key in table else str(key)


def product_label(product: Any) -> str:
    return label(PRODUCT_LABELS, product)


def product_type_label(product_type: Any) -> str:
    return label(PRODUCT_TYPE_LABELS, product_type)


def code_type_label(code_type: Any) -> str:
    return label(CODE_TYPE_LABELS, code_type)


def period_label(period: Any) -> str:
    return label(PERIOD_LABELS, period)


def limit_action_label(action: Any) -> str:
    return label(LIMIT_ACTION_LABELS, action)


def block_reason_label(reason: Any) -> str:
    return label(BLOCK_REASON_LABELS, reason)


def anomaly_rules() -> tuple[tuple[str, str], ...]:
    """(value, label msgid) of every anomaly rule, in the enum's order: what the screens offer to choose."""
    from store.models import AnomalyRule

    return tuple((rule.value, ANOMALY_RULE_LABELS.get(rule.value, rule.value)) for rule in AnomalyRule)


def weekday_short(day: int) -> str:
    """1 = Monday … 7 = Sunday, abbreviated."""
    return label(WEEKDAY_SHORT, day)


def NP_(context: str, message: str) -> tuple[str, str]:
    """Mark `message` said in `context` (for a table, like `N_`); `tr()` translates it when shown. For a word
    other languages say differently by sense: "New" a status vs a button, "Copy" a request kind vs a verb."""
    return context, message


def tr(label: str | tuple[str, str]) -> str:
    """A label of a table translated now: marked with `N_` (a string) or with `NP_` (context, message)."""
    if isinstance(label, tuple):
        return pgettext(*label)
    return _(label) if label else label
