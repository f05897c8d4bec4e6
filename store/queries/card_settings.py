"""The Limits and Controls views of Manage cards and OBUs (Fiche 06): the settings of the cards on screen.

`card_settings` reads, for the few dozen cards of the list's window, their limits (one query) and their
control fields (one query). The pieces are the fleet export's (`ExportLimit`, its rights check and its day
parsing), so the list and the Excel file always say the same thing. Formatting for the screen is left to the
caller (it translates); `weekday_runs` is the one shape worth sharing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable

from sqlmodel import Session, select

from ..models import Card, CardLimit, Product, ProductType
from ..services.context import Actor
from .card_filter import CardFilter, card_filter_clauses
from .fleet_export import ExportLimit, _day, _prepare

PRODUCT_ORDER = {product: index for index, product in enumerate(Product)}


@dataclass(frozen=True)
class CardSettings:
    """A card's limits and controls, as the list's Limits and Controls views show them."""

    card_id: int
    product_type: ProductType
    limits: tuple[ExportLimit, ...]  # only the products configured on the card, in `Product` order
    allowed_countries: tuple[str, ...]  # empty: everywhere
    allowed_weekdays: tuple[int, ...]  # ISO, 1 = Monday
    hours_from: str | None  # "HH:MM"
    hours_to: str | None
    forbidden_days: tuple[date, ...]
    odometer_prompt: bool
    tank_capacity_l: Decimal | None
    max_transactions_per_day: int | None


def card_settings(session: Session, actor: Actor, card_ids: Iterable[int]) -> dict[int, CardSettings]:
    """The settings of `card_ids` (the rows of a list window), by card id.

    Needs the right to manage cards; cards of customer numbers the actor may not use are left out (as are
    unknown ids), never an error: the list only asks for cards it was shown.
    """
    # The export's check: the right, and a filter on the actor's customer numbers (none: the issuer, all).
    card_filter = _prepare(session, actor, CardFilter())
    ids = sorted(set(card_ids))
    if not ids:
        return {}
    connection = session.connection()
    controls = connection.execute(
        select(Card.id, Card.product_type, Card.allowed_countries, Card.allowed_weekdays, Card.allowed_hours_from,
               Card.allowed_hours_to, Card.forbidden_days, Card.odometer_prompt, Card.tank_capacity_l,
               Card.max_transactions_per_day)
        .where(Card.id.in_(ids), *card_filter_clauses(CardFilter(customer_number_ids=card_filter.customer_number_ids)))
    ).all()
    visible = [row[0] for row in controls]
    limits: dict[int, list[ExportLimit]] = {}
    if visible:
        for card_id, product, allowed, amount, volume, period, action in connection.execute(
            select(CardLimit.card_id, CardLimit.product, CardLimit.allowed, CardLimit.amount, CardLimit.volume,
                   CardLimit.period, CardLimit.action)
            .where(CardLimit.card_id.in_(visible))
        ):
            limits.setdefault(card_id, []).append(ExportLimit(product, allowed, amount, volume, period, action))
    return {
        card_id: CardSettings(
            card_id=card_id, product_type=product_type,
            limits=tuple(sorted(limits.get(card_id, ()), key=lambda limit: PRODUCT_ORDER[limit.product])),
            allowed_countries=tuple(countries or ()), allowed_weekdays=tuple(sorted(set(weekdays or ()))),
            hours_from=hours_from, hours_to=hours_to, forbidden_days=tuple(_day(d) for d in forbidden or ()),
            odometer_prompt=bool(odometer), tank_capacity_l=tank, max_transactions_per_day=max_tx,
        )
        for (card_id, product_type, countries, weekdays, hours_from, hours_to, forbidden, odometer, tank,
             max_tx) in controls
    }


def weekday_runs(days: Iterable[int]) -> list[tuple[int, int]]:
    """ISO weekdays as runs of consecutive days: (1, 2, 3, 4, 5, 7) -> [(1, 5), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for day in sorted(set(d for d in days if 1 <= d <= 7)):
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
