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

from sqlalchemy import column, func, or_, table, text as sql_text, union
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import Session, select

from ..models import Card, CardStatus, Customer, FleetDivision, ProductType, RenewalStatus

S = TypeVar("S")
LIKE_ESCAPE = "\\"
# Below this many candidates a search starts from them (an index lookup, then a sort of a few rows);
# above, walking the sort order's index and testing each card finds a page sooner.
NARROW_LIMIT = 2000
DENSE_TEXT = 200
TRIGRAM = 3  # the trigram index can only look up text of at least 3 characters


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


def search_text(card_filter: CardFilter) -> str:
    return " ".join(card_filter.text.split())


def _compact(text: str) -> str | None:
    """The text as a plate typed without its dashes ("1lvt9" finds 1-LVT-919), when it has no dash itself."""
    return None if "-" in text else text.replace(" ", "")


@dataclass(frozen=True)
class SearchPlan:
    """How the SQL reaches the matching cards. SQLite plans without statistics: left alone it walks the
    sort order's index and tests every card, which reads the whole fleet when few cards match. The plan
    says where to start instead. PostgreSQL keeps the default plan: its planner has statistics."""

    # How many cards may match the text, by the trigram index (at most NARROW_LIMIT): the search starts from
    # those candidates (a subquery SQLite reads once) rather than from the sort order's index.
    text_candidates: int | None = None
    # Keep SQLite off the date-range indexes (the range holds too many cards to sort them all).
    skip_date_indexes: bool = False

    @property
    def dense_text(self) -> bool:
        """Many candidates: walking the sort order's index and keeping the candidates finds a page sooner than
        reading every candidate's row and sorting them all (about PAGE × fleet / candidates index entries)."""
        return self.text_candidates is not None and self.text_candidates > DENSE_TEXT


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _text_candidates(card_filter: CardFilter):
    """A subquery of the ids of the cards that may contain the text: the trigram index's hits on number,
    plate, name and driver (and plate without dashes), plus the cards of divisions whose name has it."""
    text = search_text(card_filter)
    query = _fts_phrase(text)
    compact = _compact(text)
    if compact and compact != text:
        query += " OR plate_compact : " + _fts_phrase(compact)
    hits = select(column("rowid")).select_from(table("card_text")).where(
        sql_text("card_text MATCH :card_text_query").bindparams(card_text_query=query))
    in_divisions = select(Card.id).where(Card.division_id.in_(_divisions_named(card_filter, text)))
    return union(hits, in_divisions)


def _divisions_named(card_filter: CardFilter, text: str):
    # correlate(None): never correlate with a FleetDivision the outer statement joins.
    divisions = (select(FleetDivision.id).where(FleetDivision.name.ilike(like_pattern(text), escape=LIKE_ESCAPE))
                 .correlate(None))
    if card_filter.customer_number_ids:
        divisions = divisions.where(FleetDivision.customer_number_id.in_(list(card_filter.customer_number_ids)))
    return divisions


def _at_most(session: Session, query, limit: int) -> int:
    """How many rows `query` has, counting no further than `limit` + 1."""
    return int(session.exec(select(func.count()).select_from(query.limit(limit + 1).subquery())).one())


def plan_search(session: Session, card_filter: CardFilter) -> SearchPlan:
    """The plan for this filter, from the candidates each index gives (read no further than NARROW_LIMIT)."""
    if session.get_bind().dialect.name != "sqlite":
        return SearchPlan()
    text = search_text(card_filter)
    compact = _compact(text)
    if len(text) >= TRIGRAM and (compact is None or compact == text or len(compact) >= TRIGRAM):
        # Counted in SQL: the search reads them again as a subquery, which costs less than carrying
        # thousands of ids through Python into an IN list.
        candidates = _at_most(session, _text_candidates(card_filter), NARROW_LIMIT)
        if candidates <= NARROW_LIMIT:
            return SearchPlan(text_candidates=candidates)
    ranges = _date_clauses(card_filter, lambda column: column)
    if ranges:
        in_range = select(Card.id).where(*_number_clauses(card_filter), *ranges)
        return SearchPlan(skip_date_indexes=_at_most(session, in_range, NARROW_LIMIT) > NARROW_LIMIT)
    return SearchPlan()


def _no_index(column):
    """`+column`: SQLite's documented way to keep the planner from using an index on this term."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _number_clauses(card_filter: CardFilter, column=None) -> list:
    if not card_filter.customer_number_ids:
        return []
    return [(column if column is not None else Card.customer_number_id).in_(list(card_filter.customer_number_ids))]


def _date_clauses(card_filter: CardFilter, wrap) -> list:
    f = card_filter
    clauses: list = []
    if f.expiry_from is not None:
        clauses.append(wrap(Card.expiry_date) >= f.expiry_from)
    if f.expiry_to is not None:
        clauses.append(wrap(Card.expiry_date) <= f.expiry_to)
    if f.last_use_from is not None or f.last_use_to is not None:
        zone = ZoneInfo(f.time_zone or "UTC")
        if f.last_use_from is not None:
            clauses.append(wrap(Card.last_used_at) >= _day_start(f.last_use_from, zone))
        if f.last_use_to is not None:
            clauses.append(wrap(Card.last_used_at) < _day_start(f.last_use_to + timedelta(days=1), zone))
    return clauses


def card_filter_clauses(card_filter: CardFilter, plan: SearchPlan | None = None) -> list:
    """The WHERE clauses of the filter, as SQL expressions over `Card` (and subqueries), shaped by `plan`
    (from `plan_search`; None: the default plan, right on every backend)."""
    f = card_filter
    plan = plan or SearchPlan()
    # Starting from the text's candidates: keep SQLite off the customer number's (sort order) indexes.
    from_candidates = plan.text_candidates is not None and not plan.dense_text
    clauses: list = _number_clauses(f, _no_index(Card.customer_number_id) if from_candidates else None)
    if f.division_ids:
        clauses.append(Card.division_id.in_(list(f.division_ids)))
    if f.product_types:
        clauses.append(Card.product_type.in_(list(f.product_types)))
    if f.statuses:
        clauses.append(Card.status.in_(list(f.statuses)))
    if f.renewal_statuses:
        clauses.append(Card.renewal_status.in_(list(f.renewal_statuses)))
    clauses += _date_clauses(f, _no_index if plan.skip_date_indexes else (lambda column: column))
    text = search_text(f)
    if text:
        if from_candidates:
            clauses.append(Card.id.in_(_text_candidates(f)))
        elif plan.dense_text:
            clauses.append(_no_index(Card.id).in_(_text_candidates(f)))
        pattern = like_pattern(text)
        alternatives = [
            Card.number.ilike(pattern, escape=LIKE_ESCAPE),
            Card.license_plate.ilike(pattern, escape=LIKE_ESCAPE),
            Card.driver_name.ilike(pattern, escape=LIKE_ESCAPE),
            # The division name through a subquery rather than a join: the caller's statement may already
            # join FleetDivision (to show the name), and a subquery composes with that on every backend.
            Card.division_id.in_(_divisions_named(f, text)),
            # Cards without a plate are known by the name on them (the list shows it in the plate's place).
            Card.embossed_name.ilike(pattern, escape=LIKE_ESCAPE),
        ]
        compact = _compact(text)
        if compact:
            alternatives.append(func.replace(Card.license_plate, "-", "").ilike(like_pattern(compact),
                                                                                escape=LIKE_ESCAPE))
        clauses.append(or_(*alternatives))
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
