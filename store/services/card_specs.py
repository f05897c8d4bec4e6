"""What a card or OBU form sends (Fiches 03, 05): plain immutable input data, and its validation.

A spec is what the user typed; the services normalise it (trimmed text, upper-case plates) when they
store it. `validate_spec` needs no database: a form can call it while the user types. The checks
that need the database (does this division belong to the customer number?) live in the services.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from ..models import (
    Card,
    CodeType,
    DocumentKind,
    LimitAction,
    LimitPeriod,
    PinOrigin,
    Product,
    ProductType,
    TollOperator,
)
from .errors import DomainError

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
TANK_CAPACITY_RANGE = (Decimal(1), Decimal(2000))  # litres
MAX_TRANSACTIONS_RANGE = (1, 99)  # per day

# ISO 3166 alpha-2 codes of the countries the issuer's network covers.
COUNTRIES = frozenset(
    "AD AL AT BA BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MC MD ME MK MT NL NO "
    "PL PT RO RS SE SI SK SM TR UA".split()
)
# Vehicle categories as on the registration certificate (field J): they decide the toll tariff.
VEHICLE_CLASSES = ("M1", "M2", "M3", "N1", "N2", "N3")
EURO_CLASSES = ("EURO 0", "EURO 1", "EURO 2", "EURO 3", "EURO 4", "EURO 5", "EURO 6", "EEV", "ZEV")
OBU_RANGES = {  # field: (lowest, highest, unit)
    "weight_kg": (500, 60000, "kg"),
    "length_cm": (200, 2500, "cm"),
    "width_cm": (100, 300, "cm"),
    "height_cm": (100, 450, "cm"),
    "axles": (2, 9, "axles"),
}
FRENCH_OPERATORS = frozenset({TollOperator.SANEF_FR, TollOperator.VINCI_FR, TollOperator.APRR_FR})

# The issuer's one-off connection fee per toll operator; an operator not listed carries no connection
# costs. Ticking an operator with a fee is a request the issuer confirms (Fiche 08).
CONNECTION_FEES: dict[TollOperator, Decimal] = {
    TollOperator.ASFINAG_AT: Decimal("25.00"),
    TollOperator.AUTOSTRADE_IT: Decimal("30.00"),
    TollOperator.VIA_T_ES: Decimal("15.00"),
    TollOperator.VIA_VERDE_PT: Decimal("15.00"),
    TollOperator.EASYGO_DK: Decimal("10.00"),
}

_PLATE = re.compile(r"[A-Z0-9](?:[A-Z0-9 -]{0,13}[A-Z0-9])?")
_HOUR = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_PIN = re.compile(r"\d{4}")
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
TEXT_LENGTHS = {  # the column sizes: PostgreSQL enforces them, SQLite does not, so check here
    "license_plate": 15,
    "embossed_name": 27,
    "driver_name": 60,
    "category": 30,
    "vehicle_type": 30,
    "additional_mention": 27,
}

PRODUCT_LABELS = {
    Product.DIESEL: "Diesel",
    Product.PETROL_95: "Petrol 95",
    Product.PETROL_98: "Petrol 98",
    Product.LPG: "LPG",
    Product.CNG: "CNG",
    Product.ADBLUE: "AdBlue",
    Product.EV_CHARGING: "EV charging",
    Product.CAR_WASH: "Car wash",
    Product.SHOP: "Shop",
    Product.LUBRICANTS: "Lubricants",
    Product.PARKING: "Parking",
    Product.TOLLS: "Tolls",
}
FIELD_LABELS = {
    "product_type": "Card/OBU type",
    "customer_number_id": "Customer number",
    "division_id": "Fleet division",
    "license_plate": "Licence plate",
    "embossed_name": "Name on the card",
    "driver_name": "Driver name",
    "category": "Card category",
    "vehicle_type": "Vehicle type",
    "additional_mention": "Additional mention",
    "linked_card_id": "Linked card/OBU",
    "code_type": "Code type",
    "pin_origin": "PIN chosen by",
    "pin": "PIN",
    "shipping_address_id": "Shipping address",
    "controls.odometer_prompt": "Odometer prompt",
    "controls.tank_capacity_l": "Tank capacity (l)",
    "controls.allowed_weekdays": "Allowed weekdays",
    "controls.hours_from": "Allowed from (hour)",
    "controls.hours_to": "Allowed until (hour)",
    "controls.forbidden_days": "Forbidden days",
    "controls.allowed_countries": "Allowed countries",
    "controls.max_transactions_per_day": "Maximum transactions per day",
    "obu": "OBU settings",
    "obu.vehicle_class": "Vehicle class",
    "obu.weight_kg": "Weight (kg)",
    "obu.length_cm": "Length (cm)",
    "obu.width_cm": "Width (cm)",
    "obu.height_cm": "Height (cm)",
    "obu.axles": "Axles",
    "obu.euro_class": "Euro class",
    "obu.technical_properties": "Technical properties",
    "toll_operators": "Toll conditions",
    "documents": "Documents",
}
_LIMIT_LABELS = {
    "allowed": "allowed",
    "amount": "limit amount (EUR)",
    "volume": "limit volume",
    "period": "limit period",
    "action": "when the limit is reached",
}


@dataclass(frozen=True)
class LimitSpec:
    """One product or service the card may buy, with an optional ceiling (Fiche 03 step 4).

    A product that is not listed (or listed with allowed=False) may not be bought at all.
    """

    product: Product
    allowed: bool = True
    amount: Decimal | None = None  # EUR
    volume: Decimal | None = None  # litres, kWh for EV charging
    period: LimitPeriod = LimitPeriod.DAY
    action: LimitAction = LimitAction.BLOCK


@dataclass(frozen=True)
class Controls:
    """Technical, time and geographic controls (Fiche 03 step 5)."""

    odometer_prompt: bool = False
    tank_capacity_l: Decimal | None = None
    allowed_weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)  # ISO: 1 = Monday
    hours_from: str | None = None  # "HH:MM"
    hours_to: str | None = None
    forbidden_days: tuple[date, ...] = ()
    allowed_countries: tuple[str, ...] = ()  # ISO alpha-2; empty means everywhere
    max_transactions_per_day: int | None = None


@dataclass(frozen=True)
class ObuSettings:
    """The vehicle an OBU is for; it decides the toll conditions (Fiche 05 step 3)."""

    vehicle_class: str | None = None
    weight_kg: int | None = None
    length_cm: int | None = None
    width_cm: int | None = None
    height_cm: int | None = None
    axles: int | None = None
    euro_class: str | None = None
    technical_properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentSpec:
    kind: DocumentKind
    filename: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class CardSpec:
    """Every setting of one card or OBU, as a create, copy or change form holds it."""

    product_type: ProductType
    customer_number_id: int | None
    division_id: int | None
    license_plate: str | None = None
    embossed_name: str | None = None
    driver_name: str | None = None
    category: str | None = None
    vehicle_type: str | None = None
    additional_mention: str | None = None
    linked_card_id: int | None = None
    code_type: CodeType = CodeType.PIN
    pin_origin: PinOrigin = PinOrigin.ISSUER
    # The customer's PIN in clear, only on its way to the hash; never stored, never shown (not in repr).
    # In a change, None keeps the current PIN.
    pin: str | None = field(default=None, repr=False)
    shipping_address_id: int | None = None  # None: the customer number's shipping address
    controls: Controls = field(default_factory=Controls)
    limits: tuple[LimitSpec, ...] = ()
    obu: ObuSettings | None = None
    toll_operators: tuple[TollOperator, ...] = ()
    documents: tuple[DocumentSpec, ...] = ()


@dataclass(frozen=True)
class FieldProblem:
    field: str  # the spec path a form focuses, e.g. "license_plate" or "limits.diesel.amount"
    message: str


class InvalidSpec(DomainError):
    """The form holds input that breaks a rule; `field_problems` names every offending field."""

    def __init__(self, problems: list[FieldProblem]):
        super().__init__(" ".join(p.message for p in problems), field=problems[0].field,
                         problems=[p.message for p in problems])
        self.field_problems = problems


def connection_fee(operator: TollOperator) -> Decimal | None:
    return CONNECTION_FEES.get(operator)


def limit_field(product: Product, attribute: str) -> str:
    return f"limits.{product.name.lower()}.{attribute}"


def toll_field(operator: TollOperator) -> str:
    return f"toll.{operator.name.lower()}"


def field_label(field_path: str) -> str:
    if field_path in FIELD_LABELS:
        return FIELD_LABELS[field_path]
    kind, _, rest = field_path.partition(".")
    if kind == "limits":
        product_name, _, attribute = rest.partition(".")
        return f"{PRODUCT_LABELS[Product[product_name.upper()]]}: {_LIMIT_LABELS[attribute]}"
    if kind == "toll":
        return f"Toll conditions {TollOperator[rest.upper()].value}"
    return field_path


def clean_text(value: str | None) -> str | None:
    """Trimmed text; empty becomes None."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def clean_plate(value: str | None) -> str | None:
    value = clean_text(value)
    return value.upper() if value else None


