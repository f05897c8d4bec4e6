"""The deterministic demo data set: `cardsonline demo` and the first `make run`.

Same seed, same data: every random choice comes from one `random.Random(seed)` and every time from
`db.clock`. Cards and their children are written in batches with Core executemany and ids assigned
here, so memory stays flat for any card count. Only the first TRANSACTION_CARDS cards (by id) get
transactions, so a 100k-card demo stays fast while every screen still has history to show.
"""
from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, insert, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, select

from .db import Database
from .issuer.numbering import ISSUER_PREFIX, add_years, card_number
from .models import (
    Address,
    AddressKind,
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    Budget,
    BlockReason,
    Card,
    CardConfigVersion,
    CardLimit,
    CardStatus,
    Channel,
    CodeType,
    Customer,
    CustomerNumber,
    CustomerOption,
    DriverCode,
    DriverCodeStatus,
    FleetDivision,
    FuelTransaction,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LimitAction,
    LimitPeriod,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    OutboxStatus,
    PinOrigin,
    Plastic,
    Product,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    Right,
    SystemSetting,
    TollCondition,
    TollOperator,
    TollTransaction,
    User,
    UserCustomerNumber,
    UserRight,
    UserStatus,
)
from .services.auth import set_password
from .services.card_history import initial_versions
from .services.renewals import add_months
from .services.renewals import timeline as renewal_timeline

Progress = Callable[[int, int, str], None]

DEMO_PASSWORDS = {"fleetadmin": "Fleet#2026", "depot": "Depot#2026", "accounting": "Books#2026", "intern": "Intern#2026"}
DEPOT_RIGHTS = (Right.CARD_MANAGE, Right.DRIVER_CODES_MANAGE, Right.DAILY_TRANSACTIONS)
ACCOUNTING_RIGHTS = (Right.INVOICE_DOWNLOAD, Right.INVOICE_DATA_FILES, Right.REPORT_CONSUMPTION,
                     Right.REPORT_BUDGET, Right.REPORT_EXPORT, Right.REPORT_CARD_FOLLOWUP)

BATCH_CARDS = 2_000
TRANSACTION_CARDS = 1_500  # only cards with id <= this get transactions: keeps 100k-card demos fast
TRANSACTION_FLUSH_ROWS = 5_000
HISTORY_DAYS = 182  # six months of transactions before now
MAX_OBUS = 2_000
HISTORIC_REQUEST_CARDS = 300  # a few done/rejected requests among the first cards only
VALIDITY_YEARS = 4  # Fiche 12
RENEWAL_WINDOW_DAYS = 90  # the campaign starts 3 months before expiry
ANOMALY_RATE = 0.012

# The argon2id hash of the PIN "1234", shared by every card whose PIN the customer chose. One hash per card
# would cost ~50 ms each (over an hour for 100k cards); issuer-computed PINs are not stored at all.
CUSTOMER_PIN_HASH = "$argon2id$v=19$m=65536,t=3,p=4$YA0Dw6axhLZ/FL9zWKCkEA$b8s/JtMHp+1NeFjHPBZX+Vxw+lV4p7vx36JWAUUIzt4"

CENT = Decimal("0.01")
MILLILITRE = Decimal("0.001")
TENTH_CENT = Decimal("0.0001")
ALL_WEEKDAYS = [1, 2, 3, 4, 5, 6, 7]


class DemoExists(Exception):
    pass


# --- reference data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Vehicle:
    vehicle_type: str
    category: str
    fuel_choices: tuple[tuple[tuple[Product, ...], int], ...]  # weighted; a choice's first fuel is bought most
    tank_l: tuple[int, int] | None  # None: no liquid-fuel tank
    battery_kwh: tuple[int, int] | None
    km_per_day: tuple[int, int]
    fills_per_week: float
    services: tuple[tuple[Product, float], ...]  # a service and the share of cards that have it
    odometer_share: float
    driver_code_share: float  # pool vehicles shared by drivers with personal codes


VEHICLES = {
    "car": _Vehicle("Passenger car", "Company car",
                    (((Product.DIESEL,), 40), ((Product.PETROL_95,), 35),
                     ((Product.PETROL_95, Product.PETROL_98), 15), ((Product.LPG, Product.PETROL_95), 10)),
                    (45, 65), None, (40, 110), 1.2,
                    ((Product.CAR_WASH, 0.6), (Product.SHOP, 0.4), (Product.PARKING, 0.5)), 0.4, 0.0),
    "hybrid": _Vehicle("Plug-in hybrid", "Company car",
                       (((Product.PETROL_95, Product.EV_CHARGING), 1),),
                       (35, 50), (10, 20), (40, 90), 1.6,
                       ((Product.CAR_WASH, 0.6), (Product.PARKING, 0.5), (Product.SHOP, 0.3)), 0.3, 0.0),
    "ev": _Vehicle("Electric car", "Electric", (((Product.EV_CHARGING,), 1),), None, (50, 90), (40, 100), 2.5,
                   ((Product.CAR_WASH, 0.5), (Product.PARKING, 0.6)), 0.2, 0.0),
    "van": _Vehicle("Van", "Utility",
                    (((Product.DIESEL,), 55), ((Product.DIESEL, Product.ADBLUE), 40), ((Product.CNG,), 5)),
                    (60, 90), None, (80, 200), 2.5,
                    ((Product.CAR_WASH, 0.4), (Product.SHOP, 0.3), (Product.LUBRICANTS, 0.4)), 0.8, 0.4),
    "truck": _Vehicle("Truck", "Heavy goods", (((Product.DIESEL, Product.ADBLUE), 1),),
                      (300, 800), None, (300, 650),
                      3.0, ((Product.SHOP, 0.3), (Product.LUBRICANTS, 0.6), (Product.CAR_WASH, 0.2)), 0.9, 0.6),
}
LIQUID_FUELS = (Product.DIESEL, Product.PETROL_95, Product.PETROL_98, Product.LPG)
LIGHT_VEHICLES = ("car", "hybrid", "ev", "van")


@dataclass(frozen=True)
class _DivisionProfile:
    weight: int
    vehicles: tuple[tuple[str, int], ...]
    home_cities: tuple[str, ...]
    countries: tuple[tuple[str, int], ...]  # where its drivers fill up away from their usual stations
    allowed_countries: tuple[tuple[tuple[str, ...], int], ...]  # () means everywhere


DIVISIONS = {
    "Distribution": _DivisionProfile(
        45, (("van", 60), ("car", 25), ("hybrid", 10), ("ev", 5)),
        ("Antwerpen", "Mechelen", "Gent", "Sint-Niklaas", "Turnhout", "Brussel", "Leuven", "Aalst"),
        (("BE", 92), ("NL", 6), ("FR", 1), ("LU", 1)),
        ((("BE",), 60), (("BE", "NL"), 20), ((), 20))),
    "Long haul": _DivisionProfile(
        35, (("truck", 75), ("van", 15), ("car", 10)),
        ("Antwerpen", "Gent", "Brussel", "Liège", "Hasselt", "Kortrijk", "Namur", "Arlon", "Genk", "Mons"),
        (("BE", 60), ("NL", 12), ("FR", 12), ("DE", 10), ("LU", 6)),
        ((("BE", "NL", "FR", "DE", "LU"), 50), ((), 50))),
    "Management": _DivisionProfile(
        20, (("car", 45), ("hybrid", 25), ("ev", 30)),
        ("Liège", "Namur", "Verviers", "Huy", "Wavre", "Brussel", "Arlon", "Charleroi"),
        (("BE", 85), ("LU", 10), ("FR", 3), ("NL", 2)),
        ((("BE", "LU"), 40), (("BE", "FR", "LU", "NL"), 20), ((), 40))),
}

CITIES = {
    "BE": ("Antwerpen", "Mechelen", "Gent", "Brussel", "Leuven", "Hasselt", "Brugge", "Kortrijk", "Sint-Niklaas",
           "Aalst", "Turnhout", "Genk", "Liège", "Namur", "Charleroi", "Mons", "Wavre", "Verviers", "Huy", "Arlon"),
    "NL": ("Breda", "Roosendaal", "Eindhoven", "Rotterdam", "Maastricht", "Venlo"),
    "FR": ("Lille", "Valenciennes", "Reims", "Metz", "Arras", "Paris"),
    "DE": ("Aachen", "Köln", "Düsseldorf", "Trier", "Mönchengladbach"),
    "LU": ("Luxembourg", "Wasserbillig", "Pétange", "Steinfort", "Berchem"),
}
FUEL_BRANDS = {
    "BE": ("TotalEnergies", "Q8", "Shell", "Esso", "Lukoil", "DATS 24", "Gabriëls", "Octa+", "Texaco"),
    "NL": ("Shell", "BP", "Esso", "TotalEnergies", "Tango"),
    "FR": ("TotalEnergies", "Esso", "Avia", "Carrefour", "Intermarché"),
    "DE": ("Aral", "Shell", "Esso", "Jet", "TotalEnergies"),
    "LU": ("Aral", "Shell", "TotalEnergies", "Q8", "Gulf"),
}
CHARGING_BRANDS = ("Allego", "Ionity", "Fastned", "TotalEnergies Charge")
VAT_RATES = {"BE": Decimal(21), "NL": Decimal(21), "FR": Decimal(20), "DE": Decimal(19), "LU": Decimal(17)}
PRICE_LEVELS = {"BE": 1.0, "NL": 1.08, "FR": 1.02, "DE": 0.98, "LU": 0.86}
# Unit prices excluding VAT in EUR per litre, kg (CNG) or kWh (charging), before the country level.
BASE_PRICES = {Product.DIESEL: 1.42, Product.PETROL_95: 1.38, Product.PETROL_98: 1.50, Product.LPG: 0.62,
               Product.CNG: 1.30, Product.ADBLUE: 0.72, Product.EV_CHARGING: 0.40}
# Services are bought as one item: the price range in EUR excluding VAT, and the chance per fuel stop.
SERVICE_PRICES = {Product.CAR_WASH: (12, 24, 0.08), Product.SHOP: (3, 25, 0.12),
                  Product.LUBRICANTS: (9, 35, 0.02), Product.PARKING: (2, 15, 0.05)}

