"""The anomaly rules (issue 8, Fiche 12): one transaction against a card's configuration and its recent history.

Pure functions over plain data, no database: the import (store.issuer.transactions_import) feeds them what it
loaded per batch, and the what-if (store.services.what_if) feeds them a changed configuration and a card's past,
so both decide with exactly the same code.

    findings = check_transaction(tx, config, history, driver_codes)
    history.record(tx, findings)            # the next transaction sees this one (and any product block)

The rules and their boundaries:
- **product not allowed**: the product has no line on the card, or its line says not allowed. For an OBU only a
  TOLLS line is checked (an OBU has no product list: tolls are what it is for). Also: the product is blocked
  for the card because a block limit was exceeded earlier in the period (details ``reason: "blocked"``).
- **amount / volume limit**: per transaction, or the sum over the customer's local calendar day, ISO week
  (Monday to Sunday) or calendar month including this transaction. Equal to the limit is allowed; strictly
  above breaks it. Amounts are compared including VAT (what the driver pays at the pump). The finding carries
  the limit's action; a *block* limit blocks the product for the card until the period ends (not for a
  per-transaction limit: its period ends with the transaction).
- **forbidden day**: the local date is a forbidden day, or its weekday is not allowed.
- **outside allowed hours**: the local time (to the minute) is before `hours_from` or after `hours_to`; both
  ends are allowed (06:00-20:00 accepts 20:00:59, refuses 20:01).
- **country not allowed**: the card lists countries and this one is not among them.
- **volume above tank capacity**: a liquid fuel (diesel, petrol, LPG) above the tank capacity; equal is allowed.
- **odometer**: on a card with the odometer prompt, a reading lower than the previous one, or a distance since
  the previous reading that no vehicle drives: more than ODOMETER_SLACK_KM + min(130 km/h x hours, 1,500 km x
  days (at least one day)). 130 km/h is the fastest legal average; 1,500 km a day is a truck with two drivers
  taking turns around the clock; the 50 km slack absorbs rounding and a short detour between pump and reading.
- **too many transactions**: more fuel/service transactions on the local day than `max_transactions_per_day`;
  equal is allowed.
- **blocked or expired plastic**: the plastic (card number + rank) was blocked at that time, its expiry date
  had passed (in the customer's zone; "cancelled and expired" when the card was cancelled for renewal), or
  the rank is unknown.
- **unknown or blocked driver code**: on a card used with driver codes, the 8-digit code is missing, does not
  start with the customer's 4 issuer digits, is not a code of the card's customer number, or was blocked at
  that time (a pending bulk block counts from the morning it takes effect).

Limits carry their own action; a product the card does not carry (or that is blocked) has the action *block*
(a terminal refuses it) unless its line says notify; every other rule reports (notify): detection does not block
the card (Fiche 12). A finding's `action` is what the what-if calls refused (block) or reported (notify).
The configuration is the one in force at the transaction's time: the import picks, per transaction, the card's
version (store.services.card_history) whose `valid_from` is at or before it, so a limit lowered this morning does
not judge yesterday's fuel, and a transaction made while the card was blocked stays an anomaly after an unblock.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Mapping, NamedTuple
from zoneinfo import ZoneInfo

from ..models import (
    AnomalyRule,
    CardStatus,
    CodeType,
    DriverCodeStatus,
    LimitAction,
    LimitPeriod,
    Product,
)

LIQUID_FUELS = frozenset({Product.DIESEL, Product.PETROL_95, Product.PETROL_98, Product.LPG})
ODOMETER_SLACK_KM = 50
ODOMETER_MAX_KM_PER_HOUR = 130
ODOMETER_MAX_KM_PER_DAY = 1_500
ALL_WEEKDAYS = frozenset(range(1, 8))


# --- the inputs ---------------------------------------------------------------------------------------

# Named tuples, not dataclasses: an import builds them for every card it meets, and a tuple is made fastest.
class Limit(NamedTuple):
    product: Product
    allowed: bool = True
    amount: Decimal | None = None  # EUR including VAT
    volume: Decimal | None = None
    period: LimitPeriod = LimitPeriod.DAY
    action: LimitAction = LimitAction.BLOCK


class PlasticState(NamedTuple):
    rank: int
    status: CardStatus
    expiry_date: date | None


@dataclass(slots=True)
class CardConfig:
    """What the rules read of one card: its limits and controls (configuration) and its plastics (state)."""

    card_id: int
    customer_number_id: int
    zone: ZoneInfo
    is_obu: bool = False
    limits: Mapping[Product, Limit] = field(default_factory=dict)
    allowed_weekdays: frozenset[int] = ALL_WEEKDAYS
    hours_from: int | None = None  # minutes after local midnight
    hours_to: int | None = None
    forbidden_days: frozenset[str] = frozenset()  # ISO dates, as the card stores them
    allowed_countries: frozenset[str] = frozenset()  # empty: everywhere
    tank_capacity_l: Decimal | None = None
    odometer_prompt: bool = False
    max_transactions_per_day: int | None = None
    code_type: CodeType = CodeType.PIN
    # the card's state, not its configuration
    rank: int = 0
    blocked_at: datetime | None = None
    cancelled: bool = False  # cancelled for renewal: not renewed after its expiry date
    plastics: Mapping[int, PlasticState] = field(default_factory=dict)

    history_periods: frozenset[LimitPeriod] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        periods = {limit.period for limit in self.limits.values() if limit.period is not LimitPeriod.TRANSACTION
                   and (limit.amount is not None or limit.volume is not None)}
        if self.max_transactions_per_day is not None:
            periods.add(LimitPeriod.DAY)
        self.history_periods = frozenset(periods)

    def history_start(self, moment: datetime) -> datetime | None:
        """Since when the rules need this card's transactions to judge one at `moment` (None: not at all)."""
        if not self.history_periods:
            return None
        return min(period_bounds(period, moment, self.zone)[0] for period in self.history_periods)

    def with_settings(self, *, limits: Iterable[Limit], allowed_weekdays: Iterable[int], hours_from: str | None,
                      hours_to: str | None, forbidden_days: Iterable[date], allowed_countries: Iterable[str],
                      tank_capacity_l: Decimal | None, odometer_prompt: bool,
                      max_transactions_per_day: int | None) -> CardConfig:
        """The same card with another configuration (the what-if)."""
        return replace(self, limits={limit.product: limit for limit in limits},
                       allowed_weekdays=frozenset(allowed_weekdays), hours_from=minutes_of(hours_from),
                       hours_to=minutes_of(hours_to),
                       forbidden_days=frozenset(day if isinstance(day, str) else day.isoformat()
                                                for day in forbidden_days),
                       allowed_countries=frozenset(c.upper() for c in allowed_countries),
                       tank_capacity_l=tank_capacity_l, odometer_prompt=odometer_prompt,
                       max_transactions_per_day=max_transactions_per_day)


