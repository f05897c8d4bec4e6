"""Read models for cards and OBUs: My requests (Fiche 03 step 8), a card's plastics."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from ..models import (
    Card,
    CardStatus,
    CodeType,
    Customer,
    CustomerNumber,
    FleetDivision,
    Plastic,
    ProductType,
    RenewalStatus,
    Request,
    RequestKind,
    RequestStatus,
    Right,
)
from ..services.context import Actor
from .card_filter import CardFilter, card_filter_clauses, plan_search, scoped_filter

REQUEST_PAGE = 50


@dataclass(frozen=True)
class RequestRow:
    id: int
    kind: RequestKind
    status: RequestStatus
    created_at: datetime
    updated_at: datetime | None
    reason: str | None
    fee: Decimal | None
    details: dict
    customer_number: str
    card_id: int | None
    card_number: str | None
    license_plate: str | None
    embossed_name: str | None
    product_type: ProductType | None


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def list_requests(session: Session, actor: Actor, status: RequestStatus | Iterable[RequestStatus] | None = None,
                  kind: RequestKind | None = None, date_from: date | None = None, date_to: date | None = None,
                  limit: int = REQUEST_PAGE, after_id: int | None = None) -> list[RequestRow]:
    """One page of My requests, newest first, for the customer numbers the actor may act for.

    `date_from`/`date_to` are inclusive days in the customer's time zone. For the next page pass the last
    row's id as `after_id` (keyset pagination: stable while new requests arrive).
    """
    actor.require(Right.CARD_REQUESTS)
    query = (
        select(Request, CustomerNumber.number, Card.number, Card.license_plate, Card.embossed_name,
               Card.product_type)
        .join(CustomerNumber, CustomerNumber.id == Request.customer_number_id)
        .outerjoin(Card, Card.id == Request.card_id)
    )
    if not actor.is_issuer:
        query = query.where(Request.customer_number_id.in_(actor.customer_number_ids))
    if isinstance(status, RequestStatus):
        query = query.where(Request.status == status)
    elif status is not None:
        query = query.where(Request.status.in_(list(status)))
    if kind is not None:
        query = query.where(Request.kind == kind)
    if date_from is not None or date_to is not None:
        customer = session.get(Customer, actor.customer_id) if actor.customer_id else None
        zone = ZoneInfo(customer.timezone if customer else "UTC")
        if date_from is not None:
            query = query.where(Request.created_at >= _day_start(date_from, zone))
        if date_to is not None:
            query = query.where(Request.created_at < _day_start(date_to + timedelta(days=1), zone))
    if after_id is not None:
        query = query.where(Request.id < after_id)
    rows = session.exec(query.order_by(Request.id.desc()).limit(limit)).all()
    return [
        RequestRow(id=request.id, kind=request.kind, status=request.status, created_at=request.created_at,
                   updated_at=request.updated_at, reason=request.reason, fee=request.fee, details=request.details,
                   customer_number=customer_number, card_id=request.card_id, card_number=number,
                   license_plate=plate, embossed_name=name, product_type=product_type)
        for request, customer_number, number, plate, name, product_type in rows
    ]


def plastics(session: Session, card_id: int) -> list[Plastic]:
    """Every plastic of a card number, oldest rank first."""
    return list(session.exec(select(Plastic).where(Plastic.card_id == card_id).order_by(Plastic.rank)).all())


# --- Manage cards and OBUs (Fiche 06): quick search, sort on any column, keyset pages -----------------

CARD_PAGE = 50
# Sentinels that stand for "no value" in the sort keys: a keyset needs a total order without NULLs. They
# sit at one end of each index (NO_DAY the high end, the others the low end); `search_cards` reads the cards
# without a value as a block of their own, after the others, so that they come last in both directions.
# Literal SQL, not bound parameters, so that the expressions match the indexes of migration 0003 exactly;
# the datetime one is written the way SQLite stores datetimes, so it round-trips through the keyset.
NO_TEXT = literal_column("''")
NO_DAY = literal_column("'9999-12-31'")
NO_TIME = literal_column("'0001-01-01 00:00:00.000000'")


def _sort_expressions() -> dict:
    return {
        "plate": func.coalesce(Card.license_plate, Card.embossed_name, NO_TEXT),
        "number": func.coalesce(Card.number, NO_TEXT),
        "rank": Card.rank,
        "type": Card.product_type,
        "status": Card.status,
        "renewal": Card.renewal_status,
        "expiry": func.coalesce(Card.expiry_date, NO_DAY),
        "last_use": func.coalesce(Card.last_used_at, NO_TIME),
        "driver": func.coalesce(Card.driver_name, NO_TEXT),
        "division": FleetDivision.name,
        "created": func.coalesce(Card.created_at, NO_TIME),
        "code_type": Card.code_type,
        "category": func.coalesce(Card.category, NO_TEXT),
        "vehicle_type": func.coalesce(Card.vehicle_type, NO_TEXT),
    }


SORT_COLUMNS: tuple[str, ...] = tuple(_sort_expressions())
# The sort columns a card may have no value in, and the sentinel their key gives it.
_NO_VALUE = {"plate": NO_TEXT, "number": NO_TEXT, "expiry": NO_DAY, "last_use": NO_TIME, "driver": NO_TEXT,
             "created": NO_TIME, "category": NO_TEXT, "vehicle_type": NO_TEXT}


@dataclass(frozen=True)
class CardSort:
    """The order of the search result: one of SORT_COLUMNS, then the card id (the keyset's tie-break).

    Cards without a value (no plate, never used, …) come last in both directions, among themselves by id
    (in the same direction).
    """

    column: str = "plate"
    descending: bool = False

    def __post_init__(self) -> None:
        if self.column not in SORT_COLUMNS:
            raise ValueError(f"cannot sort on {self.column!r}; one of {', '.join(SORT_COLUMNS)}")

    def expression(self):
        return _sort_expressions()[self.column]

    def no_value(self):
        """The sentinel the key gives a card without a value in this column (None: every card has one)."""
        return _NO_VALUE.get(self.column)


@dataclass(frozen=True)
class CardRow:
    """One line of the card search result."""

    id: int
    number: str | None
    rank: int
    product_type: ProductType
    license_plate: str | None
    embossed_name: str | None
    driver_name: str | None
    division: str
    status: CardStatus
    renewal_status: RenewalStatus
    expiry_date: date | None
    last_used_at: datetime | None
    version: int
    sort_value: object  # the value of the sort column, None without one: the first half of the keyset
    # Card/badge settings (the second view of the list)
    code_type: CodeType | None = None
    created_at: datetime | None = None
    category: str | None = None
    vehicle_type: str | None = None
    # The card or OBU linked to this one (an OBU's fleet card, or the reverse): its number, else its plate.
    linked_product: str | None = None

    @property
    def after(self) -> tuple[object, int]:
        """The keyset position of this row: pass it as `after` (or `before`) for the neighbouring page."""
        return (self.sort_value, self.id)


def _scoped(session: Session, actor: Actor, customer_number_id: int, card_filter: CardFilter | None) -> CardFilter:
    """The filter limited to one customer number the actor may manage (rights checked here)."""
    actor.require(Right.CARD_MANAGE)
    actor.require_customer_number(customer_number_id)
    card_filter = replace(card_filter or CardFilter(), customer_number_ids=(customer_number_id,))
    return scoped_filter(session, actor, card_filter)


def search_cards(session: Session, actor: Actor, customer_number_id: int, card_filter: CardFilter | None = None,
                 after: tuple[object, int] | None = None, limit: int = CARD_PAGE, *, sort: CardSort | None = None,
                 before: tuple[object, int] | None = None, last: bool = False) -> list[CardRow]:
    """One page of the cards and OBUs of a customer number matching `card_filter`, in `sort` order (by plate,
    else name, by default), ties by id; cards without a value in the sort column last, either way.

    Pages are keyset positions (a row's `after`), never offsets: `after` gives the page that follows a row,
    `before` the page that precedes one, `last=True` the last page; rows always come in display order. No
    row is lost or repeated when cards are added meanwhile, and a page costs the same at the start or the
    end of a 100,000-card fleet. The WHERE is `card_filter_clauses`, as for the Excel export and the CLI.
    """
    card_filter = _scoped(session, actor, customer_number_id, card_filter)
    sort = sort or CardSort()
    key = sort.expression()
    # Backwards (a page before a row, or the last page): read in reverse order, then turn the page around.
    backwards = before is not None or (last and after is None)
    reverse = sort.descending != backwards
    linked = aliased(Card)
    base = (
        select(Card, FleetDivision.name, key.label("sort_value"),
               func.coalesce(linked.number, linked.license_plate, linked.embossed_name))
        .join(FleetDivision, FleetDivision.id == Card.division_id)
        .outerjoin(linked, linked.id == Card.linked_card_id)
        .where(*card_filter_clauses(card_filter, plan_search(session, card_filter)))
    )
    # Two blocks in display order: the cards with a value (by key, then id), then those without (by id; their
    # keyset position has None for the value). Each block is one range of the sort index, whichever the
    # direction, so a page stays an index walk; a page that reaches the end of a block goes on in the next.
    sentinel = sort.no_value()
    if sentinel is None:
        blocks = [(None, True)]
    else:
        blocks = [(key < sentinel if sentinel is NO_DAY else key > sentinel, True), (key == sentinel, False)]
    if backwards:
        blocks.reverse()
    anchor = after if after is not None else before
    anchor_valued = anchor is None or sentinel is None or anchor[0] is not None
    found = []
    started = anchor is None
    for where, valued in blocks:
        if not started:
            if valued != anchor_valued:
                continue  # the anchor is in a later block of the reading order
            started = True
        query = base if where is None else base.where(where)
        position = tuple_(key, Card.id) if valued else Card.id
        if anchor is not None and valued == anchor_valued:
            mark = tuple_(*anchor) if valued else anchor[1]
            query = query.where(position < mark if reverse else position > mark)
            anchor = None  # the following blocks are read from their start
        ordering = (key, Card.id) if valued else (Card.id,)
        query = query.order_by(*(column.desc() for column in ordering) if reverse else ordering)
        found += [(valued, row) for row in session.exec(query.limit(limit - len(found))).all()]
        if len(found) >= limit:
            break
    rows = [
        CardRow(id=card.id, number=card.number, rank=card.rank, product_type=card.product_type,
                license_plate=card.license_plate, embossed_name=card.embossed_name, driver_name=card.driver_name,
                division=division, status=card.status, renewal_status=card.renewal_status,
                expiry_date=card.expiry_date, last_used_at=card.last_used_at, version=card.version,
                sort_value=value if valued else None, code_type=card.code_type, created_at=card.created_at,
                category=card.category, vehicle_type=card.vehicle_type, linked_product=linked_product)
        for valued, (card, division, value, linked_product) in found
    ]
    return rows[::-1] if backwards else rows


def count_cards(session: Session, actor: Actor, customer_number_id: int, card_filter: CardFilter | None = None) -> int:
    """How many cards and OBUs `search_cards` would page through with this filter."""
    card_filter = _scoped(session, actor, customer_number_id, card_filter)
    query = select(func.count()).select_from(Card).where(*card_filter_clauses(card_filter,
                                                                              plan_search(session, card_filter)))
    return int(session.exec(query).one())


def card_divisions(session: Session, actor: Actor, customer_number_id: int) -> list[tuple[int, str]]:
    """The fleet divisions of a customer number, by name: the choices of the search's division filter."""
    actor.require(Right.CARD_MANAGE)
    actor.require_customer_number(customer_number_id)
    query = (select(FleetDivision.id, FleetDivision.name)
             .where(FleetDivision.customer_number_id == customer_number_id).order_by(FleetDivision.name))
    return [(division_id, name) for division_id, name in session.exec(query).all()]