FIRST_NAMES = ("Jan", "Tom", "Pieter", "Koen", "Bart", "Wim", "Dirk", "Luc", "Marc", "Geert", "Sofie", "Els", "An",
               "Katrien", "Lies", "Sarah", "Julie", "Emma", "Lotte", "Nathalie", "Jean", "Pierre", "Michel",
               "Philippe", "Olivier", "Nicolas", "Julien", "Sébastien", "Marie", "Isabelle", "Céline", "Aurélie",
               "Mohamed", "Youssef", "Fatima", "Kevin", "Thomas", "Lucas", "Arthur", "Noah")
LAST_NAMES = ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
              "De Smet", "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Laurent", "Leclercq", "Vermeulen",
              "Van den Broeck", "De Clercq", "Hermans", "Michiels", "Renard", "Lemaire", "François", "Van Damme",
              "Aerts", "Cools", "El Amrani", "Benali", "Van de Velde", "Verhoeven", "Pauwels", "Vandenberghe")

# Belgian public holidays with a fixed date, as (month, day): the forbidden days some cards have.
FIXED_HOLIDAYS = ((1, 1), (5, 1), (7, 21), (8, 15), (11, 1), (11, 11), (12, 25))

# Toll segments per operator: entry, exit, and the price for class 1 excluding VAT.
TOLL_SEGMENTS = {
    TollOperator.VIAPASS_BE: (("E313 Antwerpen-Oost", "E313 Hasselt-West", 11.40),
                              ("E40 Gent-Centrum", "E40 Brussel-Ring", 8.90),
                              ("E19 Antwerpen-Noord", "E19 Meer", 6.20),
                              ("E42 Namur-Nord", "E42 Liège-Awans", 9.30),
                              ("E411 Wavre", "E411 Arlon", 24.60),
                              ("E17 Kortrijk", "E17 Gent-Zwijnaarde", 7.10)),
    TollOperator.TOLL_COLLECT_DE: (("A4 Aachen-Lichtenbusch", "A4 Köln-Süd", 14.20),
                                   ("A3 Köln-Mülheim", "A3 Frankfurt-Süd", 31.50),
                                   ("A61 Mönchengladbach", "A61 Koblenz", 22.80)),
    TollOperator.SANEF_FR: (("A1 Lille-Fretin", "A1 Paris-Nord", 22.30), ("A26 Arras", "A26 Reims-Nord", 19.40),
                            ("A4 Metz-Est", "A4 Reims-Est", 21.70)),
    TollOperator.VINCI_FR: (("A10 Paris-Saclay", "A10 Orléans-Centre", 12.10), ("A7 Lyon-Sud", "A7 Valence-Nord", 10.20),
                            ("A9 Nîmes-Ouest", "A9 Montpellier-Est", 4.80)),
    TollOperator.APRR_FR: (("A6 Paris-Fleury", "A6 Auxerre-Nord", 15.70), ("A36 Mulhouse", "A36 Besançon-Centre", 11.20),
                           ("A39 Dole", "A39 Bourg-en-Bresse", 13.90)),
    TollOperator.ASFINAG_AT: (("A1 Salzburg-Nord", "A1 Linz", 24.10), ("A12 Kufstein-Süd", "A12 Innsbruck-West", 18.50)),
    TollOperator.AUTOSTRADE_IT: (("A22 Brennero", "A22 Verona-Nord", 33.00), ("A4 Milano-Est", "A4 Brescia-Ovest", 9.40)),
    TollOperator.VIA_T_ES: (("AP-7 La Jonquera", "AP-7 Girona-Sud", 8.60),),
    TollOperator.VIA_VERDE_PT: (("A1 Lisboa", "A1 Porto", 23.40),),
    TollOperator.EASYGO_DK: (("Storebælt Halsskov", "Storebælt Knudshoved", 55.00),),
}
# Belgian and German truck tolls are levies without VAT.
TOLL_VAT_RATES = {"BE": Decimal(0), "DE": Decimal(0), "FR": Decimal(20), "AT": Decimal(20), "IT": Decimal(22),
                  "ES": Decimal(21), "PT": Decimal(23), "DK": Decimal(25)}
TOLL_CLASS_FACTORS = {"1": 1.0, "2": 1.5, "3": 2.2, "4": 2.9}  # by the operators' tariff class


def _toll_class(row: dict) -> str:
    """The toll operators' tariff class (1-4), from the vehicle's axles and height."""
    if row["product_type"] is ProductType.PASSANGO_OBU:
        return "3" if row["axles"] == 2 else "4"
    return "2" if row["height_cm"] > 200 else "1"
PASSANGO_BASE_OPERATORS = (TollOperator.VIAPASS_BE, TollOperator.TOLL_COLLECT_DE, TollOperator.SANEF_FR)
PASSANGO_OPTIONAL_OPERATORS = (TollOperator.ASFINAG_AT, TollOperator.APRR_FR, TollOperator.AUTOSTRADE_IT)
# Operators whose reduced rate costs a connection fee that the issuer confirms.
PASSANGO_FEE_OPERATORS = ((TollOperator.VIA_T_ES, Decimal("15.00")), (TollOperator.VIA_VERDE_PT, Decimal("12.50")),
                          (TollOperator.EASYGO_DK, Decimal("30.00")))
LIBERT_OPERATORS = (TollOperator.SANEF_FR, TollOperator.VINCI_FR, TollOperator.APRR_FR)
TOLL_OPERATOR_WEIGHTS = {TollOperator.VIAPASS_BE: 50, TollOperator.TOLL_COLLECT_DE: 15, TollOperator.SANEF_FR: 15,
                         TollOperator.VINCI_FR: 10, TollOperator.APRR_FR: 8}

# Card lifecycles and how often each occurs. The first cards take each one in turn (SHOWCASE), so even a
# small demo shows every status and renewal status.
FLEET_SCENARIOS = (("active", 70), ("candidate", 4), ("cancelled by user", 1.5), ("cancelled unused", 1.5),
                   ("in renewal", 2), ("renewed", 3), ("blocked", 6), ("expired", 5), ("in production", 2.5),
                   ("new", 2.5), ("deleted", 1.5))
OBU_SCENARIOS = (("active", 86), ("blocked", 4), ("expired", 2), ("in production", 3), ("new", 4), ("deleted", 1))
USAGE = (("regular", 88), ("stopped", 7), ("never", 5))  # "stopped": not used for more than 3 months

ANOMALY_COMMENTS = ("Checked with the driver: rental car on a trip abroad.", "Agreed exception.",
                    "Driver reminded of the rules.", "Typing error at the pump.", "Known, no action needed.")


# --- small helpers -------------------------------------------------------------------------------------

def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights=weights)[0]


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def _vat(amount_excl_vat: Decimal, rate: Decimal) -> Decimal:
    return (amount_excl_vat * rate / 100).quantize(CENT, ROUND_HALF_UP)


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


_PLATE_LETTERS = 26 ** 3
_PLATE_SPACE = 2 * _PLATE_LETTERS * 1000  # "1-ABC-123" and "2-ABC-123"
_PLATE_STRIDE = 7919  # prime and coprime to _PLATE_SPACE, so card ids map to distinct plates


def _plate(index: int) -> str:
    series, rest = divmod(index % _PLATE_SPACE, _PLATE_LETTERS * 1000)
    letters, digits = divmod(rest, 1000)
    first, rest = divmod(letters, 26 * 26)
    second, third = divmod(rest, 26)
    return f"{series + 1}-{chr(65 + first)}{chr(65 + second)}{chr(65 + third)}-{digits:03d}"


def _template(table, **values) -> dict:
    # Every row of an executemany needs the same keys, so each row starts from all columns but the id.
    row = {column.name: None for column in table.columns if column.name != "id"}
    row.update(values)
    return row


CARD_TEMPLATE = _template(
    Card.__table__, rank=0, status=CardStatus.NEW, renewal_status=RenewalStatus.NONE, cancelled_by_user=False,
    code_type=CodeType.PIN, odometer_prompt=False, allowed_weekdays=ALL_WEEKDAYS, forbidden_days=[],
    allowed_countries=[], technical_properties={}, version=1,
)
REQUEST_TEMPLATE = _template(Request.__table__, details={})
ANOMALY_TEMPLATE = _template(Anomaly.__table__)


# --- the plan of one card ----------------------------------------------------------------------------

@dataclass
class _Plan:
    """One card or OBU: its row, its children, and what its transactions need."""

    row: dict
    vehicle: str
    fuels: tuple[Product, ...] = ()
    services: tuple[Product, ...] = ()
    tank_l: int | None = None
    battery_kwh: int | None = None
    km_per_day: int = 0
    home_stations: list[tuple[str, str]] = field(default_factory=list)  # (station, city) in BE
    shop_limit: Decimal | None = None  # per transaction, notify only
    shop_refused: bool = False
    limits: list[dict] = field(default_factory=list)  # without card_id, so a duplicate can copy them
    toll_conditions: list[dict] = field(default_factory=list)
    plastics: list[dict] = field(default_factory=list)
    driver_pool: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)
    use_from: datetime | None = None
    use_until: datetime | None = None

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def is_obu(self) -> bool:
        return self.row["product_type"].is_obu


@dataclass
class _Counts:
    by_status: Counter = field(default_factory=Counter)
    by_renewal: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)