def minutes_of(hhmm: str | None) -> int | None:
    if not hhmm:
        return None
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes or 0)


class DriverCodeState(NamedTuple):
    status: DriverCodeStatus
    blocked_from: datetime | None  # when the block took (or takes) effect


@dataclass(frozen=True)
class DriverCodeBook:
    """The driver codes of one customer number: the customer's 4 issuer digits and its codes (4 digits)."""

    prefix: str
    codes: Mapping[str, DriverCodeState] = field(default_factory=dict)

    def problem(self, code: str | None, moment: datetime) -> str | None:
        """Why `code` could not be used at `moment` ("missing", "unknown", "blocked"), or None."""
        if not code:
            return "missing"
        if len(code) != 8 or not code.startswith(self.prefix):
            return "unknown"
        state = self.codes.get(code[4:])
        if state is None:
            return "unknown"
        if state.status is not DriverCodeStatus.ACTIVE and state.blocked_from is not None \
                and state.blocked_from <= moment:
            return "blocked"
        return None


@dataclass(slots=True)
class Tx:
    """One transaction as the rules see it. Toll transactions have product TOLLS and no quantity."""

    occurred_at: datetime  # aware UTC; the exit time for tolls
    product: Product
    amount: Decimal  # including VAT
    quantity: Decimal = Decimal(0)
    country: str = ""
    odometer_km: int | None = None
    driver_code: str | None = None
    rank: int | None = None  # None: the card's current plastic
    toll: bool = False