def content_type_of(content: bytes) -> str | None:
    """The type the file's first bytes prove, whatever its name says; None when not accepted."""
    for magic, content_type in _MAGIC:
        if content.startswith(magic):
            return content_type
    return None


def document_problems(document: DocumentSpec, field_path: str = "documents") -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    name = clean_text(document.filename)
    if not name:
        problems.append(FieldProblem(field_path, "Give the document a file name."))
    elif len(name) > 200:
        problems.append(FieldProblem(field_path, "The document's file name is longer than 200 characters."))
    label = name or "The document"
    if not document.content:
        problems.append(FieldProblem(field_path, f"{label} is empty: choose the file again."))
        return problems
    if len(document.content) > MAX_DOCUMENT_BYTES:
        size_mb = Decimal(len(document.content)) / (1024 * 1024)
        problems.append(FieldProblem(
            field_path, f"{label} is {size_mb:.1f} MB; the limit is 5 MB. Scan it at a lower resolution."))
    if content_type_of(document.content) is None:
        problems.append(FieldProblem(
            field_path, f"{label} is not a PDF, JPEG or PNG file: only those types are accepted."))
    return problems


def _decimal_problem(value: Any, places: int) -> str | None:
    """Why `value` is not a positive number with at most `places` decimals, or None."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        return "must be a number"
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        return "must be more than 0"
    if value.as_tuple().exponent < -places:
        return f"may have at most {places} decimals"
    if value >= Decimal(10) ** 9:
        return "is too large"
    return None


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_spec(spec: CardSpec, card: Card | None = None) -> list[FieldProblem]:
    """Every problem of the spec, each with the field to fix; empty when it can be saved.

    `card` is the card being changed (None for a new card): a change may leave a customer PIN empty to
    keep the current one.
    """
    problems: list[FieldProblem] = []

    def add(field_path: str, message: str) -> None:
        problems.append(FieldProblem(field_path, message))

    if spec.customer_number_id is None:
        add("customer_number_id", "Choose the customer number the card is for.")
    if spec.division_id is None:
        add("division_id", "Choose a fleet division.")
    plate = clean_plate(spec.license_plate)
    if not plate and not clean_text(spec.embossed_name):
        add("license_plate", "Enter a licence plate or a name: the card needs at least one of them.")
    for name, length in TEXT_LENGTHS.items():
        value = clean_text(getattr(spec, name))
        if value and len(value) > length:
            add(name, f"{FIELD_LABELS[name]} may have at most {length} characters (it has {len(value)}).")
    if plate and len(plate) <= TEXT_LENGTHS["license_plate"] and not _PLATE.fullmatch(plate):
        add("license_plate", "A licence plate has letters and digits, separated by hyphens or spaces, "
                             "e.g. 1-ABC-234.")
    _check_code(spec, card, add)
    _check_controls(spec.controls, add)
    _check_limits(spec.limits, add)
    _check_obu(spec, add)
    _check_toll(spec, add)
    for index, document in enumerate(spec.documents):
        problems.extend(document_problems(document, f"documents.{index}"))
    return problems


def _check_code(spec: CardSpec, card: Card | None, add) -> None:
    if spec.product_type.is_obu:
        if spec.pin:
            add("pin", "An OBU has no PIN: leave the PIN empty.")
        return
    if spec.code_type is CodeType.DRIVER_CODE:
        if spec.pin:
            add("pin", "A card used with driver codes has no PIN of its own: leave the PIN empty.")
        return
    if spec.pin_origin is PinOrigin.ISSUER:
        if spec.pin:
            add("pin", "The issuer computes this PIN: leave it empty, or choose to set the PIN yourself.")
        return
    keeps_current = card is not None and card.code_type is CodeType.PIN and card.pin_origin is PinOrigin.CUSTOMER
    if spec.pin is None and not keeps_current:
        add("pin", "Enter the 4-digit PIN you chose, or let the issuer compute it.")
    elif spec.pin is not None and not _PIN.fullmatch(spec.pin):
        add("pin", "The PIN must be exactly 4 digits.")


def _check_controls(controls: Controls, add) -> None:
    weekdays = controls.allowed_weekdays
    if not weekdays:
        add("controls.allowed_weekdays", "Allow at least one weekday, or the card cannot be used at all.")
    elif not all(_int_in(day, 1, 7) for day in weekdays) or len(set(weekdays)) != len(weekdays):
        add("controls.allowed_weekdays", "Weekdays are numbered 1 (Monday) to 7 (Sunday), each at most once.")
    start, end = controls.hours_from, controls.hours_to
    if (start is None) != (end is None):
        missing = "controls.hours_to" if end is None else "controls.hours_from"
        add(missing, "Enter both the start and the end of the allowed hours, or neither.")
    for name, value in (("controls.hours_from", start), ("controls.hours_to", end)):
        if value is not None and not _HOUR.fullmatch(value):
            add(name, f"{FIELD_LABELS[name]}: write the hour as HH:MM between 00:00 and 23:59.")
    if start and end and _HOUR.fullmatch(start) and _HOUR.fullmatch(end) and start >= end:
        add("controls.hours_to", "The allowed hours must end after they start.")
    if not all(isinstance(day, date) for day in controls.forbidden_days):
        add("controls.forbidden_days", "Forbidden days are dates (YYYY-MM-DD).")
    unknown = [c for c in controls.allowed_countries if not isinstance(c, str) or c.upper() not in COUNTRIES]
    if unknown:
        add("controls.allowed_countries",
            f"Unknown country code {', '.join(map(str, unknown))}: use ISO codes such as BE, NL, FR, DE.")
    if controls.tank_capacity_l is not None:
        problem = _decimal_problem(controls.tank_capacity_l, 3)
        low, high = TANK_CAPACITY_RANGE
        if problem or not low <= controls.tank_capacity_l <= high:
            add("controls.tank_capacity_l", f"The tank capacity must be between {low} and {high} litres.")
    if controls.max_transactions_per_day is not None and not _int_in(controls.max_transactions_per_day,
                                                                     *MAX_TRANSACTIONS_RANGE):
        low, high = MAX_TRANSACTIONS_RANGE
        add("controls.max_transactions_per_day", f"The maximum transactions per day must be {low} to {high}.")


def _check_limits(limits: tuple[LimitSpec, ...], add) -> None:
    seen: set[Product] = set()
    for limit in limits:
        label = PRODUCT_LABELS[limit.product]
        if limit.product in seen:
            add(limit_field(limit.product, "allowed"), f"{label} is listed twice: keep one line per product.")
            continue
        seen.add(limit.product)
        if not limit.allowed:
            if limit.amount is not None or limit.volume is not None:
                add(limit_field(limit.product, "amount"),
                    f"{label} is not allowed, so it cannot have a limit: remove the limit or allow {label}.")
            continue
        for attribute, places, unit in (("amount", 2, "amount"), ("volume", 3, "volume")):
            value = getattr(limit, attribute)
            problem = None if value is None else _decimal_problem(value, places)
            if problem:
                add(limit_field(limit.product, attribute), f"The {unit} limit for {label} {problem}.")


def _check_obu(spec: CardSpec, add) -> None:
    if not spec.product_type.is_obu:
        if spec.obu is not None and spec.obu != ObuSettings():
            add("obu", "OBU settings only apply to OBUs: clear them for a fleet card.")
        return
    obu = spec.obu or ObuSettings()
    if obu.vehicle_class not in VEHICLE_CLASSES:
        add("obu.vehicle_class", f"Choose the vehicle class from the registration certificate: "
                                 f"{', '.join(VEHICLE_CLASSES)}.")
    for name, (low, high, unit) in OBU_RANGES.items():
        value = getattr(obu, name)
        label = FIELD_LABELS[f"obu.{name}"]
        if value is None:
            add(f"obu.{name}", f"{label} is required for an OBU: copy it from the registration certificate.")
        elif not _int_in(value, low, high):
            add(f"obu.{name}", f"{label} must be a whole number from {low} to {high} {unit}.")
    if obu.euro_class not in EURO_CLASSES:
        add("obu.euro_class", f"Choose the euro class: {', '.join(EURO_CLASSES)}.")
    for key, value in obu.technical_properties.items():
        if not (isinstance(key, str) and key.strip() and isinstance(value, str) and len(key) <= 40
                and len(value) <= 40):
            add("obu.technical_properties", "Each technical property needs a name and a value of at most "
                                            "40 characters.")
            break


def _check_toll(spec: CardSpec, add) -> None:
    operators = spec.toll_operators
    if not operators:
        return
    if not spec.product_type.is_obu:
        add("toll_operators", "Toll conditions only apply to OBUs: untick the toll operators for a fleet card.")
        return
    if len(set(operators)) != len(operators):
        add("toll_operators", "A toll operator is ticked twice: tick each one once.")
    if spec.product_type is ProductType.LIBERT_OBU:
        foreign = [op.value for op in operators if op not in FRENCH_OPERATORS]
        if foreign:
            add("toll_operators", f"A Liber-t OBU covers French motorways only: untick {', '.join(foreign)}.")