class _Builder:
    """Generates the cards and everything hanging off them; owns the one random stream of the demo."""

    def __init__(self, rng: random.Random, now: datetime, zone: ZoneInfo, cards: int, customer: Customer,
                 numbers: list[CustomerNumber], divisions: list[FleetDivision], addresses: dict[int, int],
                 admin_id: int):
        self.rng = rng
        self.now = now
        self.zone = zone
        self.today = now.astimezone(zone).date()
        self.window_start = now - timedelta(days=HISTORY_DAYS)
        self.fleet_cards = cards
        self.obus = min(MAX_OBUS, max(round(cards / 7.5), min(cards, 20)))
        self.total = cards + self.obus
        self.customer = customer
        self.numbers = {n.id: n for n in numbers}
        self.divisions = divisions
        self.division_by_name = {d.name: d for d in divisions}
        self.profiles = {d.id: DIVISIONS[d.name] for d in divisions}
        self.shipping_address = addresses
        self.admin_id = admin_id
        self.sequences = {n.id: 0 for n in numbers}
        self.plate_offset = rng.randrange(_PLATE_SPACE)
        self.fleet_showcase = deque(name for name, _ in FLEET_SCENARIOS)
        self.obu_showcase = deque(["active", "active", "new", "in production", "blocked", "expired"])
        self.pending_duplicates: deque[_Plan] = deque()
        self.linkable: dict[tuple[int, bool], tuple[int, str | None, str | None]] = {}  # (division, heavy)
        self.driver_codes: dict[int, list[tuple[str, datetime, datetime | None]]] = {}
        # Ids are handed out here (the demo starts from empty tables) so children and anomalies can refer
        # to rows of the same batch without reading anything back.
        self.fuel_id = 0
        self.toll_id = 0
        self.counts = _Counts()
        self.requests: list[dict] = []

    # -- time helpers --

    def at_local(self, day: date, hour: float) -> datetime:
        minutes = int(hour * 60)
        return datetime.combine(day, time(minutes // 60, minutes % 60), self.zone).astimezone(timezone.utc)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def ago(self, low: timedelta, high: timedelta) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(low.total_seconds(), high.total_seconds()))

    # -- driver codes --

    def driver_code_rows(self) -> list[dict]:
        """40 codes: most active, a bulk block of 6 waiting for the next morning, 6 blocked."""
        rng, rows = self.rng, []
        statuses = [DriverCodeStatus.ACTIVE] * 28 + [DriverCodeStatus.BLOCK_PENDING] * 6 + [DriverCodeStatus.BLOCKED] * 6
        rng.shuffle(statuses)
        per_division = {"Distribution": 16, "Long haul": 12, "Management": 12}
        codes_by_number: dict[int, list[str]] = {}
        next_morning = self.at_local(self.today + timedelta(days=1), 6)
        for division in self.divisions:
            taken = codes_by_number.setdefault(division.customer_number_id, [])
            for _ in range(per_division[division.name]):
                code = f"{rng.randrange(10_000):04d}"
                while code in taken:
                    code = f"{rng.randrange(10_000):04d}"
                taken.append(code)
                status = statuses.pop()
                created = self.ago(timedelta(days=20), timedelta(days=1100))
                blocked_at = effective = None
                if status is DriverCodeStatus.BLOCKED:
                    blocked_at = effective = created + (self.now - created) * rng.uniform(0.3, 0.95)
                elif status is DriverCodeStatus.BLOCK_PENDING:
                    effective = next_morning
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"[:25].rstrip()
                rows.append(dict(customer_number_id=division.customer_number_id, division_id=division.id, code=code,
                                 driver_name=name, status=status, block_effective_at=effective,
                                 blocked_at=blocked_at, created_at=created, version=1))
                # A pending block still lets the code work until the next morning.
                self.driver_codes.setdefault(division.customer_number_id, []).append(
                    (self.customer.driver_code_prefix + code, created, blocked_at))
        return rows

    # -- cards --

    def plans(self, start: int, stop: int) -> list[_Plan]:
        """The cards with ids start+1 … stop; OBUs are spread evenly among the fleet cards."""
        plans = []
        for index in range(start, stop):
            card_id = index + 1
            is_obu = (index + 1) * self.obus // self.total > index * self.obus // self.total
            plans.append(self.obu(card_id) if is_obu else self.fleet_card(card_id))
        return plans

    def fleet_card(self, card_id: int) -> _Plan:
        if self.pending_duplicates:
            return self.duplicate(card_id, self.pending_duplicates.popleft())
        rng = self.rng
        showcase = bool(self.fleet_showcase)
        scenario = self.fleet_showcase.popleft() if showcase else _weighted(rng, FLEET_SCENARIOS)
        division = self.division_by_name[_weighted(rng, ((n, p.weight) for n, p in DIVISIONS.items()))]
        profile = DIVISIONS[division.name]
        plan = self.new_plan(card_id, ProductType.FLEET_CARD, division, _weighted(rng, profile.vehicles))
        self.configure_card(plan, profile)
        self.lifecycle(plan, scenario)
        row = plan.row
        if row["status"] is CardStatus.BLOCKED and (showcase or rng.random() < 0.75):
            self.pending_duplicates.append(plan)  # the next fleet card becomes its duplicate
        if row["status"] is CardStatus.ACTIVE and row["license_plate"]:
            self.linkable[(division.id, plan.vehicle == "truck")] = (card_id, row["license_plate"], row["driver_name"])
        return plan

    def new_plan(self, card_id: int, product_type: ProductType, division: FleetDivision, vehicle: str) -> _Plan:
        rng, spec = self.rng, VEHICLES[vehicle]
        row = dict(CARD_TEMPLATE, id=card_id, customer_number_id=division.customer_number_id,
                   division_id=division.id, product_type=product_type, vehicle_type=spec.vehicle_type,
                   license_plate=_plate(card_id * _PLATE_STRIDE + self.plate_offset),
                   shipping_address_id=self.shipping_address[division.customer_number_id])
        plan = _Plan(row=row, vehicle=vehicle, km_per_day=rng.randint(*spec.km_per_day))
        if spec.tank_l:
            plan.tank_l = rng.randint(*spec.tank_l)
        if spec.battery_kwh:
            plan.battery_kwh = rng.randint(*spec.battery_kwh)
        cities = DIVISIONS[division.name].home_cities
        plan.home_stations = [self.station("BE", rng.choice(cities), vehicle == "ev") for _ in range(4)]
        return plan

    def station(self, country: str, city: str, charging: bool) -> tuple[str, str]:
        brand = self.rng.choice(CHARGING_BRANDS if charging else FUEL_BRANDS[country])
        return f"{brand} {city}", city

    def configure_card(self, plan: _Plan, profile: _DivisionProfile) -> None:
        """Name, code, products, limits and controls of a fleet card (Fiche 03 steps 2-5)."""
        rng, row, spec = self.rng, plan.row, VEHICLES[plan.vehicle]
        plan.fuels = _weighted(rng, spec.fuel_choices)
        plan.services = tuple(service for service, share in spec.services if rng.random() < share)
        row["category"] = spec.category
        if rng.random() < spec.driver_code_share:  # a pool vehicle: the driver types a personal code
            row.update(code_type=CodeType.DRIVER_CODE, embossed_name=row["license_plate"])
            pool = self.driver_codes.get(row["customer_number_id"], [])
            plan.driver_pool = rng.sample(pool, min(3, len(pool)))
        else:
            if plan.vehicle in ("car", "hybrid", "ev") or rng.random() < 0.5:
                row["driver_name"] = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            if row["driver_name"] and plan.vehicle != "van" and rng.random() < 0.1:
                row["license_plate"] = None  # a name card, not tied to one vehicle
            row["embossed_name"] = (row["driver_name"] or row["license_plate"]).upper()[:27]
            if rng.random() < 0.3:
                row.update(pin_origin=PinOrigin.CUSTOMER, pin_hash=CUSTOMER_PIN_HASH)
            else:
                row["pin_origin"] = PinOrigin.ISSUER
        if rng.random() < 0.1:
            row["additional_mention"] = f"Cost centre {rng.randint(4100, 4999)}"
        row["odometer_prompt"] = rng.random() < spec.odometer_share
        has_liquid_fuel = any(f in LIQUID_FUELS for f in plan.fuels)
        if has_liquid_fuel and rng.random() < 0.8:
            row["tank_capacity_l"] = Decimal(plan.tank_l)
        heavy = plan.vehicle in ("van", "truck")
        if rng.random() < (0.5 if heavy else 0.1):
            row["allowed_weekdays"] = rng.choice(([1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]))
        if rng.random() < (0.3 if heavy else 0.1):
            row["allowed_hours_from"], row["allowed_hours_to"] = rng.choice(
                (("06:00", "20:00"), ("05:00", "22:00"), ("07:00", "19:00")))
        if rng.random() < 0.25:
            row["forbidden_days"] = [date(year, month, day).isoformat()
                                     for year in (self.today.year - 1, self.today.year, self.today.year + 1)
                                     for month, day in FIXED_HOLIDAYS]
        row["allowed_countries"] = list(_weighted(rng, profile.allowed_countries))
        if rng.random() < 0.3:
            row["max_transactions_per_day"] = rng.choice((3, 4, 5))
        plan.limits = self.fuel_limits(plan) + self.service_limits(plan)

    def fuel_limits(self, plan: _Plan) -> list[dict]:
        rng, rows = self.rng, []
        for fuel in plan.fuels:
            size = plan.battery_kwh if fuel is Product.EV_CHARGING else (plan.tank_l or 20)
            if fuel is Product.ADBLUE:
                size = 60 if plan.vehicle == "truck" else 20
            amount = volume = None
            period, action = LimitPeriod.DAY, LimitAction.BLOCK
            if rng.random() < 0.7:  # the rest has no ceiling: only the product choice
                period = _weighted(rng, ((LimitPeriod.DAY, 4), (LimitPeriod.WEEK, 3), (LimitPeriod.MONTH, 3)))
                fills = {LimitPeriod.DAY: 1.5, LimitPeriod.WEEK: 5, LimitPeriod.MONTH: 18}[period]
                amount = Decimal(_round_up(size * 2.0 * fills, 10))
                if rng.random() < 0.3:
                    volume = Decimal(_round_up(size * fills, 5))
                action = LimitAction.NOTIFY if rng.random() < 0.4 else LimitAction.BLOCK
            rows.append(dict(product=fuel, allowed=True, amount=amount, volume=volume, period=period, action=action))
        return rows

    def service_limits(self, plan: _Plan) -> list[dict]:
        rng, rows = self.rng, []
        for service in plan.services:
            if service is Product.SHOP:
                plan.shop_limit = Decimal(rng.choice((25, 40)))
                rows.append(dict(product=service, allowed=True, amount=plan.shop_limit, volume=None,
                                 period=LimitPeriod.TRANSACTION, action=LimitAction.NOTIFY))
            else:
                amount = {Product.CAR_WASH: 60, Product.LUBRICANTS: 100, Product.PARKING: 80}[service]
                rows.append(dict(product=service, allowed=True, amount=Decimal(amount), volume=None,
                                 period=LimitPeriod.MONTH, action=rng.choice((LimitAction.BLOCK, LimitAction.NOTIFY))))
        if Product.SHOP not in plan.services and rng.random() < 0.4:
            plan.shop_refused = True
            rows.append(dict(product=Product.SHOP, allowed=False, amount=None, volume=None,
                             period=LimitPeriod.TRANSACTION, action=LimitAction.BLOCK))
        return rows

    def obu(self, card_id: int) -> _Plan:
        rng = self.rng
        scenario = self.obu_showcase.popleft() if self.obu_showcase else _weighted(rng, OBU_SCENARIOS)
        passango = rng.random() < 0.7
        if passango:
            division_name = _weighted(rng, (("Long haul", 80), ("Distribution", 20)))
            vehicle = "truck"
        else:
            division_name = _weighted(rng, (("Management", 50), ("Distribution", 50)))
            vehicle = _weighted(rng, (("car", 50), ("van", 40), ("hybrid", 10)))
        division = self.division_by_name[division_name]
        product_type = ProductType.PASSANGO_OBU if passango else ProductType.LIBERT_OBU
        plan = self.new_plan(card_id, product_type, division, vehicle)
        row = plan.row  # an OBU has no code: code_type keeps its non-null default, pin_origin stays empty
        link = self.linkable.pop((division.id, passango), None) if rng.random() < 0.6 else None
        if link:
            row["linked_card_id"], row["license_plate"], row["driver_name"] = link
        row["embossed_name"] = row["license_plate"]
        if passango:
            axles = _weighted(rng, ((2, 30), (3, 20), (4, 25), (5, 25)))
            weight = _round_up(rng.uniform(7_500, 44_000), 500)
            # Vehicle class as on the registration certificate (what the form and its validation use).
            row.update(vehicle_class="N3" if weight > 12_000 else "N2", axles=axles, weight_kg=weight,
                       length_cm=rng.randint(700, 1_875), width_cm=255, height_cm=rng.randint(350, 400),
                       euro_class=_weighted(rng, (("EURO 6", 75), ("EURO 5", 20), ("EURO 4", 5))),
                       technical_properties={"trailer": "yes" if axles >= 4 else "no",
                                             "co2 class": str(rng.randint(1, 5))})
            operators = list(PASSANGO_BASE_OPERATORS) + [op for op in PASSANGO_OPTIONAL_OPERATORS if rng.random() < 0.4]
            plan.toll_conditions = [dict(operator=op, connection_fee=None, confirmed=True) for op in operators]
            plan.toll_conditions += [dict(operator=op, connection_fee=fee, confirmed=rng.random() < 0.7)
                                     for op, fee in PASSANGO_FEE_OPERATORS if rng.random() < 0.15]
        else:
            height = rng.randint(140, 270)
            weight = rng.randint(13, 35) * 100
            row.update(vehicle_class="N1" if height > 200 else "M1", axles=2, weight_kg=weight,
                       length_cm=rng.randint(420, 600), width_cm=rng.randint(180, 205), height_cm=height,
                       euro_class="EURO 6", technical_properties={"trailer": "no"})
            plan.toll_conditions = [dict(operator=op, connection_fee=None, confirmed=True) for op in LIBERT_OPERATORS]
        if rng.random() < 0.5:
            plan.limits = [dict(product=Product.TOLLS, allowed=True, amount=Decimal(rng.choice((500, 1000, 2500))),
                                volume=None, period=LimitPeriod.MONTH, action=LimitAction.NOTIFY)]
        self.lifecycle(plan, scenario)
        return plan

    def duplicate(self, card_id: int, original: _Plan) -> _Plan:
        """The replacement of a blocked card: same settings, a new number (Fiche 09)."""
        rng, blocked = self.rng, original.row
        blocked_at = blocked["blocked_at"]
        row = dict(blocked, id=card_id, number=None, rank=0, status=CardStatus.NEW, block_reason=None,
                   blocked_at=None, expiry_date=None, produced_at=None, linked_card_id=None,
                   duplicate_of_id=blocked["id"], created_at=blocked_at + timedelta(minutes=rng.randint(5, 120)))
        plan = _Plan(row=row, vehicle=original.vehicle, fuels=original.fuels, services=original.services,
                     tank_l=original.tank_l, battery_kwh=original.battery_kwh, km_per_day=original.km_per_day,
                     home_stations=original.home_stations, shop_limit=original.shop_limit,
                     shop_refused=original.shop_refused, limits=original.limits, driver_pool=original.driver_pool)
        age = self.now - blocked_at
        if age < timedelta(hours=20):
            status = RequestStatus.SUBMITTED
        elif age < timedelta(days=3):
            self.produce(plan, blocked_at + age / 2, 0, CardStatus.IN_PRODUCTION)
            status = RequestStatus.IN_PRODUCTION
        else:
            self.produce(plan, blocked_at + timedelta(hours=rng.randint(18, 40)), 0, CardStatus.ACTIVE)
            self.set_usage(plan, "regular")
            status = RequestStatus.DONE
        fee = None if blocked["block_reason"] is BlockReason.DEFECT else Decimal("7.50")
        self.request(plan, RequestKind.DUPLICATE, status, row["created_at"], updated=row["produced_at"], fee=fee,
                     details={"original_card_id": blocked["id"], "block_reason": blocked["block_reason"].value})
        self.count(plan)
        return plan

    # -- lifecycle --

    def lifecycle(self, plan: _Plan, scenario: str) -> None:
        """Status, renewal status, number, plastics and the period of use, plus the requests behind them."""
        rng, row, today, now = self.rng, plan.row, self.today, self.now
        earliest_active = add_years(today, -VALIDITY_YEARS) + timedelta(days=RENEWAL_WINDOW_DAYS + 1)
        # Fiche 12 (store.services.renewals): a card's campaign starts on the first day of the month 3 months
        # before its expiry month, so a card outside the campaign expires after the months whose campaign began.
        # Dates are drawn as before and then moved into place, so the random draws (and with them every other
        # part of the demo) stay the same.
        outside_campaign = add_years(add_months(today, 4), -VALIDITY_YEARS)
        if scenario == "new":
            row["created_at"] = self.ago(timedelta(minutes=10), timedelta(hours=20))
            waiting = plan.is_obu and rng.random() < 0.7  # an OBU waits for the registration certificate
            self.request(plan, rng.choice((RequestKind.CREATE, RequestKind.COPY)),
                         RequestStatus.WAITING_FOR_DOCUMENT if waiting else RequestStatus.SUBMITTED, row["created_at"],
                         reason="Waiting for a copy of the vehicle registration certificate." if waiting else None)
        elif scenario == "deleted":
            row.update(status=CardStatus.DELETED, created_at=self.ago(timedelta(days=2), timedelta(days=60)))
            deleted_at = row["created_at"] + timedelta(hours=rng.uniform(1, 20))
            self.request(plan, RequestKind.CREATE, RequestStatus.REJECTED, row["created_at"], updated=deleted_at,
                         reason="Production stopped: the card was deleted by the customer.")
            self.request(plan, RequestKind.DELETE, RequestStatus.DONE, deleted_at, updated=deleted_at)
        elif scenario == "in production":
            produced = self.ago(timedelta(hours=1), timedelta(hours=20))
            row["created_at"] = produced - timedelta(hours=rng.uniform(2, 20))
            self.produce(plan, produced, 0, CardStatus.IN_PRODUCTION)
            self.request(plan, RequestKind.CREATE, _weighted(rng, ((RequestStatus.IN_PRODUCTION, 7),
                                                                   (RequestStatus.SHIPPED, 3))),
                         row["created_at"], updated=produced)
        elif scenario == "active":
            day = earliest_active + timedelta(days=rng.randrange((today - timedelta(days=3) - earliest_active).days))
            day = max(day, outside_campaign)
            self.produce(plan, self.at_local(day, rng.uniform(7, 16)), self.earlier_ranks(day), CardStatus.ACTIVE)
            row["cancelled_by_user"] = not plan.is_obu and rng.random() < 0.01  # cancelled early, still valid
            self.set_usage(plan, _weighted(rng, USAGE))
            self.historic_request(plan)
        elif scenario in ("candidate", "cancelled by user", "cancelled unused", "in renewal"):
            # In renewal: expiring next month (its new plastic is being made); Candidate or Cancelled: expiring in
            # one of the two months after, whose update window is open (and within 90 days).
            drawn = rng.randint(*{"candidate": (31, 90), "in renewal": (3, 30)}.get(scenario, (1, 90)))
            if scenario == "in renewal":
                low, high = max(add_months(today, 1), today + timedelta(days=1)), add_months(today, 2)
            else:
                low, high = add_months(today, 2), min(add_months(today, 4), today + timedelta(days=91))
            expiry = low + timedelta(days=drawn * 7 % (high - low).days)
            day = add_years(expiry, -VALIDITY_YEARS)
            self.produce(plan, self.at_local(day, rng.uniform(7, 16)), self.earlier_ranks(day), CardStatus.ACTIVE)
            renewal = {"candidate": RenewalStatus.CANDIDATE, "in renewal": RenewalStatus.IN_RENEWAL}.get(
                scenario, RenewalStatus.CANCELLED)
            row.update(renewal_status=renewal, cancelled_by_user=scenario == "cancelled by user")
            # Fiche 12: cards unused for 3 months are cancelled for renewal unless the user acts.
            self.set_usage(plan, rng.choice(("stopped", "never")) if scenario == "cancelled unused" else "regular")
            if scenario == "cancelled unused" and plan.use_from is not None:
                # Not used in the 3 months before the notice.
                unused_since = self.at_local(renewal_timeline(expiry).unused_since, 0)
                plan.use_until = min(plan.use_until, unused_since - timedelta(days=1 + plan.id % 40))
            if scenario == "in renewal":
                # M-1: the new plastic (same number, next rank, 4 years more) is being made.
                started = self.at_local(renewal_timeline(expiry).production, 6)
                new_expiry = add_years(expiry, VALIDITY_YEARS)
                row["rank"] += 1
                plan.plastics.append(dict(card_id=row["id"], rank=row["rank"], produced_at=None,
                                          expiry_date=new_expiry, status=CardStatus.IN_PRODUCTION))
                self.request(plan, RequestKind.RENEWAL, RequestStatus.IN_PRODUCTION, started,
                             updated=self.ago(timedelta(hours=2), timedelta(days=3)),
                             details={"expiry_date": new_expiry.isoformat(),
                                      "previous_expiry_date": expiry.isoformat()})
        elif scenario == "renewed":
            day = today - timedelta(days=rng.randint(40, 90))
            produced = self.at_local(day, rng.uniform(7, 16))
            self.produce(plan, produced, max(1, self.earlier_ranks(day)), CardStatus.ACTIVE)
            row["renewal_status"] = RenewalStatus.RENEWED
            self.set_usage(plan, "regular")
            self.request(plan, RequestKind.RENEWAL, RequestStatus.DONE, produced - timedelta(days=60),
                         updated=produced + timedelta(days=2))
        elif scenario == "blocked":
            first = earliest_active + timedelta(days=40)
            day = first + timedelta(days=rng.randrange((today - timedelta(days=10) - first).days))
            produced = self.at_local(day, rng.uniform(7, 16))
            self.produce(plan, produced, self.earlier_ranks(day), CardStatus.BLOCKED)
            blocked_at = produced + (now - produced) * rng.uniform(0.05, 0.999)
            reason = _weighted(rng, ((BlockReason.LOSS, 40), (BlockReason.THEFT, 25), (BlockReason.DEFECT, 25),
                                     (BlockReason.NOT_RECEIVED, 10)))
            row.update(block_reason=reason, blocked_at=blocked_at)
            self.set_usage(plan, "regular")
        elif scenario == "expired":
            expiry = today - timedelta(days=rng.randint(1, 330))
            day = add_years(expiry, -VALIDITY_YEARS)
            self.produce(plan, self.at_local(day, rng.uniform(7, 16)), self.earlier_ranks(day), CardStatus.EXPIRED)
            # Not renewed: cancelled by the user, or unused in the months before expiry.
            row["cancelled_by_user"] = not plan.is_obu and rng.random() < 0.4
            self.set_usage(plan, "regular")
            last_day = self.at_local(expiry, 23.9)
            plan.use_until = last_day if row["cancelled_by_user"] else last_day - timedelta(days=rng.randint(100, 200))
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
        self.count(plan)

    def earlier_ranks(self, produced_day: date) -> int:
        """How many plastics came before; only possible when the one before has expired by today."""
        if produced_day > self.today - timedelta(days=36):
            return 0
        return _weighted(self.rng, ((0, 75), (1, 20), (2, 5)))

    def produce(self, plan: _Plan, produced: datetime, earlier: int, status: CardStatus) -> None:
        """Number, rank and plastics: `earlier` renewed ranks (each made a month before the previous one
        expired, so now expired), then the current plastic produced at `produced`."""
        rng, row = self.rng, plan.row
        day = self.local_day(produced)
        history = [(produced, add_years(day, VALIDITY_YEARS))]  # (produced at, expiry date) per rank
        for _ in range(earlier):
            previous_expiry = day + timedelta(days=rng.randint(20, 35))
            day = add_years(previous_expiry, -VALIDITY_YEARS)
            history.insert(0, (self.at_local(day, rng.uniform(7, 16)), previous_expiry))
        plan.plastics = [dict(card_id=row["id"], rank=rank, produced_at=made, expiry_date=expiry,
                              status=status if rank == len(history) else CardStatus.EXPIRED)
                         for rank, (made, expiry) in enumerate(history, start=1)]
        cn = row["customer_number_id"]
        self.sequences[cn] += 1
        row.update(number=card_number(ISSUER_PREFIX, self.numbers[cn].number, self.sequences[cn]),
                   rank=len(history), status=status, produced_at=produced, expiry_date=history[-1][1])
        if row["created_at"] is None:
            row["created_at"] = history[0][0] - timedelta(hours=rng.uniform(20, 72))
        plan.use_from = history[0][0] + timedelta(days=rng.uniform(2, 4))  # delivery and activation

    def set_usage(self, plan: _Plan, usage: str) -> None:
        row = plan.row
        if usage == "never":
            plan.use_from = None
            return
        until = self.now
        if row["blocked_at"]:
            until = row["blocked_at"]
        if usage == "stopped":
            until = min(until, self.now - timedelta(days=self.rng.randint(95, 170)))
        plan.use_until = until

    # -- requests --

    def request(self, plan: _Plan, kind: RequestKind, status: RequestStatus, created: datetime,
                updated: datetime | None = None, reason: str | None = None, details: dict | None = None,
                fee: Decimal | None = None) -> None:
        details = dict(details or {})
        if status is not RequestStatus.SUBMITTED and plan.row["number"] is not None:
            # What the issuer's production run records when it starts a plastic (store.issuer.production).
            details.setdefault("rank", plan.row["rank"])
            details.setdefault("number", plan.row["number"])
        self.requests.append(dict(REQUEST_TEMPLATE, customer_number_id=plan.row["customer_number_id"],
                                  card_id=plan.id, kind=kind, status=status, reason=reason, details=details,
                                  fee=fee, created_by_id=self.admin_id, created_at=created,
                                  updated_at=updated or created))

    def historic_request(self, plan: _Plan) -> None:
        """A few done or rejected requests from the past, on the first cards only."""
        rng = self.rng
        if plan.id > HISTORIC_REQUEST_CARDS or rng.random() > 0.1:
            return
        since = plan.row["produced_at"]
        created = since + (self.now - timedelta(days=7) - since) * rng.random()
        updated = created + timedelta(hours=rng.uniform(3, 30))
        if plan.is_obu:
            options = ((RequestKind.TOLL_CONDITIONS, RequestStatus.DONE, None, {"added": [TollOperator.ASFINAG_AT.value]}),
                       (RequestKind.CHANGE, RequestStatus.REJECTED,
                        "The vehicle registration certificate does not match the licence plate.",
                        {"fields": ["weight_kg", "axles"]}))
        else:
            options = ((RequestKind.CREATE, RequestStatus.DONE, None, {}),
                       (RequestKind.PIN_REISSUE, RequestStatus.DONE, None, {}),
                       (RequestKind.CHANGE, RequestStatus.REJECTED,
                        "The licence plate is already used by another card of this customer number.",
                        {"fields": ["license_plate"]}))
        kind, status, reason, details = rng.choice(options)
        if kind is RequestKind.CREATE:
            created = updated = plan.row["created_at"]
        fee = Decimal("5.00") if kind is RequestKind.PIN_REISSUE else None
        self.request(plan, kind, status, created, updated=updated, reason=reason, details=details, fee=fee)

    def count(self, plan: _Plan) -> None:
        self.counts.by_status[(plan.is_obu, plan.row["status"])] += 1
        self.counts.by_renewal[plan.row["renewal_status"]] += 1

    # -- transactions --

    def use_window(self, plan: _Plan) -> tuple[datetime, datetime] | None:
        if plan.use_from is None or plan.use_until is None:
            return None
        start, end = max(plan.use_from, self.window_start), min(plan.use_until, self.now)
        return (start, end) if start < end else None

    def rank_at(self, plan: _Plan, moment: datetime) -> int:
        rank = 1
        for plastic in plan.plastics:
            if plastic["produced_at"] is not None and plastic["produced_at"] + timedelta(days=3) <= moment:
                rank = plastic["rank"]
        return rank

    def applicable_anomalies(self, plan: _Plan) -> list[AnomalyRule]:
        row, rules = plan.row, []
        if row["allowed_hours_from"]:
            rules.append(AnomalyRule.OUTSIDE_HOURS)
        if row["forbidden_days"]:
            rules.append(AnomalyRule.FORBIDDEN_DAY)
        if row["allowed_countries"] and any(c not in row["allowed_countries"] for c in CITIES):
            rules.append(AnomalyRule.COUNTRY_NOT_ALLOWED)
        if row["tank_capacity_l"] is not None:
            rules.append(AnomalyRule.ABOVE_TANK_CAPACITY)
        if row["odometer_prompt"]:
            rules.append(AnomalyRule.ODOMETER)
        if row["code_type"] is CodeType.DRIVER_CODE:
            rules.append(AnomalyRule.DRIVER_CODE)
        if plan.shop_limit is not None:
            rules.append(AnomalyRule.LIMIT_AMOUNT)
        if plan.shop_refused:
            rules.append(AnomalyRule.PRODUCT_NOT_ALLOWED)
        return rules

    def fuel_events(self, plan: _Plan, start: datetime,
                    end: datetime) -> list[tuple[datetime, Product, AnomalyRule | None, bool]]:
        """When the card was used and for what, respecting its controls except where an anomaly is made.

        Each event is (moment, product, anomaly rule, bought at the same stop as the event before)."""
        rng, row, spec = self.rng, plan.row, VEHICLES[plan.vehicle]
        weekdays = set(row["allowed_weekdays"])
        forbidden = set(row["forbidden_days"])
        hours = (6.0, 21.5)
        if row["allowed_hours_from"]:
            # Margins keep the services bought a few minutes after a fill inside the window too.
            hours = (int(row["allowed_hours_from"][:2]) + 0.1, int(row["allowed_hours_to"][:2]) - 0.25)
        rules = self.applicable_anomalies(plan)
        fuel_weights = [(fuel, 4 if i == 0 else 1) for i, fuel in enumerate(plan.fuels)]
        tank_fuel = next((f for f in plan.fuels if f in LIQUID_FUELS), None)
        mean_gap = 7 / spec.fills_per_week
        first_day, last_day = self.local_day(start), self.local_day(end)
        holidays = [date.fromisoformat(d) for d in row["forbidden_days"]]
        events = []
        day = first_day - timedelta(days=1)
        while True:
            day += timedelta(days=max(1, round(rng.expovariate(1 / mean_gap))))
            while day.isoweekday() not in weekdays or day.isoformat() in forbidden:
                day += timedelta(days=1)
            if day > last_day:
                break
            rule = rng.choice(rules) if rules and rng.random() < ANOMALY_RATE else None
            product = _weighted(rng, fuel_weights)
            event_day, hour = day, rng.uniform(*hours)
            if rule is AnomalyRule.OUTSIDE_HOURS:
                hour = rng.uniform(23.0, 23.9)
            elif rule is AnomalyRule.FORBIDDEN_DAY:
                inside = [d for d in holidays if first_day < d < last_day]
                event_day = rng.choice(inside) if inside else day
                rule = rule if inside else None
            elif rule is AnomalyRule.ABOVE_TANK_CAPACITY:
                product = tank_fuel
            elif rule in (AnomalyRule.LIMIT_AMOUNT, AnomalyRule.PRODUCT_NOT_ALLOWED):
                product = Product.SHOP
            moment = self.at_local(event_day, hour)
            if not start <= moment < end:
                continue
            events.append((moment, product, rule, False))
            if rule is not None:
                continue  # no extra purchases at a stop that is already a deviation
            for service in plan.services:
                if rng.random() < SERVICE_PRICES[service][2]:
                    events.append((moment + timedelta(minutes=rng.randint(3, 12)), service, None, True))
        events.sort(key=lambda event: event[0])
        return events

    def fuel_transactions(self, plan: _Plan, rows: list[dict], anomalies: list[dict]) -> datetime | None:
        """Appends the card's fuel and service transactions and their anomalies; returns the last use."""
        window = self.use_window(plan)
        if window is None:
            return None
        rng, row = self.rng, plan.row
        profile = self.profiles[row["division_id"]]
        allowed = row["allowed_countries"]
        countries = [(c, w) for c, w in profile.countries if not allowed or c in allowed]
        odometer = int((window[0] - plan.use_from).days * plan.km_per_day * rng.uniform(0.8, 1.2)) + rng.randint(5, 300)
        previous = window[0]
        last = None
        country, city, station, driver_code = "BE", "", "", None
        for moment, product, rule, same_stop in self.fuel_events(plan, *window):
            details: dict = {}
            charging = product is Product.EV_CHARGING
            if same_stop:
                if station.startswith(CHARGING_BRANDS):  # the car wash or shop is at a fuel station nearby
                    station, city = self.station(country, city, False)
            else:
                country = "BE"
                if rule is AnomalyRule.COUNTRY_NOT_ALLOWED:
                    country = rng.choice([c for c in CITIES if c not in allowed])
                    details = {"country": country, "allowed_countries": allowed}
                elif rng.random() > 0.75:
                    country = _weighted(rng, countries)
                if country == "BE" and rng.random() < 0.8:
                    station, city = rng.choice(plan.home_stations)
                    if charging != station.startswith(CHARGING_BRANDS):
                        station, city = self.station("BE", city, charging)
                else:
                    station, city = self.station(country, rng.choice(CITIES[country]), charging)
            quantity, unit_price = self.quantity_and_price(plan, product, country, moment)
            if rule is AnomalyRule.ABOVE_TANK_CAPACITY:
                quantity = (row["tank_capacity_l"] * Decimal(str(round(rng.uniform(1.12, 1.4), 3)))).quantize(MILLILITRE)
                details = {"quantity": str(quantity), "tank_capacity_l": str(row["tank_capacity_l"])}
            elif rule is AnomalyRule.LIMIT_AMOUNT:
                unit_price = (plan.shop_limit * Decimal(str(round(rng.uniform(1.15, 2.2), 2)))).quantize(TENTH_CENT)
            elif rule is AnomalyRule.OUTSIDE_HOURS:
                details = {"time": moment.astimezone(self.zone).strftime("%H:%M"),
                           "allowed_from": row["allowed_hours_from"], "allowed_to": row["allowed_hours_to"]}
            elif rule is AnomalyRule.FORBIDDEN_DAY:
                details = {"date": self.local_day(moment).isoformat()}
            elif rule is AnomalyRule.PRODUCT_NOT_ALLOWED:
                details = {"product": Product.SHOP.value}
            amount = (quantity * unit_price).quantize(CENT, ROUND_HALF_UP)
            if rule is AnomalyRule.LIMIT_AMOUNT:
                details = {"product": Product.SHOP.value, "limit": str(plan.shop_limit),
                           "period": LimitPeriod.TRANSACTION.value, "amount": str(amount)}
            rate = VAT_RATES[country]
            odometer_km = None
            if row["odometer_prompt"]:
                days = (moment - previous).total_seconds() / 86_400
                driven = int(days * plan.km_per_day * rng.uniform(0.6, 1.4))
                if rule is AnomalyRule.ODOMETER:  # typed too high; later readings continue from it
                    driven += rng.randint(1_500, 4_000)
                    details = {"odometer_km": odometer + driven, "previous_km": odometer,
                               "days_since_previous": round(days, 1)}
                odometer += driven
                odometer_km = odometer
                previous = moment
            if row["code_type"] is CodeType.DRIVER_CODE and not same_stop:  # the same driver buys the extras
                driver_code, details = self.driver_code_at(plan, moment, rule, details)
            self.fuel_id += 1
            rows.append(dict(id=self.fuel_id, issuer_transaction_id=f"{ISSUER_PREFIX}-{moment:%Y%m%d}-{self.fuel_id:09d}",
                             card_id=plan.id, rank=self.rank_at(plan, moment), occurred_at=moment, station=station,
                             city=city, country=country, product=product, quantity=quantity, unit_price=unit_price,
                             amount_excl_vat=amount, vat_rate=rate, amount_incl_vat=amount + _vat(amount, rate),
                             odometer_km=odometer_km, driver_code=driver_code, invoice_id=None))
            if rule is not None:
                anomalies.append(self.anomaly(plan, rule, details, moment, fuel_transaction_id=self.fuel_id))
            last = moment
        return last

    def quantity_and_price(self, plan: _Plan, product: Product, country: str,
                           moment: datetime) -> tuple[Decimal, Decimal]:
        rng = self.rng
        if product in SERVICE_PRICES:
            low, high, _ = SERVICE_PRICES[product]
            if product is Product.SHOP and plan.shop_limit is not None:
                high = min(high, int(plan.shop_limit) - 1)
            return Decimal(1), Decimal(str(round(rng.uniform(low, high), 2)))
        if product is Product.EV_CHARGING:
            quantity = plan.battery_kwh * rng.uniform(0.3, 0.8)
        elif product is Product.ADBLUE:
            quantity = rng.uniform(15, 60) if plan.vehicle == "truck" else rng.uniform(5, 20)
        elif product is Product.CNG:
            quantity = rng.uniform(8, 20)
        else:
            share = (0.35, 0.85) if plan.vehicle == "truck" else (0.45, 0.95)
            quantity = plan.tank_l * rng.uniform(*share)
        # Prices drift over the months and differ a little from station to station.
        drift = 1 + 0.04 * math.sin(moment.toordinal() / 9) + rng.uniform(-0.01, 0.01)
        price = BASE_PRICES[product] * PRICE_LEVELS[country] * drift
        return Decimal(f"{quantity:.3f}"), Decimal(f"{price:.4f}")

    def driver_code_at(self, plan: _Plan, moment: datetime, rule: AnomalyRule | None,
                       details: dict) -> tuple[str | None, dict]:
        rng = self.rng
        codes = self.driver_codes.get(plan.row["customer_number_id"], [])
        if rule is AnomalyRule.DRIVER_CODE:
            blocked = [code for code, _, blocked_at in codes if blocked_at is not None and blocked_at <= moment]
            if blocked:
                code = rng.choice(blocked)
                return code, {"driver_code": code, "reason": "blocked"}
            known = {code for code, _, _ in codes}
            code = self.customer.driver_code_prefix + f"{rng.randrange(10_000):04d}"
            while code in known:
                code = self.customer.driver_code_prefix + f"{rng.randrange(10_000):04d}"
            return code, {"driver_code": code, "reason": "unknown"}

        def usable(pool):
            return [code for code, created, blocked_at in pool
                    if created <= moment and (blocked_at is None or blocked_at > moment)]

        valid = usable(plan.driver_pool) or usable(codes)
        return (rng.choice(valid) if valid else None), details

    def toll_transactions(self, plan: _Plan, rows: list[dict]) -> datetime | None:
        window = self.use_window(plan)
        if window is None:
            return None
        rng, row = self.rng, plan.row
        start, end = window
        passango = row["product_type"] is ProductType.PASSANGO_OBU
        operators = [(c["operator"], TOLL_OPERATOR_WEIGHTS.get(c["operator"], 3)) for c in plan.toll_conditions
                     if c["connection_fee"] is None or c["confirmed"]]
        mean_gap = 1.4 if passango else 8
        prefix = "PSG" if passango else "LBT"
        toll_class = _toll_class(row)
        factor = TOLL_CLASS_FACTORS[toll_class]
        day, last_day, last = self.local_day(start), self.local_day(end), None
        while True:
            day += timedelta(days=max(1, round(rng.expovariate(1 / mean_gap))))
            if day > last_day:
                break
            entry_at = self.at_local(day, rng.uniform(5, 19))
            exit_at = entry_at + timedelta(minutes=rng.randint(20, 150))
            if not start <= entry_at or exit_at >= end:
                continue
            operator = _weighted(rng, operators)
            entry, exit_point, base = rng.choice(TOLL_SEGMENTS[operator])
            country = operator.value[-3:-1]
            rate = TOLL_VAT_RATES[country]
            amount = _money(base * factor * rng.uniform(0.97, 1.03))
            self.toll_id += 1
            rows.append(dict(id=self.toll_id, issuer_transaction_id=f"{prefix}-{exit_at:%Y%m%d}-{self.toll_id:09d}",
                             card_id=plan.id, operator=operator.value, country=country, entry_point=entry,
                             exit_point=exit_point, entry_at=entry_at, exit_at=exit_at,
                             vehicle_class=toll_class, amount_excl_vat=amount, vat_rate=rate,
                             amount_incl_vat=amount + _vat(amount, rate), invoice_id=None))
            last = exit_at
        return last

    def anomaly(self, plan: _Plan, rule: AnomalyRule, details: dict, moment: datetime,
                fuel_transaction_id: int) -> dict:
        rng = self.rng
        detected = moment + timedelta(minutes=rng.randint(5, 30))
        # Detection only notifies: the card is not blocked for a deviation (Fiche 12).
        row = dict(ANOMALY_TEMPLATE, card_id=plan.id, fuel_transaction_id=fuel_transaction_id, rule=rule,
                   details=details, action=LimitAction.NOTIFY, status=AnomalyStatus.NEW, detected_at=detected,
                   notified_at=detected + timedelta(minutes=1))
        if detected < self.now - timedelta(days=3) and rng.random() < 0.6:
            row.update(status=AnomalyStatus.ACKNOWLEDGED, acknowledged_by_id=self.admin_id,
                       acknowledged_at=detected + timedelta(hours=rng.uniform(2, 70)),
                       comment=rng.choice(ANOMALY_COMMENTS))
        return row


# --- writing ---------------------------------------------------------------------------------------

def _insert(connection: Connection, model, rows: list[dict]) -> int:
    if rows:  # an empty executemany would insert one row of defaults
        connection.execute(insert(model.__table__), rows)
    return len(rows)


def _clear(db: Database) -> None:
    with db.engine.connect() as connection:
        # Only the tables this database has: an older schema revision lacks the tables added since.
        present = set(sa_inspect(connection).get_table_names())
        tables = [table for table in SQLModel.metadata.sorted_tables if table.name in present]
        if connection.dialect.name == "postgresql":
            # One TRUNCATE of every table: no foreign-key checks, and ids start at 1 again.
            names = ", ".join(connection.dialect.identifier_preparer.format_table(t) for t in tables)
            connection.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY"))
            connection.commit()
            return
        # SQLite checks each deleted card against card.linked_card_id and duplicate_of_id, which have no
        # index: a table scan per row, minutes for 100k cards. Without foreign-key checks each table is
        # emptied at once. The pragma only takes effect outside a transaction: pysqlite has not begun one
        # yet here, and the rollback ends a failed one so the pooled connection gets its checks back.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            for table in reversed(tables):
                connection.execute(delete(table))
            connection.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _reset_id_sequences(connection: Connection, models: Iterable) -> None:
    """PostgreSQL sequences do not see ids set explicitly; move them past the highest id."""
    if connection.dialect.name != "postgresql":
        return
    for model in models:
        name = model.__tablename__
        connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"))


def _write_batch(session: Session, builder: _Builder, plans: list[_Plan]) -> None:
    """Cards and their children, then the transactions of the first cards, written as they are made so
    memory stays flat; each card's last use is set afterwards in one executemany update."""
    connection = session.connection()
    counts = builder.counts.rows
    counts["cards"] += _insert(connection, Card, [plan.row for plan in plans])
    counts["plastics"] += _insert(connection, Plastic, [p for plan in plans for p in plan.plastics])
    counts["limits"] += _insert(connection, CardLimit,
                                [dict(limit, card_id=plan.id) for plan in plans for limit in plan.limits])
    if builder.with_versions:
        counts["configuration versions"] += _insert(connection, CardConfigVersion, [
            version for plan in plans for version in initial_versions(plan.row, plan.limits, plan.plastics)])
    counts["toll conditions"] += _insert(connection, TollCondition,
                                         [dict(c, card_id=plan.id) for plan in plans for c in plan.toll_conditions])
    counts["requests"] += _insert(connection, Request, builder.requests)
    builder.requests.clear()
    fuel: list[dict] = []
    tolls: list[dict] = []
    anomalies: list[dict] = []
    last_used: list[dict] = []

    def flush() -> None:
        counts["fuel transactions"] += _insert(connection, FuelTransaction, fuel)
        counts["toll transactions"] += _insert(connection, TollTransaction, tolls)
        counts["anomalies"] += _insert(connection, Anomaly, anomalies)
        for rows in (fuel, tolls, anomalies):
            rows.clear()

    for plan in plans:
        if plan.id > TRANSACTION_CARDS:
            break
        counts["transaction cards"] += 1
        if plan.is_obu:
            last = builder.toll_transactions(plan, tolls)
        else:
            last = builder.fuel_transactions(plan, fuel, anomalies)
        if last is not None:
            last_used.append({"card": plan.id, "last_used": last})
        if len(fuel) + len(tolls) >= TRANSACTION_FLUSH_ROWS:
            flush()
    flush()
    if last_used:
        table = Card.__table__
        connection.execute(update(table).where(table.c.id == bindparam("card"))
                           .values(last_used_at=bindparam("last_used")), last_used)


def _months(first: date, today: date) -> list[tuple[date, date, date]]:
    """(first day, last day, issue date) of each month from `first` whose invoice is issued by today."""
    months = []
    start = first.replace(day=1)
    while True:
        following = (start + timedelta(days=32)).replace(day=1)
        issue = following.replace(day=3)
        if issue > today:
            return months
        months.append((start, following - timedelta(days=1), issue))
        start = following


def _add_invoices(session: Session, builder: _Builder, numbers: list[CustomerNumber], accounting: User) -> None:
    """Monthly invoices per customer number, one line per transaction, numbered gapless per year."""
    connection = session.connection()
    rng, counts = builder.rng, builder.counts.rows
    months = _months(builder.local_day(builder.window_start), builder.today)
    sequence_by_year: Counter = Counter()
    fuel, toll, card = FuelTransaction.__table__, TollTransaction.__table__, Card.__table__
    for month_index, (first, last, issue) in enumerate(months):
        start = builder.at_local(first, 0)
        end = builder.at_local(last + timedelta(days=1), 0)
        for number in numbers:
            cards_of_number = core_select(card.c.id).where(card.c.customer_number_id == number.id)
            fuel_where = (fuel.c.occurred_at >= start, fuel.c.occurred_at < end, fuel.c.card_id.in_(cards_of_number))
            toll_where = (toll.c.exit_at >= start, toll.c.exit_at < end, toll.c.card_id.in_(cards_of_number))
            lines = []
            for tx in connection.execute(fuel.select().where(*fuel_where).order_by(fuel.c.occurred_at, fuel.c.id)):
                description = (f"{builder.local_day(tx.occurred_at):%d/%m/%Y} {tx.product.value}, "
                               f"{tx.station}, {tx.city} ({tx.country})")
                lines.append(dict(card_id=tx.card_id, description=description, quantity=tx.quantity,
                                  amount_excl_vat=tx.amount_excl_vat, vat_rate=tx.vat_rate,
                                  vat_amount=tx.amount_incl_vat - tx.amount_excl_vat,
                                  amount_incl_vat=tx.amount_incl_vat, fuel_transaction_id=tx.id,
                                  toll_transaction_id=None))
            for tx in connection.execute(toll.select().where(*toll_where).order_by(toll.c.exit_at, toll.c.id)):
                description = (f"{builder.local_day(tx.exit_at):%d/%m/%Y} toll {tx.operator}, "
                               f"{tx.entry_point} - {tx.exit_point}")
                lines.append(dict(card_id=tx.card_id, description=description, quantity=None,
                                  amount_excl_vat=tx.amount_excl_vat, vat_rate=tx.vat_rate,
                                  vat_amount=tx.amount_incl_vat - tx.amount_excl_vat,
                                  amount_incl_vat=tx.amount_incl_vat, fuel_transaction_id=None,
                                  toll_transaction_id=tx.id))
            if not lines:
                continue
            sequence_by_year[issue.year] += 1
            sequence = sequence_by_year[issue.year]
            created = builder.at_local(issue, 6)
            invoice = Invoice(customer_number_id=number.id, number=f"{issue.year}-{sequence:06d}", year=issue.year,
                              sequence=sequence, issue_date=issue, period_start=first, period_end=last,
                              total_excl_vat=sum((line["amount_excl_vat"] for line in lines), Decimal(0)),
                              total_vat=sum((line["vat_amount"] for line in lines), Decimal(0)),
                              total_incl_vat=sum((line["amount_incl_vat"] for line in lines), Decimal(0)),
                              created_at=created)
            if month_index < len(months) - 2:  # older invoices have been downloaded once: duplicates
                downloaded = min(created + timedelta(days=rng.uniform(1, 6)), builder.now)
                invoice.status = InvoiceStatus.DUPLICATE
                invoice.first_downloaded_by_id = accounting.id
                invoice.first_downloaded_at = downloaded
            session.add(invoice)
            session.flush()
            counts["invoices"] += 1
            counts["invoice lines"] += _insert(connection, InvoiceLine,
                                               [dict(line, invoice_id=invoice.id) for line in lines])
            connection.execute(update(fuel).where(*fuel_where).values(invoice_id=invoice.id))
            connection.execute(update(toll).where(*toll_where).values(invoice_id=invoice.id))
            session.add(OutboxMessage(to_address=accounting.email, user_id=accounting.id,
                                      subject=f"Invoice {invoice.number} is available",
                                      body=f"Invoice {invoice.number} for {number.name} ({first:%m/%Y}) is available "
                                           f"in My invoices.", language="en", status=OutboxStatus.SENT,
                                      attempts=1, created_at=created, sent_at=created + timedelta(minutes=2)))


def _add_budgets(session: Session, builder: _Builder, divisions: list[FleetDivision]) -> None:
    """Monthly budgets for Budget follow-up: each division of the first customer number gets about its median
    monthly spend excl. VAT (Distribution 5 % above it, Long haul 5 % below: it goes over now and then), from
    the first month of history to the month after this one; the three biggest spenders of Long haul get a card budget
    at 90 % of their median. Management (the other customer number) has none: the screen shows how that looks."""
    fuel, toll, card = FuelTransaction.__table__, TollTransaction.__table__, Card.__table__
    connection = session.connection()
    months = [(first, last) for first, last, _issue in _months(builder.local_day(builder.window_start), builder.today)]
    by_division: dict[int, list[Decimal]] = {}
    by_card: dict[int, list[Decimal]] = {}
    for first, last in months:
        start, end = builder.at_local(first, 0), builder.at_local(last + timedelta(days=1), 0)
        spend: Counter = Counter()
        for table, moment in ((fuel, fuel.c.occurred_at), (toll, toll.c.exit_at)):
            query = (core_select(card.c.division_id, card.c.id, func.sum(table.c.amount_excl_vat))
                     .join(card, card.c.id == table.c.card_id).where(moment >= start, moment < end)
                     .group_by(card.c.division_id, card.c.id))
            for division_id, card_id, amount in connection.execute(query):
                spend[(division_id, card_id)] += Decimal(amount or 0)
        for division in divisions:
            by_division.setdefault(division.id, []).append(
                sum((v for (d, _c), v in spend.items() if d == division.id), Decimal(0)))
        for (_d, card_id), amount in spend.items():
            by_card.setdefault(card_id, []).append(amount)
    if not months:
        return

    def median(values: list[Decimal]) -> Decimal:
        ordered = sorted(values[1:] if len(values) > 1 else values)  # the first month is partial history
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    budget_months = [first for first, _last in months]
    budget_months += [add_months(budget_months[-1], 1), add_months(budget_months[-1], 2)]
    first_number = divisions[0].customer_number_id
    factors = {"Distribution": Decimal("1.05"), "Long haul": Decimal("0.95")}
    rows = []
    for division in divisions:
        factor = factors.get(division.name)
        level = median(by_division.get(division.id, [])) if factor else Decimal(0)
        if division.customer_number_id != first_number or not level:
            continue
        amount = max(Decimal(100), (level * factor / 100).quantize(Decimal(1), ROUND_HALF_UP) * 100)
        rows += [dict(customer_number_id=first_number, division_id=division.id, card_id=None, month=month,
                      amount=amount) for month in budget_months]
    long_haul = next((d for d in divisions if d.name == "Long haul"), None)
    if long_haul is not None:
        cards = connection.execute(core_select(card.c.id).where(card.c.division_id == long_haul.id)).scalars().all()
        biggest = sorted((c for c in cards if c in by_card), key=lambda c: -sum(by_card[c]))[:3]
        for card_id in biggest:
            amount = (median(by_card[card_id]) * Decimal("0.90")).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if amount > 0:
                rows += [dict(customer_number_id=first_number, division_id=None, card_id=card_id, month=month,
                              amount=amount) for month in budget_months]
    if rows:
        builder.counts.rows["budgets"] = _insert(connection, Budget, rows)


def _add_notifications(session: Session, builder: _Builder, users: dict[str, User]) -> None:
    admin, depot, accounting = users["fleetadmin"], users["depot"], users["accounting"]
    session.add_all([
        NotificationSetting(user_id=admin.id, kind=NotificationKind.ANOMALY),
        NotificationSetting(user_id=admin.id, kind=NotificationKind.REQUEST_DONE),
        NotificationSetting(user_id=admin.id, kind=NotificationKind.RENEWAL_NOTICE),
        NotificationSetting(user_id=admin.id, kind=NotificationKind.PASSALERT, enabled=False),
        NotificationSetting(user_id=depot.id, kind=NotificationKind.ANOMALY, detail=AnomalyRule.LIMIT_AMOUNT.value),
        NotificationSetting(user_id=accounting.id, kind=NotificationKind.INVOICE_AVAILABLE),
    ])
    candidates = builder.counts.by_renewal[RenewalStatus.CANDIDATE]
    if candidates:
        session.add(OutboxMessage(
            channel=Channel.EMAIL, to_address=admin.email, user_id=admin.id, language="en",
            subject="Cards to renew", body=f"{candidates} cards expire within 3 months and will be renewed "
                                           f"automatically. Check them in My cards and OBUs > Renewal status.",
            status=OutboxStatus.PENDING, created_at=builder.now - timedelta(hours=3)))


def _summary(builder: _Builder, users: int) -> str:
    rows, statuses = builder.counts.rows, builder.counts.by_status

    def breakdown(obu: bool) -> str:
        return ", ".join(f"{statuses[(obu, s)]} {s.value}" for s in CardStatus if statuses[(obu, s)])

    renewal = ", ".join(f"{builder.counts.by_renewal[r]} {r.value}" for r in RenewalStatus
                        if r is not RenewalStatus.NONE)
    return (
        f"Demo: 1 customer, {len(builder.numbers)} customer numbers, {len(builder.divisions)} divisions, "
        f"{users} users, {rows['driver codes']} driver codes.\n"
        f"{builder.fleet_cards:,} fleet cards ({breakdown(False)}; renewal: {renewal}) "
        f"and {builder.obus:,} OBUs ({breakdown(True)}).\n"
        f"{rows['plastics']:,} plastics, {rows['limits']:,} limits, {rows['toll conditions']:,} toll conditions, "
        f"{rows['requests']:,} requests.\n"
        f"{rows['fuel transactions']:,} fuel and {rows['toll transactions']:,} toll transactions over "
        f"{HISTORY_DAYS} days for the first {rows['transaction cards']:,} cards/OBUs "
        f"(at most {TRANSACTION_CARDS:,} get transactions), {rows['anomalies']:,} anomalies; "
        f"{rows['invoices']:,} invoices with {rows['invoice lines']:,} lines."
    )


def build_demo(db: Database, cards: int = 150, seed: int = 2026, force: bool = False,
               progress: Progress | None = None) -> str:
    """Fill `db` with the demo; refuses a database that already has customers unless `force`."""
    rng = random.Random(seed)
    now = db.clock.now()
    with db.session() as session:
        if session.exec(select(func.count()).select_from(Customer)).one() and not force:
            raise DemoExists("The database already holds data; use --force to replace it with the demo.")
    _clear(db)
    with db.session() as session:
        customer = Customer(
            name="Transports Dubois NV", vat_number="BE0412345678", driver_code_prefix="7310",
            timezone="Europe/Brussels", language="nl", options=[o.value for o in CustomerOption],
            contact_name="Sofie Peeters", contact_email="sofie.peeters@issuer.example", created_at=now,
        )
        session.add(customer)
        session.flush()
        numbers = [
            CustomerNumber(customer_id=customer.id, number="4020001", name="Dubois Antwerpen"),
            CustomerNumber(customer_id=customer.id, number="4020002", name="Dubois Liège"),
        ]
        session.add_all(numbers)
        session.flush()
        divisions = [
            FleetDivision(customer_number_id=numbers[0].id, name="Distribution"),
            FleetDivision(customer_number_id=numbers[0].id, name="Long haul"),
            FleetDivision(customer_number_id=numbers[1].id, name="Management"),
        ]
        session.add_all(divisions)
        shipping_addresses = {}
        for number, (street, postal, city) in zip(numbers, [("Noorderlaan 100", "2030", "Antwerpen"),
                                                           ("Quai de Rome 12", "4000", "Liège")]):
            for kind in (AddressKind.SHIPPING, AddressKind.PIN_MAILING, AddressKind.BILLING):
                address = Address(customer_number_id=number.id, kind=kind, name=customer.name,
                                  street=street, postal_code=postal, city=city, country="BE")
                session.add(address)
                if kind is AddressKind.SHIPPING:
                    shipping_addresses[number.id] = address
        users = [
            ("fleetadmin", "PEETERS", "AN", "an.peeters@dubois.example", "0470123456", list(Right), numbers, None),
            ("depot", "JANSSENS", "TOM", "tom.janssens@dubois.example", "0471234567", list(DEPOT_RIGHTS),
             numbers[:1], None),
            ("accounting", "LAMBERT", "MARIE", "marie.lambert@dubois.example", "0472345678",
             list(ACCOUNTING_RIGHTS), numbers, None),
            ("intern", "MAES", "LUCAS", "lucas.maes@dubois.example", "0473456789", [Right.CARD_MANAGE],
             numbers[:1], date(2026, 6, 30)),  # validity ended: shows the refusal
        ]
        user_by_name: dict[str, User] = {}
        for username, last, first, email, phone, rights, allowed, valid_until in users:
            user = User(customer_id=customer.id, username=username, last_name=last, first_name=first, email=email,
                        phone=phone, language="en", status=UserStatus.ACTIVE, valid_until=valid_until,
                        created_at=now)
            session.add(user)
            session.flush()
            set_password(session, user, DEMO_PASSWORDS[username], now)
            session.add_all(UserRight(user_id=user.id, right=r) for r in rights)
            session.add_all(UserCustomerNumber(user_id=user.id, customer_number_id=n.id) for n in allowed)
            user_by_name[username] = user
        session.add(SystemSetting(key="demo", value=f"seed={seed} cards={cards}"))
        session.commit()

        builder = _Builder(rng, now, ZoneInfo(customer.timezone), cards, customer, numbers, divisions,
                           {n: a.id for n, a in shipping_addresses.items()}, user_by_name["fleetadmin"].id)
        builder.counts.rows["driver codes"] = _insert(session.connection(), DriverCode, builder.driver_code_rows())
        session.commit()
        # An older schema (a migration test) has no versions table: migration 0007 backfills them later.
        builder.with_versions = sa_inspect(session.connection()).has_table("card_config_version")
        for start in range(0, builder.total, BATCH_CARDS):
            stop = min(start + BATCH_CARDS, builder.total)
            _write_batch(session, builder, builder.plans(start, stop))
            session.commit()
            if progress is not None:
                progress(stop, builder.total, "cards")
        _add_invoices(session, builder, numbers, user_by_name["accounting"])
        _add_notifications(session, builder, user_by_name)
        _add_budgets(session, builder, divisions)
        for number in numbers:
            number.card_sequence = builder.sequences[number.id]
            session.add(number)
        _reset_id_sequences(session.connection(), (Card, FuelTransaction, TollTransaction))
        # The monthly reports read the per-card month totals of the transactions written above (an older schema
        # revision, as in the migration tests, lacks the table: its migration fills it).
        if sa_inspect(session.connection()).has_table("card_month_total"):
            from .issuer.month_totals import rebuild_month_totals

            rebuild_month_totals(session.connection())
        session.commit()
    return _summary(builder, len(user_by_name))


def is_demo(db: Database) -> bool:
    with db.session() as session:
        return session.get(SystemSetting, "demo") is not None
