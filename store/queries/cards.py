"""Read models for cards and OBUs: My requests (Fiche 03 step 8), a card's plastics."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..models import (
    Card,
    Customer,
    CustomerNumber,
    Plastic,
    ProductType,
    Request,
    RequestKind,
    RequestStatus,
    Right,
)
from ..services.context import Actor

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