@dataclass(frozen=True)
class Finding:
    rule: AnomalyRule
    details: dict  # the values that broke the rule, JSON-ready (str for Decimal, ISO for dates)
    action: LimitAction = LimitAction.NOTIFY
    block_until: datetime | None = None  # a block limit: the product is blocked until then

    @property
    def blocks(self) -> bool:
        return self.action is LimitAction.BLOCK


# --- the history --------------------------------------------------------------------------------------

@dataclass
class ProductBlock:
    product: Product
    blocked_from: datetime
    until: datetime


class CardHistory:
    """A card's transactions that the rules look back on (since `loaded_from`), odometer readings and product
    blocks. Kept sorted by time, so a file that is not in time order is still judged by what came before."""

    __slots__ = ("times", "events", "odometer_times", "odometer_km", "blocks", "loaded_from", "odometer_from")

    def __init__(self, loaded_from: datetime | None = None, odometer_from: datetime | None = None):
        self.times: list[datetime] = []
        self.events: list[tuple[Product, Decimal, Decimal]] = []  # (product, quantity, amount) by self.times
        self.odometer_times: list[datetime] = []
        self.odometer_km: list[int] = []
        self.blocks: list[ProductBlock] = []
        self.loaded_from = loaded_from  # events since then are all here (None: none were loaded)
        self.odometer_from = odometer_from  # the last reading before then, and every one after, are here

    def add(self, moment: datetime, product: Product, quantity: Decimal, amount: Decimal,
            odometer_km: int | None = None) -> None:
        times = self.times
        if not times or moment >= times[-1]:  # the usual case (loaded and judged in time order): no search
            times.append(moment)
            self.events.append((product, quantity, amount))
        else:
            index = bisect.bisect_right(times, moment)
            times.insert(index, moment)
            self.events.insert(index, (product, quantity, amount))
        if odometer_km is not None:
            index = bisect.bisect_right(self.odometer_times, moment)
            self.odometer_times.insert(index, moment)
            self.odometer_km.insert(index, odometer_km)

    def add_odometer(self, moment: datetime, km: int) -> None:
        index = bisect.bisect_right(self.odometer_times, moment)
        self.odometer_times.insert(index, moment)
        self.odometer_km.insert(index, km)

    def record(self, tx: Tx, findings: Iterable[Finding] = (), *, counts: bool = True) -> list[ProductBlock]:
        """Take `tx` into the history after it was judged; returns the product blocks its findings start.

        `counts=False` leaves the transaction out of sums and counts (the what-if: a refused transaction would
        not have happened), but its blocks still apply."""
        if counts:
            self.add(tx.occurred_at, tx.product, tx.quantity, tx.amount, tx.odometer_km)
        started = []
        for finding in findings:
            if finding.block_until is not None and not any(
                    b.product is tx.product and b.blocked_from <= tx.occurred_at < b.until for b in started):
                block = ProductBlock(tx.product, tx.occurred_at, finding.block_until)
                self.blocks.append(block)
                started.append(block)
        return started

    def period_sums(self, product: Product, start: datetime, moment: datetime) -> tuple[Decimal, Decimal]:
        """(quantity, amount) of `product` from `start` up to and including `moment` (recorded before)."""
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_right(self.times, moment)
        quantity = amount = Decimal(0)
        for index in range(low, high):
            event = self.events[index]
            if event[0] is product:
                quantity += event[1]
                amount += event[2]
        return quantity, amount

    def count(self, start: datetime, moment: datetime) -> int:
        """Fuel and service transactions (not tolls) from `start` up to and including `moment`."""
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_right(self.times, moment)
        return sum(1 for index in range(low, high) if self.events[index][0] is not Product.TOLLS)

    def last_odometer(self, moment: datetime) -> tuple[datetime, int] | None:
        index = bisect.bisect_right(self.odometer_times, moment)
        return (self.odometer_times[index - 1], self.odometer_km[index - 1]) if index else None

    def block_at(self, product: Product, moment: datetime) -> ProductBlock | None:
        for block in self.blocks:
            if block.product is product and block.blocked_from < moment < block.until:
                return block
        return None

    def forget_before(self, moment: datetime) -> None:
        """Drop events before `moment` (a long run keeps a card's history bounded)."""
        index = bisect.bisect_left(self.times, moment)
        if index:
            del self.times[:index]
            del self.events[:index]
        if self.loaded_from is None or self.loaded_from < moment:
            self.loaded_from = moment
        self.blocks = [block for block in self.blocks if block.until > moment]


