"""The customer's own settings that only the issuer changes: for now its time zone.

The time zone decides in which month (and on which day) a transaction counts for the customer: the monthly
reports read per-card month totals (store.issuer.month_totals) computed in that zone, so changing the zone
rebuilds the totals of every card of the customer in the same transaction: no report ever shows months of the
old zone next to a customer set to the new one.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import available_timezones

from sqlmodel import Session, select

from ..i18n import _
from ..issuer.month_totals import rebuild_month_totals
from ..models import Customer
from . import audit
from .atomic import atomic
from .context import Actor
from .errors import DomainError, NotFound, PermissionDenied

MAX_ZONE_LENGTH = 40  # Customer.timezone


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """The IANA zone names, by their lower case (the file system is scanned once)."""
    return {name.lower(): name for name in available_timezones()}


def parse_zone(name: str) -> str:
    """The IANA zone name as it is spelled ("europe/brussels" → "Europe/Brussels"); DomainError when unknown."""
    text = (name or "").strip()
    found = _zone_names().get(text.lower())
    if found is None or len(found) > MAX_ZONE_LENGTH:
        raise DomainError(_("“{zone}” is no time zone: give an IANA name such as Europe/Brussels.").format(
            zone=text), field="timezone")
    return found


@atomic
def change_timezone(session: Session, actor: Actor, now: datetime, customer_id: int, zone: str) -> int:
    """Set the customer's time zone (issuer only) and rebuild the month totals of its cards in the new zone, in
    one transaction with its audit event; returns the month-total lines rebuilt (0 when the zone was already
    that one and nothing changed)."""
    if not actor.is_issuer:
        raise PermissionDenied(_("Only the issuer changes a customer's time zone."))
    zone = parse_zone(zone)
    # Locked: two changes of the same customer's zone run one after the other, each rebuild in its own zone.
    customer = session.exec(select(Customer).where(Customer.id == customer_id).with_for_update()
                            .execution_options(populate_existing=True)).first()
    if customer is None:
        raise NotFound(_("Customer not found."))
    if customer.timezone == zone:
        return 0
    before = customer.timezone
    customer.timezone = zone
    session.add(customer)
    audit.record(session, actor, now, "customer", customer.id, "time zone changed", before={"timezone": before},
                 after={"timezone": zone}, customer_id=customer.id)
    session.flush()  # the rebuild reads the new zone from the table
    return rebuild_month_totals(session.connection(), customer_id=customer.id)


__all__ = ["change_timezone", "parse_zone"]
