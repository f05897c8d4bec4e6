"""Simulated issuer traffic: `cardsonline issuer simulate-transactions --days N [--seed S] [--cards-limit C]`.

For the demo and the benchmarks: every active fleet card and OBU with a number gets the fills, services and
tolls its vehicle would make over the `days` days before `now`, and the rows go through the import's own path
(store.issuer.transactions_import.TransactionIngest), so the anomaly rules, product blocks, `last_used_at` and
alert digests are exactly the import's.

Realism (the ideas of store.demo): the vehicle (from the card's vehicle type, else its tank size) sets the km per
day, the fills per week and the tank; the products are the card's allowed ones (its first fuel most often);
quantities stay within the tank; stations are the country's brands in its cities, mostly in Belgium and within
the card's countries; times within the card's weekdays and hours; prices drift over the weeks and by country;
the odometer goes up from the card's last reading; driver-code cards use active codes of their customer number.
About `break_rate` of the stops deliberately break a rule the card has (outside the hours, a forbidden country,
more than the tank, an odometer typo, an unknown driver code, a product not on the card); limits are exceeded
now and then by the traffic itself.

Deterministic: each card draws from its own random stream seeded by (seed, card id), and the issuer transaction
ids are built from seed, card and time, so the same seed, `now` and `days` make the same rows, and a second run
adds nothing (the import is idempotent).
"""
from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from sqlalchemy import select
from sqlmodel import Session

from ..models import Card, CardStatus, CodeType, DriverCodeStatus, Product, TollCondition
from .anomaly_rules import LIQUID_FUELS, CardConfig, CardHistory
from .transactions_import import (
    BATCH_ROWS,
    ImportReport,
    ParsedTransaction,
    TransactionIngest,
    collector_paused,
    load_card_configs,
    load_histories,
)

CARD_CHUNK = 500
DEFAULT_BREAK_RATE = 0.01
CENT, MILLILITRE, TENTH_CENT = Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")
# The demo's vehicle types (store.demo.VEHICLES) by the label stored on the card.
VEHICLE_BY_TYPE = {"Passenger car": "car", "Plug-in hybrid": "hybrid", "Electric car": "ev", "Van": "van",
                   "Truck": "truck"}
SERVICES = (Product.CAR_WASH, Product.SHOP, Product.LUBRICANTS, Product.PARKING)


def _vehicle(vehicle_type: str | None, config: CardConfig) -> str:
    if vehicle_type in VEHICLE_BY_TYPE:
        return VEHICLE_BY_TYPE[vehicle_type]
    tank = config.tank_capacity_l
    return "truck" if tank is not None and tank > 150 else "van" if tank is not None and tank > 70 else "car"


