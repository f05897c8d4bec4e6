"""The criteria of *Search card/OBU* (Fiche 06) as one immutable value, and the SQL they add.

`CardFilter` is what the search screen, the Excel export and the scripting CLI share. `apply_card_filter`
only adds WHERE clauses (plain SQL expressions, on indexed columns where the criterion allows it) to a
select over `Card`; it checks no rights. `scoped_filter` is the check: it refuses customer numbers the
actor may not use and fills in the actor's own when the filter names none.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import Session, select

from ..models import Card, CardStatus, Customer, FleetDivision, ProductType, RenewalStatus

S = TypeVar("S")
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class CardFilter:
    """Search criteria; an empty tuple or None means "any".

    `text` matches card number, licence plate (also typed without its dashes), name on the card, driver name
    and fleet division name (case-insensitive, anywhere in the value). Date ranges are inclusive days; `last_use_*` are days in `time_zone` (an IANA
    name; None: UTC, and `scoped_filter` puts the customer's zone there). A last-use range leaves out
    cards never used.
    """

    customer_number_ids: tuple[int, ...] = ()
    text: str = ""
    product_types: tuple[ProductType, ...] = ()
    statuses: tuple[CardStatus, ...] = ()
    renewal_statuses: tuple[RenewalStatus, ...] = ()
    division_ids: tuple[int, ...] = ()
    last_use_from: date | None = None
    last_use_to: date | None = None
    expiry_from: date | None = None
    expiry_to: date | None = None
    time_zone: str | None = None


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in the user's text taken literally."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def card_filter_clauses(card_filter: CardFilter) -> list:
    """The WHERE clauses of the filter, as SQL expressions over `Card` (and a subquery on divisions)."""
    f = card_filter
    clauses: list = []
    if f.customer_number_ids:
        clauses.append(Card.customer_number_id.in_(list(f.customer_number_ids)))
    if f.division_ids:
        clauses.append(Card.division_id.in_(list(f.division_ids)))
    if f.product_types:
        clauses.append(Card.product_type.in_(list(f.product_types)))
    if f.statuses:
        clauses.append(Card.status.in_(list(f.statuses)))
    if f.renewal_statuses:
        clauses.append(Card.renewal_status.in_(list(f.renewal_statuses)))
    if f.expiry_from is not None:
        clauses.append(Card.expiry_date >= f.expiry_from)
    if f.expiry_to is not None:
        clauses.append(Card.expiry_date <= f.expiry_to)
    if f.last_use_from is not None or f.last_use_to is not None:
        zone = ZoneInfo(f.time_zone or "UTC")
        if f.last_use_from is not None:
            clauses.append(Card.last_used_at >= _day_start(f.last_use_from, zone))
        if f.last_use_to is not None:
            clauses.append(Card.last_used_at < _day_start(f.last_use_to + timedelta(days=1), zone))
    text = " ".join(f.text.split())
    if text:
        pattern = like_pattern(text)
        # The division name through a subquery rather than a join: the caller's statement may already
        # join FleetDivision (to show the name), and a subquery composes with that on every backend.
        # correlate(None): never correlate with a FleetDivision the outer statement joins.
        divisions = (select(FleetDivision.id).where(FleetDivision.name.ilike(pattern, escape=LIKE_ESCAPE))
                     .correlate(None))
        if f.customer_number_ids:
            divisions = divisions.where(FleetDivision.customer_number_id.in_(list(f.customer_number_ids)))
        clauses.append(or_(
            Card.number.ilike(pattern, escape=LIKE_ESCAPE),
            Card.license_plate.ilike(pattern, escape=LIKE_ESCAPE),
            Card.driver_name.ilike(pattern, escape=LIKE_ESCAPE),
            Card.division_id.in_(divisions),
            # Cards without a plate are known by the name on them (the list shows it in the plate's place).
            Card.embossed_name.ilike(pattern, escape=LIKE_ESCAPE),
            # "1lvt9" finds 1-LVT-919: plates are typed without their dashes as often as with them.
            func.replace(Card.license_plate, "-", "").ilike(
                like_pattern(text.replace("-", "").replace(" ", "")), escape=LIKE_ESCAPE),
        ))
    return clauses


def apply_card_filter(statement: S, card_filter: CardFilter) -> S:
    """`statement` (a select over Card) with the filter's WHERE clauses added."""
    clauses = card_filter_clauses(card_filter)
    return statement.where(*clauses) if clauses else statement


def scoped_filter(session: Session, actor, card_filter: CardFilter) -> CardFilter:
    """The filter limited to what `actor` may see; raises PermissionDenied for a customer number not theirs.

    Without customer numbers in the filter: all the actor's (the issuer's filter stays unrestricted).
    Without a time zone: the actor's customer's.
    """
    for customer_number_id in card_filter.customer_number_ids:
        actor.require_customer_number(customer_number_id)
    changes: dict = {}
    if not card_filter.customer_number_ids and not actor.is_issuer:
        # An actor with no customer number sees nothing: -1 is no id.
        changes["customer_number_ids"] = tuple(actor.customer_number_ids) or (-1,)
    if card_filter.time_zone is None:
        customer = session.get(Customer, actor.customer_id) if actor.customer_id is not None else None
        changes["time_zone"] = customer.timezone if customer is not None else "UTC"
    return replace(card_filter, **changes) if changes else card_filter
