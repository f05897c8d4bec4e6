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
from ..i18n import N_, _
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
    "axles": (2, 9, N_("axles")),
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

# Marked only (English); translated where shown: `_(PRODUCT_LABELS[product])`, `field_label()`.
PRODUCT_LABELS = {
    Product.DIESEL: N_("Diesel"),
    Product.PETROL_95: N_("Petrol 95"),
    Product.PETROL_98: N_("Petrol 98"),
    Product.LPG: N_("LPG"),
    Product.CNG: N_("CNG"),
    Product.ADBLUE: N_("AdBlue"),
    Product.EV_CHARGING: N_("EV charging"),
    Product.CAR_WASH: N_("Car wash"),
    Product.SHOP: N_("Shop"),
    Product.LUBRICANTS: N_("Lubricants"),
    Product.PARKING: N_("Parking"),
    Product.TOLLS: N_("Tolls"),
}
FIELD_LABELS = {
    "product_type": N_("Card/OBU type"),
    "customer_number_id": N_("Customer number"),
    "division_id": N_("Fleet division"),
    "license_plate": N_("Licence plate"),
    "embossed_name": N_("Name on the card"),
    "driver_name": N_("Driver name"),
    "category": N_("Card category"),
    "vehicle_type": N_("Vehicle type"),
    "additional_mention": N_("Additional mention"),
    "linked_card_id": N_("Linked card/OBU"),
    "code_type": N_("Code type"),
    "pin_origin": N_("PIN chosen by"),
    "pin": N_("PIN"),
    "shipping_address_id": N_("Shipping address"),
    "controls.odometer_prompt": N_("Odometer prompt"),
    "controls.tank_capacity_l": N_("Tank capacity (l)"),
    "controls.allowed_weekdays": N_("Allowed weekdays"),
    "controls.hours_from": N_("Allowed from (hour)"),
    "controls.hours_to": N_("Allowed until (hour)"),
    "controls.forbidden_days": N_("Forbidden days"),
    "controls.allowed_countries": N_("Allowed countries"),
    "controls.max_transactions_per_day": N_("Maximum transactions per day"),
    "obu": N_("OBU settings"),
    "obu.vehicle_class": N_("Vehicle class"),
    "obu.weight_kg": N_("Weight (kg)"),
    "obu.length_cm": N_("Length (cm)"),
    "obu.width_cm": N_("Width (cm)"),
    "obu.height_cm": N_("Height (cm)"),
    "obu.axles": N_("Axles"),
    "obu.euro_class": N_("Euro class"),
    "obu.technical_properties": N_("Technical properties"),
    "toll_operators": N_("Toll conditions"),
    "documents": N_("Documents"),
}
_LIMIT_LABELS = {
    "allowed": N_("allowed"),
    "amount": N_("limit amount (EUR)"),
    "volume": N_("limit volume"),
    "period": N_("limit period"),
    "action": N_("when the limit is reached"),
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
    """The field's name in the current language."""
    if field_path in FIELD_LABELS:
        return _(FIELD_LABELS[field_path])
    kind, _sep, rest = field_path.partition(".")
    if kind == "limits":
        product_name, _sep, attribute = rest.partition(".")
        return _("{product}: {attribute}").format(product=_(PRODUCT_LABELS[Product[product_name.upper()]]),
                                                  attribute=_(_LIMIT_LABELS[attribute]))
    if kind == "toll":
        return _("Toll conditions {operator}").format(operator=TollOperator[rest.upper()].value)
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
        problems.append(FieldProblem(field_path, _("Give the document a file name.")))
    elif len(name) > 200:
        problems.append(FieldProblem(field_path, _("The document's file name is longer than 200 characters.")))
    label = name or _("The document")
    if not document.content:
        problems.append(FieldProblem(field_path, _("{name} is empty: choose the file again.").format(name=label)))
        return problems
    if len(document.content) > MAX_DOCUMENT_BYTES:
        size_mb = Decimal(len(document.content)) / (1024 * 1024)
        problems.append(FieldProblem(
            field_path, _("{name} is {size:.1f} MB; the limit is 5 MB. Scan it at a lower resolution.").format(
                name=label, size=size_mb)))
    if content_type_of(document.content) is None:
        problems.append(FieldProblem(
            field_path, _("{name} is not a PDF, JPEG or PNG file: only those types are accepted.").format(name=label)))
    return problems


def _decimal_problem(value: Any, places: int) -> str | None:
    """Why `value` is not a positive number with at most `places` decimals (a key of _LIMIT_PROBLEMS), or None."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        return "number"
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        return "positive"
    if value.as_tuple().exponent < -places:
        return "decimals"
    if value >= Decimal(10) ** 9:
        return "large"
    return None


# (attribute, problem) -> the whole sentence; {product}, {places}.
_LIMIT_PROBLEMS = {
    ("amount", "number"): N_("The amount limit for {product} must be a number."),
    ("amount", "positive"): N_("The amount limit for {product} must be more than 0."),
    ("amount", "decimals"): N_("The amount limit for {product} may have at most {places} decimals."),
    ("amount", "large"): N_("The amount limit for {product} is too large."),
    ("volume", "number"): N_("The volume limit for {product} must be a number."),
    ("volume", "positive"): N_("The volume limit for {product} must be more than 0."),
    ("volume", "decimals"): N_("The volume limit for {product} may have at most {places} decimals."),
    ("volume", "large"): N_("The volume limit for {product} is too large."),
}


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
        add("customer_number_id", _("Choose the customer number the card is for."))
    if spec.division_id is None:
        add("division_id", _("Choose a fleet division."))
    plate = clean_plate(spec.license_plate)
    if not plate and not clean_text(spec.embossed_name):
        add("license_plate", _("Enter a licence plate or a name: the card needs at least one of them."))
    for name, length in TEXT_LENGTHS.items():
        value = clean_text(getattr(spec, name))
        if value and len(value) > length:
            add(name, _("{field} may have at most {length} characters (it has {count}).").format(
                field=_(FIELD_LABELS[name]), length=length, count=len(value)))
    if plate and len(plate) <= TEXT_LENGTHS["license_plate"] and not _PLATE.fullmatch(plate):
        add("license_plate", _("A licence plate has letters and digits, separated by hyphens or spaces, "
                               "e.g. 1-ABC-234."))
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
            add("pin", _("An OBU has no PIN: leave the PIN empty."))
        return
    if spec.code_type is CodeType.DRIVER_CODE:
        if spec.pin:
            add("pin", _("A card used with driver codes has no PIN of its own: leave the PIN empty."))
        return
    if spec.pin_origin is PinOrigin.ISSUER:
        if spec.pin:
            add("pin", _("The issuer computes this PIN: leave it empty, or choose to set the PIN yourself."))
        return
    keeps_current = card is not None and card.code_type is CodeType.PIN and card.pin_origin is PinOrigin.CUSTOMER
    if spec.pin is None and not keeps_current:
        add("pin", _("Enter the 4-digit PIN you chose, or let the issuer compute it."))
    elif spec.pin is not None and not _PIN.fullmatch(spec.pin):
        add("pin", _("The PIN must be exactly 4 digits."))


def _check_controls(controls: Controls, add) -> None:
    weekdays = controls.allowed_weekdays
    if not weekdays:
        add("controls.allowed_weekdays", _("Allow at least one weekday, or the card cannot be used at all."))
    elif not all(_int_in(day, 1, 7) for day in weekdays) or len(set(weekdays)) != len(weekdays):
        add("controls.allowed_weekdays", _("Weekdays are numbered 1 (Monday) to 7 (Sunday), each at most once."))
    start, end = controls.hours_from, controls.hours_to
    if (start is None) != (end is None):
        missing = "controls.hours_to" if end is None else "controls.hours_from"
        add(missing, _("Enter both the start and the end of the allowed hours, or neither."))
    for name, value in (("controls.hours_from", start), ("controls.hours_to", end)):
        if value is not None and not _HOUR.fullmatch(value):
            add(name, _("{field}: write the hour as HH:MM between 00:00 and 23:59.").format(
                field=_(FIELD_LABELS[name])))
    if start and end and _HOUR.fullmatch(start) and _HOUR.fullmatch(end) and start >= end:
        add("controls.hours_to", _("The allowed hours must end after they start."))
    if not all(isinstance(day, date) for day in controls.forbidden_days):
        add("controls.forbidden_days", _("Forbidden days are dates (YYYY-MM-DD)."))
    unknown = [c for c in controls.allowed_countries if not isinstance(c, str) or c.upper() not in COUNTRIES]
    if unknown:
        add("controls.allowed_countries",
            _("Unknown country code {codes}: use ISO codes such as BE, NL, FR, DE.").format(
                codes=", ".join(map(str, unknown))))
    if controls.tank_capacity_l is not None:
        problem = _decimal_problem(controls.tank_capacity_l, 3)
        low, high = TANK_CAPACITY_RANGE
        if problem or not low <= controls.tank_capacity_l <= high:
            add("controls.tank_capacity_l", _("The tank capacity must be between {low} and {high} litres.").format(
                low=low, high=high))
    if controls.max_transactions_per_day is not None and not _int_in(controls.max_transactions_per_day,
                                                                     *MAX_TRANSACTIONS_RANGE):
        low, high = MAX_TRANSACTIONS_RANGE
        add("controls.max_transactions_per_day", _("The maximum transactions per day must be {low} to {high}.").format(
            low=low, high=high))


def _check_limits(limits: tuple[LimitSpec, ...], add) -> None:
    seen: set[Product] = set()
    for limit in limits:
        label = _(PRODUCT_LABELS[limit.product])
        if limit.product in seen:
            add(limit_field(limit.product, "allowed"),
                _("{product} is listed twice: keep one line per product.").format(product=label))
            continue
        seen.add(limit.product)
        if not limit.allowed:
            if limit.amount is not None or limit.volume is not None:
                add(limit_field(limit.product, "amount"),
                    _("{product} is not allowed, so it cannot have a limit: remove the limit or allow "
                      "{product}.").format(product=label))
            continue
        for attribute, places in (("amount", 2), ("volume", 3)):
            value = getattr(limit, attribute)
            problem = None if value is None else _decimal_problem(value, places)
            if problem:
                add(limit_field(limit.product, attribute),
                    _(_LIMIT_PROBLEMS[attribute, problem]).format(product=label, places=places))


def _check_obu(spec: CardSpec, add) -> None:
    if not spec.product_type.is_obu:
        if spec.obu is not None and spec.obu != ObuSettings():
            add("obu", _("OBU settings only apply to OBUs: clear them for a fleet card."))
        return
    obu = spec.obu or ObuSettings()
    if obu.vehicle_class not in VEHICLE_CLASSES:
        add("obu.vehicle_class", _("Choose the vehicle class from the registration certificate: {classes}.").format(
            classes=", ".join(VEHICLE_CLASSES)))
    for name, (low, high, unit) in OBU_RANGES.items():
        value = getattr(obu, name)
        label = _(FIELD_LABELS[f"obu.{name}"])
        if value is None:
            add(f"obu.{name}", _("{field} is required for an OBU: copy it from the registration certificate.").format(
                field=label))
        elif not _int_in(value, low, high):
            add(f"obu.{name}", _("{field} must be a whole number from {low} to {high} {unit}.").format(
                field=label, low=low, high=high, unit=_(unit)))
    if obu.euro_class not in EURO_CLASSES:
        add("obu.euro_class", _("Choose the euro class: {classes}.").format(classes=", ".join(EURO_CLASSES)))
    for key, value in obu.technical_properties.items():
        if not (isinstance(key, str) and key.strip() and isinstance(value, str) and len(key) <= 40
                and len(value) <= 40):
            add("obu.technical_properties", _("Each technical property needs a name and a value of at most "
                                              "40 characters."))
            break


def _check_toll(spec: CardSpec, add) -> None:
    operators = spec.toll_operators
    if not operators:
        return
    if not spec.product_type.is_obu:
        add("toll_operators", _("Toll conditions only apply to OBUs: untick the toll operators for a fleet card."))
        return
    if len(set(operators)) != len(operators):
        add("toll_operators", _("A toll operator is ticked twice: tick each one once."))
    if spec.product_type is ProductType.LIBERT_OBU:
        foreign = [op.value for op in operators if op not in FRENCH_OPERATORS]
        if foreign:
            add("toll_operators", _("A Liber-t OBU covers French motorways only: untick {operators}.").format(
                operators=", ".join(foreign)))