class _CardTraffic:
    """The random traffic of one card."""

    def __init__(self, sim: "Simulator", config: CardConfig, number: str, vehicle_type: str | None,
                 readings: CardHistory, operators: list):
        from ..demo import VEHICLES

        self.sim, self.config, self.number = sim, config, number
        self.rng = random.Random(f"{sim.seed}:{config.card_id}")
        self.vehicle = _vehicle(vehicle_type, config)
        spec = VEHICLES[self.vehicle]
        rng = self.rng
        self.spec = spec
        allowed = [p for p, limit in config.limits.items() if limit.allowed]
        self.fuels = [p for p in Product if p in allowed and p not in SERVICES and p is not Product.TOLLS]
        self.services = [p for p in SERVICES if p in allowed]
        self.refused = [p for p in SERVICES if p not in allowed]
        self.tank = float(config.tank_capacity_l) if config.tank_capacity_l else float(rng.randint(*(spec.tank_l or (40, 60))))
        self.battery = rng.randint(*(spec.battery_kwh or (40, 80)))
        self.km_per_day = rng.randint(*spec.km_per_day)
        self.odometer = rng.randint(8_000, 180_000)  # a first reading, for a card without any
        self.readings = readings
        self.operators = operators
        zone = config.zone
        self.zone = zone
        hours_from = (config.hours_from or 6 * 60) + 5
        hours_to = (config.hours_to or 21 * 60 + 30) - 15
        self.hours = (hours_from / 60, max(hours_from, hours_to) / 60)
        self.home = "BE" if not config.allowed_countries or "BE" in config.allowed_countries \
            else sorted(config.allowed_countries)[0]
        self.counter = 0

    def _id(self, moment: datetime) -> str:
        self.counter += 1
        return f"SIM{self.sim.seed}-{self.config.card_id}-{moment:%Y%m%d%H%M}-{self.counter}"

    def _at(self, day: date, hour: float) -> datetime:
        minutes = min(int(hour * 60), 23 * 60 + 59)
        return datetime.combine(day, time(minutes // 60, minutes % 60), self.zone).astimezone(timezone.utc)

    def _days(self, start: datetime, end: datetime, mean_gap: float):
        config, rng = self.config, self.rng
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        day -= timedelta(days=1)
        while True:
            day += timedelta(days=max(1, round(rng.expovariate(1 / mean_gap))))
            guard = 0
            while (day.isoweekday() not in config.allowed_weekdays or day in config.forbidden_days) and guard < 14:
                day += timedelta(days=1)
                guard += 1
            if day > last:
                return
            yield day

    def _country_city(self, country: str | None = None) -> tuple[str, str, str]:
        from ..demo import CITIES, FUEL_BRANDS

        rng = self.rng
        if country is None:
            country = self.home
            if rng.random() < 0.15:
                choices = [c for c in CITIES if not self.config.allowed_countries or c in self.config.allowed_countries]
                country = rng.choice(choices or [self.home])
        cities = CITIES.get(country) or ("Centre",)
        brands = FUEL_BRANDS.get(country) or ("TotalEnergies",)
        city = rng.choice(cities)
        return country, city, f"{rng.choice(brands)} {city}"

    def fuel(self, start: datetime, end: datetime):
        from ..demo import BASE_PRICES, CHARGING_BRANDS, PRICE_LEVELS, SERVICE_PRICES, VAT_RATES

        if not self.fuels:
            return
        rng, config, sim = self.rng, self.config, self.sim
        weights = [4 if index == 0 else 1 for index in range(len(self.fuels))]
        for day in self._days(start, end, 7 / self.spec.fills_per_week):
            hour = rng.uniform(*self.hours)
            breaking = rng.random() < sim.break_rate
            rule = rng.choice(self._breakable()) if breaking and self._breakable() else None
            if rule == "hours":
                hour = rng.uniform(23.0, 23.9)
            moment = self._at(day, hour)
            if not start <= moment < end:
                continue
            product = rng.choices(self.fuels, weights)[0]
            country, city, station = self._country_city()
            if rule == "country":
                from ..demo import CITIES

                country, city, station = self._country_city(
                    rng.choice([c for c in CITIES if c not in config.allowed_countries]))
            if product is Product.EV_CHARGING:
                station = f"{rng.choice(CHARGING_BRANDS)} {city}"
                quantity = self.battery * rng.uniform(0.3, 0.8)
            elif product is Product.ADBLUE:
                quantity = rng.uniform(15, 60) if self.vehicle == "truck" else rng.uniform(5, 20)
            elif product is Product.CNG:
                quantity = rng.uniform(8, 20)
            else:
                quantity = self.tank * rng.uniform(*((0.35, 0.85) if self.vehicle == "truck" else (0.45, 0.95)))
                if rule == "tank":
                    quantity = self.tank * rng.uniform(1.1, 1.3)
            drift = 1 + 0.04 * math.sin(moment.toordinal() / 9) + rng.uniform(-0.01, 0.01)
            price = BASE_PRICES.get(product, 1.4) * PRICE_LEVELS.get(country, 1.0) * drift
            odometer = None
            if config.odometer_prompt:
                odometer = self._odometer(moment) + (rng.randint(3_000, 9_000) if rule == "odometer" else 0)
            code = self._driver_code(moment, rule == "driver")
            yield self._row(moment, country, city, station, product, Decimal(f"{quantity:.3f}"),
                            Decimal(f"{price:.4f}"), VAT_RATES.get(country, Decimal(21)), odometer, code)
            extras = list(self.services)
            if rule == "product" and self.refused:
                extras = [rng.choice(self.refused)]
            for service in extras:
                low, high, chance = SERVICE_PRICES[service]
                if rule != "product" and rng.random() >= chance:
                    continue
                later = moment + timedelta(minutes=rng.randint(3, 12))
                if later >= end:
                    continue
                yield self._row(later, country, city, station, service, Decimal(1),
                                Decimal(f"{rng.uniform(low, high):.2f}"), VAT_RATES.get(country, Decimal(21)), None,
                                code)

    def _odometer(self, moment: datetime) -> int:
        """The reading at `moment`: the latest one before it (the card's own history, or this run's) plus the
        distance driven since, so a window that already holds transactions gets no false odometer anomalies."""
        factor = self.rng.uniform(0.7, 1.3)  # drawn always: the random stream must not depend on the database
        previous = self.readings.last_odometer(moment)
        if previous is None:
            km = self.odometer
        else:
            days = (moment - previous[0]).total_seconds() / 86_400
            km = previous[1] + int(self.km_per_day * days * factor)
        self.readings.add_odometer(moment, km)
        return km

    def _breakable(self) -> list[str]:
        from ..demo import CITIES

        config, rules = self.config, ["driver"] if self.config.code_type is CodeType.DRIVER_CODE else []
        if config.hours_from is not None:
            rules.append("hours")
        if config.allowed_countries and any(c not in config.allowed_countries for c in CITIES):
            rules.append("country")
        if config.tank_capacity_l is not None and any(p in LIQUID_FUELS for p in self.fuels):
            rules.append("tank")
        if config.odometer_prompt:
            rules.append("odometer")
        if self.refused:
            rules.append("product")
        return rules

    def _driver_code(self, moment: datetime, wrong: bool) -> str | None:
        if self.config.code_type is not CodeType.DRIVER_CODE:
            return None
        book = self.sim.ingest._driver_codes(self.config.customer_number_id)
        if wrong:  # a code the customer number does not have
            for _attempt in range(20):
                code = f"{self.rng.randrange(10_000):04d}"
                if code not in book.codes:
                    return book.prefix + code
            return "9" * 8 if book.prefix != "9999" else "0" * 8
        usable = sorted(code for code, state in book.codes.items() if state.status is DriverCodeStatus.ACTIVE)
        return book.prefix + self.rng.choice(usable) if usable else None

    def _row(self, moment, country, city, station, product, quantity, unit_price, rate, odometer, code):
        excl = (quantity * unit_price).quantize(CENT, ROUND_HALF_UP)
        incl = excl + (excl * rate / 100).quantize(CENT, ROUND_HALF_UP)
        return ParsedTransaction(line=0, toll=False, issuer_transaction_id=self._id(moment), card_number=self.number,
                                 occurred_at=moment, country=country, amount_excl_vat=excl, vat_rate=rate,
                                 amount_incl_vat=incl, rank=self.config.rank or None, station=station[:80],
                                 city=city[:80], product=product, quantity=quantity, unit_price=unit_price,
                                 odometer_km=odometer, driver_code=code)

    def tolls(self, start: datetime, end: datetime, passango: bool, toll_class: str):
        from ..demo import TOLL_CLASS_FACTORS, TOLL_SEGMENTS, TOLL_VAT_RATES

        if not self.operators:
            return
        rng = self.rng
        for day in self._days(start, end, 1.4 if passango else 8):
            entry_at = self._at(day, rng.uniform(5, 19))
            exit_at = entry_at + timedelta(minutes=rng.randint(20, 150))
            if not start <= entry_at or exit_at >= end:
                continue
            operator = rng.choice(self.operators)
            entry, exit_point, base = rng.choice(TOLL_SEGMENTS[operator])
            country = operator.value[-3:-1]
            rate = TOLL_VAT_RATES.get(country, Decimal(0))
            excl = Decimal(f"{base * TOLL_CLASS_FACTORS[toll_class] * rng.uniform(0.97, 1.03):.2f}")
            incl = excl + (excl * rate / 100).quantize(CENT, ROUND_HALF_UP)
            yield ParsedTransaction(line=0, toll=True, issuer_transaction_id=self._id(exit_at), card_number=self.number,
                                    occurred_at=exit_at, country=country, amount_excl_vat=excl, vat_rate=rate,
                                    amount_incl_vat=incl, operator=operator.value, entry_point=entry,
                                    exit_point=exit_point, entry_at=entry_at, vehicle_class=toll_class)


class Simulator:
    def __init__(self, session: Session, now: datetime, *, days: int, seed: int, break_rate: float,
                 ingest: TransactionIngest):
        self.session, self.now, self.days, self.seed = session, now, days, seed
        self.break_rate = break_rate
        self.ingest = ingest

    def run(self, cards_limit: int | None) -> None:
        session, ingest = self.session, self.ingest
        start, end = self.now - timedelta(days=self.days), self.now
        query = (select(Card.id).where(Card.status == CardStatus.ACTIVE, Card.number.is_not(None))
                 .order_by(Card.id))
        if cards_limit is not None:
            query = query.limit(cards_limit)
        card_ids = list(session.execute(query).scalars())
        for first in range(0, len(card_ids), CARD_CHUNK):
            chunk = card_ids[first:first + CARD_CHUNK]
            configs = load_card_configs(session, ingest.zones, ids=chunk)
            extra = {row.id: row for row in session.execute(
                select(Card.id, Card.vehicle_type, Card.product_type, Card.axles, Card.height_cm)
                .where(Card.id.in_(chunk)))}
            readings = load_histories(session, {i: c for i, (_n, c) in configs.items()}, {},
                                      {i: start for i, (_n, c) in configs.items() if c.odometer_prompt})
            operators: dict[int, list] = {}
            for card_id, operator, fee, confirmed in session.execute(
                    select(TollCondition.card_id, TollCondition.operator, TollCondition.connection_fee,
                           TollCondition.confirmed).where(TollCondition.card_id.in_(chunk))
                    .order_by(TollCondition.card_id, TollCondition.id)):
                if fee is None or confirmed:
                    operators.setdefault(card_id, []).append(operator)
            session.commit()  # end the read before the ingest writes
            for card_id in chunk:
                if card_id not in configs:
                    continue
                number, config = configs[card_id]
                row = extra[card_id]
                traffic = _CardTraffic(self, config, number, row.vehicle_type,
                                       readings.get(card_id) or CardHistory(), operators.get(card_id, []))
                if config.is_obu:
                    passango = row.product_type.value == "passango obu"
                    toll_class = ("3" if row.axles == 2 else "4") if passango else (
                        "2" if (row.height_cm or 0) > 200 else "1")
                    rows = traffic.tolls(start, end, passango, toll_class)
                else:
                    rows = traffic.fuel(start, end)
                for parsed in rows:
                    ingest.add(parsed)


def simulate_transactions(session: Session, now: datetime, *, days: int, seed: int = 2026,
                          cards_limit: int | None = None, break_rate: float = DEFAULT_BREAK_RATE,
                          batch_rows: int = BATCH_ROWS, alerts: bool = True,
                          progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """Make and import `days` days of traffic before `now` for the active cards (the first `cards_limit` by id);
    see the module's docstring. Returns the import's report."""
    if days < 1:
        raise ValueError("Simulate at least one day.")
    ingest = TransactionIngest(session, now, batch_rows=batch_rows, alerts=alerts, progress=progress)
    with collector_paused(ingest):
        Simulator(session, now, days=days, seed=seed, break_rate=break_rate, ingest=ingest).run(cards_limit)
        return ingest.finish()
