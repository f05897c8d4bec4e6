"""The fleet export's read model (Fiche 06 *Download as Excel*): every matching card/OBU, streamed.

Rows come in card id order in keyset batches: one query for a batch of cards (with division, customer
number and linked product), one for the batch's limits and one for its toll conditions. Memory stays
at one batch whatever the size of the fleet.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Iterator, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from ..models import (
    Card,
    CardLimit,
    CardStatus,
    CodeType,
    CustomerNumber,
    FleetDivision,
    LimitAction,
    LimitPeriod,
    Product,
    ProductType,
    RenewalStatus,
    Right,
    TollCondition,
    TollOperator,
)
from ..services.context import Actor
from .card_filter import CardFilter, apply_card_filter, scoped_filter

EXPORT_BATCH = 1000


class ExportLimit(NamedTuple):
    product: Product
    allowed: bool
    amount: Decimal | None  # EUR
    volume: Decimal | None  # litres (kWh for EV charging)
    period: LimitPeriod
    action: LimitAction


class ExportToll(NamedTuple):
    operator: TollOperator
    connection_fee: Decimal | None
    confirmed: bool  # False: waits for the issuer (conditions with connection costs)


class FleetExportRow(NamedTuple):
    """One card or OBU with everything the Excel export shows. Times are in the customer's zone.

    Immutable named tuples rather than frozen dataclasses: a 100k-card export builds ~400k of them.
    """

    id: int
    # General information
    number: str | None
    rank: int
    product_type: ProductType
    license_plate: str | None
    embossed_name: str | None
    code_type: CodeType
    division: str
    customer_number: str
    driver_name: str | None
    status: CardStatus
    renewal_status: RenewalStatus
    expiry_date: date | None
    last_used_at: datetime | None
    created_at: datetime | None
    category: str | None
    vehicle_type: str | None
    linked_number: str | None
    linked_plate: str | None
    # Limits, by product (only the products configured on the card)
    limits: dict[Product, ExportLimit]
    # Controls: geographic, time, technical, transactions
    allowed_countries: tuple[str, ...]  # empty: everywhere
    allowed_weekdays: tuple[int, ...]  # ISO, 1 = Monday
    hours_from: str | None
    hours_to: str | None
    forbidden_days: tuple[date, ...]
    odometer_prompt: bool
    tank_capacity_l: Decimal | None
    max_transactions_per_day: int | None
    # OBU toll conditions
    tolls: tuple[ExportToll, ...]


def _prepare(session: Session, actor: Actor, card_filter: CardFilter) -> CardFilter:
    actor.require(Right.CARD_MANAGE)
    return scoped_filter(session, actor, card_filter)


def count_fleet(session: Session, actor: Actor, card_filter: CardFilter) -> int:
    """How many cards/OBUs the export of `card_filter` holds."""
    card_filter = _prepare(session, actor, card_filter)
    return session.exec(apply_card_filter(select(func.count(Card.id)), card_filter)).one()


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def fleet_export_rows(session: Session, actor: Actor, card_filter: CardFilter,
                      batch_size: int = EXPORT_BATCH) -> Iterator[FleetExportRow]:
    """Every card/OBU matching the filter (not a page), in id order, for the customer numbers the actor may use.

    Rights are checked when the iterator is created, so a refusal shows before the first row is asked for.
    """
    card_filter = _prepare(session, actor, card_filter)
    return _stream(session, card_filter, batch_size)


def _stream(session: Session, card_filter: CardFilter, batch_size: int) -> Iterator[FleetExportRow]:
    zone = ZoneInfo(card_filter.time_zone or "UTC")
    linked = aliased(Card)
    columns = (
        Card.id, Card.number, Card.rank, Card.product_type, Card.license_plate, Card.embossed_name, Card.code_type,
        FleetDivision.name, CustomerNumber.number, Card.driver_name, Card.status, Card.renewal_status,
        Card.expiry_date, Card.last_used_at, Card.created_at, Card.category, Card.vehicle_type,
        linked.number, linked.license_plate, Card.allowed_countries, Card.allowed_weekdays,
        Card.allowed_hours_from, Card.allowed_hours_to, Card.forbidden_days, Card.odometer_prompt,
        Card.tank_capacity_l, Card.max_transactions_per_day,
    )
    # Two steps per batch: the next ids in order (the filter on indexed columns, no sort of wide rows),
    # then the wide rows of just those ids.
    next_ids = apply_card_filter(select(Card.id), card_filter).order_by(Card.id).limit(batch_size)
    details = (
        select(*columns)
        .join(FleetDivision, FleetDivision.id == Card.division_id)
        .join(CustomerNumber, CustomerNumber.id == Card.customer_number_id)
        .outerjoin(linked, linked.id == Card.linked_card_id)
    )
    # Core execution on the session's connection (same transaction): the ORM adds nothing to column rows.
    connection = session.connection()
    last_id = 0
    while True:
        ids = list(connection.execute(next_ids.where(Card.id > last_id)).scalars())
        if not ids:
            return
        last_id = ids[-1]
        cards = sorted(connection.execute(details.where(Card.id.in_(ids))).all(), key=lambda c: c[0])
        limits: dict[int, dict[Product, ExportLimit]] = {}
        for card_id, product, allowed, amount, volume, period, action in connection.execute(
            select(CardLimit.card_id, CardLimit.product, CardLimit.allowed, CardLimit.amount, CardLimit.volume,
                   CardLimit.period, CardLimit.action)
            .where(CardLimit.card_id.in_(ids))
        ):
            limits.setdefault(card_id, {})[product] = ExportLimit(product, allowed, amount, volume, period, action)
        tolls: dict[int, list[ExportToll]] = {}
        for card_id, operator, fee, confirmed in connection.execute(
            select(TollCondition.card_id, TollCondition.operator, TollCondition.connection_fee,
                   TollCondition.confirmed)
            .where(TollCondition.card_id.in_(ids))
            .order_by(TollCondition.card_id, TollCondition.id)
        ):
            tolls.setdefault(card_id, []).append(ExportToll(operator, fee, confirmed))
        for (card_id, number, rank, product_type, plate, embossed, code_type, division, customer_number, driver,
             status, renewal_status, expiry, last_used, created, category, vehicle_type, linked_number,
             linked_plate, countries, weekdays, hours_from, hours_to, forbidden, odometer, tank,
             max_tx) in cards:
            yield FleetExportRow(
                id=card_id, number=number, rank=rank, product_type=product_type, license_plate=plate,
                embossed_name=embossed, code_type=code_type, division=division, customer_number=customer_number,
                driver_name=driver, status=status, renewal_status=renewal_status, expiry_date=expiry,
                last_used_at=last_used.astimezone(zone) if last_used is not None else None,
                created_at=created.astimezone(zone) if created is not None else None,
                category=category, vehicle_type=vehicle_type, linked_number=linked_number, linked_plate=linked_plate,
                limits=limits.get(card_id, {}),
                allowed_countries=tuple(countries or ()), allowed_weekdays=tuple(weekdays or ()),
                hours_from=hours_from, hours_to=hours_to,
                forbidden_days=tuple(_day(d) for d in forbidden or ()),
                odometer_prompt=bool(odometer), tank_capacity_l=tank, max_transactions_per_day=max_tx,
                tolls=tuple(tolls.get(card_id, ())),
            )