# --- time ---------------------------------------------------------------------------------------------

def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


_BOUNDS: dict[tuple, tuple[datetime, datetime]] = {}
_QUARTER_HOUR = 900  # every time zone's offset is a whole number of quarter hours


def period_bounds(period: LimitPeriod, moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local calendar day, ISO week or calendar month holding `moment`.
    A per-transaction period is the moment itself."""
    if period is LimitPeriod.TRANSACTION:
        return moment, moment
    # Local midnights fall on whole quarter hours in UTC, so every moment of a quarter hour has the same
    # bounds: an import asks for them once per card and rule, remembered here.
    key = (period, zone, int(moment.timestamp()) // _QUARTER_HOUR)
    bounds = _BOUNDS.get(key)
    if bounds is None:
        if len(_BOUNDS) > 100_000:
            _BOUNDS.clear()
        bounds = _BOUNDS[key] = _period_bounds(period, moment, zone)
    return bounds


def _period_bounds(period: LimitPeriod, moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    day = moment.astimezone(zone).date()
    if period is LimitPeriod.DAY:
        first, after = day, day + timedelta(days=1)
    elif period is LimitPeriod.WEEK:
        first = day - timedelta(days=day.isoweekday() - 1)
        after = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return _local_midnight(first, zone), _local_midnight(after, zone)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _volume(value: Decimal) -> str:
    """A volume as the database keeps it (3 decimals), whatever the source wrote: "51.5" and "51.500" are
    the same total, and the screens and mails must show it the same way."""
    return str(value.quantize(Decimal("0.001")))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


# --- the rules ----------------------------------------------------------------------------------------

_EXPIRY_ENDS: dict[tuple[date, ZoneInfo], datetime] = {}


def _expiry_end(expiry_date: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a plastic expires: the local midnight after its expiry date (remembered: plastics share
    their dates, and converting each transaction to local time instead cost an import more)."""
    key = (expiry_date, zone)
    end = _EXPIRY_ENDS.get(key)
    if end is None:
        if len(_EXPIRY_ENDS) > 100_000:
            _EXPIRY_ENDS.clear()
        end = _EXPIRY_ENDS[key] = _local_midnight(expiry_date + timedelta(days=1), zone)
    return end


def check_plastic(tx: Tx, config: CardConfig) -> Finding | None:
    rank = tx.rank if tx.rank is not None else config.rank
    plastic = config.plastics.get(rank)
    if plastic is None:
        return Finding(AnomalyRule.PLASTIC_NOT_VALID, {"reason": "unknown rank", "rank": rank})
    if plastic.status in (CardStatus.BLOCKED, CardStatus.DELETED) and (
            config.blocked_at is None or tx.occurred_at >= config.blocked_at):
        details = {"reason": plastic.status.value, "rank": rank}
        if config.blocked_at is not None:
            details["blocked_at"] = _iso(config.blocked_at)
        return Finding(AnomalyRule.PLASTIC_NOT_VALID, details)
    if plastic.expiry_date is not None and tx.occurred_at >= _expiry_end(plastic.expiry_date, config.zone):
        reason = "cancelled and expired" if config.cancelled else "expired"
        return Finding(AnomalyRule.PLASTIC_NOT_VALID, {"reason": reason, "rank": rank,
                                                       "expiry_date": plastic.expiry_date.isoformat()})
    return None


def check_driver_code(tx: Tx, config: CardConfig, codes: DriverCodeBook | None) -> Finding | None:
    if config.code_type is not CodeType.DRIVER_CODE or tx.toll:
        return None
    problem = (codes or DriverCodeBook(prefix="")).problem(tx.driver_code, tx.occurred_at)
    if problem is None:
        return None
    return Finding(AnomalyRule.DRIVER_CODE, {"driver_code": tx.driver_code or "", "reason": problem})


def check_product_and_limits(tx: Tx, config: CardConfig, history: CardHistory) -> list[Finding]:
    product = tx.product
    limit = config.limits.get(product)
    if limit is None and (config.is_obu or tx.toll):
        return []  # an OBU without a tolls line has no ceiling on tolls
    if limit is None or not limit.allowed:
        # A terminal refuses a product the card does not carry: the action is the line's, else block.
        return [Finding(AnomalyRule.PRODUCT_NOT_ALLOWED, {"product": product.value, "reason": "not allowed"},
                        limit.action if limit is not None else LimitAction.BLOCK)]
    block = history.block_at(product, tx.occurred_at)
    if block is not None:
        return [Finding(AnomalyRule.PRODUCT_NOT_ALLOWED, {
            "product": product.value, "reason": "blocked", "blocked_from": _iso(block.blocked_from),
            "blocked_until": _iso(block.until)}, LimitAction.BLOCK)]
    if limit.amount is None and limit.volume is None:
        return []
    if limit.period is LimitPeriod.TRANSACTION:
        quantity, amount, until = tx.quantity, tx.amount, None
        period_start = None
    else:
        period_start, period_end = period_bounds(limit.period, tx.occurred_at, config.zone)
        quantity, amount = history.period_sums(product, period_start, tx.occurred_at)
        quantity, amount = quantity + tx.quantity, amount + tx.amount
        until = period_end if limit.action is LimitAction.BLOCK else None
    over_amount = limit.amount is not None and amount > limit.amount
    over_volume = limit.volume is not None and quantity > limit.volume
    if not over_amount and not over_volume:
        return []
    findings = []
    base = {"product": product.value, "period": limit.period.value}
    if period_start is not None:
        base["period_start"] = period_start.astimezone(config.zone).date().isoformat()
    if over_amount:
        findings.append(Finding(AnomalyRule.LIMIT_AMOUNT, {
            **base, "limit": _money(limit.amount), "amount": _money(tx.amount), "total": _money(amount)},
            limit.action, until))
    if over_volume:
        findings.append(Finding(AnomalyRule.LIMIT_VOLUME, {
            **base, "limit": _volume(limit.volume), "quantity": _volume(tx.quantity), "total": _volume(quantity)},
            limit.action, until))
    return findings


def check_time(tx: Tx, config: CardConfig) -> list[Finding]:
    local = tx.occurred_at.astimezone(config.zone)
    findings = []
    day = local.date()
    if config.forbidden_days and day.isoformat() in config.forbidden_days:
        findings.append(Finding(AnomalyRule.FORBIDDEN_DAY, {"date": day.isoformat(), "reason": "forbidden day"}))
    elif local.isoweekday() not in config.allowed_weekdays:
        findings.append(Finding(AnomalyRule.FORBIDDEN_DAY, {
            "date": day.isoformat(), "reason": "weekday not allowed", "weekday": local.isoweekday(),
            "allowed_weekdays": sorted(config.allowed_weekdays)}))
    if config.hours_from is not None and config.hours_to is not None:
        minute = local.hour * 60 + local.minute
        if not config.hours_from <= minute <= config.hours_to:
            findings.append(Finding(AnomalyRule.OUTSIDE_HOURS, {
                "time": f"{local:%H:%M}", "allowed_from": f"{config.hours_from // 60:02d}:{config.hours_from % 60:02d}",
                "allowed_to": f"{config.hours_to // 60:02d}:{config.hours_to % 60:02d}"}))
    return findings


def check_country(tx: Tx, config: CardConfig) -> Finding | None:
    if config.allowed_countries and tx.country.upper() not in config.allowed_countries:
        return Finding(AnomalyRule.COUNTRY_NOT_ALLOWED, {"country": tx.country.upper(),
                                                         "allowed_countries": sorted(config.allowed_countries)})
    return None


def check_tank(tx: Tx, config: CardConfig) -> Finding | None:
    if config.tank_capacity_l is not None and tx.product in LIQUID_FUELS and tx.quantity > config.tank_capacity_l:
        return Finding(AnomalyRule.ABOVE_TANK_CAPACITY, {"quantity": _volume(tx.quantity),
                                                         "tank_capacity_l": _volume(config.tank_capacity_l)})
    return None


def odometer_allowance_km(hours: float) -> int:
    """The most a vehicle can plausibly drive in `hours` (see the module's docstring)."""
    hours = max(hours, 0.0)
    return ODOMETER_SLACK_KM + int(min(ODOMETER_MAX_KM_PER_HOUR * hours,
                                       ODOMETER_MAX_KM_PER_DAY * max(1.0, hours / 24)))


def check_odometer(tx: Tx, config: CardConfig, history: CardHistory) -> Finding | None:
    if not config.odometer_prompt or tx.odometer_km is None or tx.toll:
        return None
    previous = history.last_odometer(tx.occurred_at)
    if previous is None:
        return None
    previous_at, previous_km = previous
    if tx.odometer_km < previous_km:
        return Finding(AnomalyRule.ODOMETER, {"reason": "lower than the previous reading",
                                              "odometer_km": tx.odometer_km, "previous_km": previous_km,
                                              "previous_at": _iso(previous_at)})
    hours = (tx.occurred_at - previous_at).total_seconds() / 3600
    allowance = odometer_allowance_km(hours)
    driven = tx.odometer_km - previous_km
    if driven > allowance:
        return Finding(AnomalyRule.ODOMETER, {"reason": "implausible distance", "odometer_km": tx.odometer_km,
                                              "previous_km": previous_km, "previous_at": _iso(previous_at),
                                              "driven_km": driven, "max_km": allowance,
                                              "hours": round(hours, 1)})
    return None


def check_count(tx: Tx, config: CardConfig, history: CardHistory) -> Finding | None:
    if config.max_transactions_per_day is None or tx.toll:
        return None
    start, _end = period_bounds(LimitPeriod.DAY, tx.occurred_at, config.zone)
    count = history.count(start, tx.occurred_at) + 1
    if count > config.max_transactions_per_day:
        return Finding(AnomalyRule.TOO_MANY_TRANSACTIONS, {
            "count": count, "max": config.max_transactions_per_day,
            "date": tx.occurred_at.astimezone(config.zone).date().isoformat()})
    return None


def check_transaction(tx: Tx, config: CardConfig, history: CardHistory, codes: DriverCodeBook | None = None, *,
                      configuration_only: bool = False) -> list[Finding]:
    """Every rule `tx` breaks on this card, given what came before it (`history`, not yet holding `tx`).

    `configuration_only` leaves out the rules that do not depend on the limits and controls (plastic, driver
    code): the what-if compares configurations."""
    findings: list[Finding] = []
    if not configuration_only:
        plastic = check_plastic(tx, config)
        if plastic is not None:
            findings.append(plastic)
        code = check_driver_code(tx, config, codes)
        if code is not None:
            findings.append(code)
    findings.extend(check_product_and_limits(tx, config, history))
    if tx.toll:
        country = check_country(tx, config)
        return findings + ([country] if country else [])
    findings.extend(check_time(tx, config))
    for rule in (check_country(tx, config), check_tank(tx, config), check_odometer(tx, config, history),
                 check_count(tx, config, history)):
        if rule is not None:
            findings.append(rule)
    return findings
