"""A known history for the what-if tests of the TUI (tests/tui/test_tui_what_if.py and the snapshots).

On the demo (fixed clock 26/11/2026 09:00 UTC, 10:00 in Brussels) the first active fleet card with a PIN and no
transactions gets a known configuration — diesel 300 EUR a day (block), car wash allowed without a ceiling,
nothing else; no controls — and these fuel transactions (Brussels time, amounts including VAT):

    15/08/2026 09:00  diesel   100 l  163.20   (before a 3-month replay, which starts 26/08 00:00)
    02/11/2026 09:00  diesel   100 l  163.20
    02/11/2026 15:00  diesel    30 l   48.96
    03/11/2026 08:00  diesel    60 l   97.92
    03/11/2026 18:00  diesel    40 l   65.28   (163.20 that day)
    05/11/2026 10:00  car wash   1    24.20
    06/11/2026 10:00  car wash   1    18.15

Under the current configuration nothing is over. The change the tests make — diesel 150 a day (block), car wash
20 per transaction (notify) — refuses 02/11 09:00 (163.20 > 150), then 02/11 15:00 (diesel blocked for the rest of
that day), and 03/11 18:00 (97.92 + 65.28 = 163.20 > 150), and reports 05/11 (24.20 > 20): over 3 months 6
transactions, 3 refused for 163.20 + 48.96 + 65.28 = 277.44, 1 reported for 24.20. Over 4 months 15/08 counts too
and is refused: 7 transactions, 4 refused for 440.64.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import select

from store.models import Card, CardLimit, CardStatus, CodeType, FuelTransaction, LimitAction, LimitPeriod, Product

BRUSSELS = ZoneInfo("Europe/Brussels")
HISTORY = (  # (local time, product, quantity, amount incl. VAT)
    (datetime(2026, 8, 15, 9, 0), Product.DIESEL, "100", "163.20"),
    (datetime(2026, 11, 2, 9, 0), Product.DIESEL, "100", "163.20"),
    (datetime(2026, 11, 2, 15, 0), Product.DIESEL, "30", "48.96"),
    (datetime(2026, 11, 3, 8, 0), Product.DIESEL, "60", "97.92"),
    (datetime(2026, 11, 3, 18, 0), Product.DIESEL, "40", "65.28"),
    (datetime(2026, 11, 5, 10, 0), Product.CAR_WASH, "1", "24.20"),
    (datetime(2026, 11, 6, 10, 0), Product.CAR_WASH, "1", "18.15"),
)


def card_without_transactions(db) -> int:
    with db.session() as s:
        used = select(FuelTransaction.card_id)
        return s.exec(select(Card.id).where(Card.product_type == "fleet card", Card.status == CardStatus.ACTIVE,
                                            Card.customer_number_id == 1, Card.code_type == CodeType.PIN,
                                            Card.id.not_in(used)).order_by(Card.id)).first()


def known_history(db) -> int:
    """The card's id, with the configuration and transactions above."""
    card_id = card_without_transactions(db)
    assert card_id is not None, "the demo has no active fleet card without transactions"
    with db.session() as s:
        card = s.get(Card, card_id)
        for limit in s.exec(select(CardLimit).where(CardLimit.card_id == card_id)).all():
            s.delete(limit)
        s.flush()
        s.add(CardLimit(card_id=card_id, product=Product.DIESEL, allowed=True, amount=Decimal("300.00"),
                        period=LimitPeriod.DAY, action=LimitAction.BLOCK))
        s.add(CardLimit(card_id=card_id, product=Product.CAR_WASH, allowed=True))
        card.allowed_weekdays = [1, 2, 3, 4, 5, 6, 7]
        card.allowed_hours_from = card.allowed_hours_to = None
        card.forbidden_days, card.allowed_countries = [], []
        card.tank_capacity_l, card.odometer_prompt, card.max_transactions_per_day = None, False, None
        s.add(card)
        for n, (local, product, quantity, amount) in enumerate(HISTORY):
            incl = Decimal(amount)
            excl = (incl / Decimal("1.21")).quantize(Decimal("0.01"))
            s.add(FuelTransaction(issuer_transaction_id=f"WHATIF-{card_id}-{n}", card_id=card_id, rank=card.rank,
                                  occurred_at=local.replace(tzinfo=BRUSSELS).astimezone(timezone.utc),
                                  station="Q8 Gent", city="Gent", country="BE", product=product,
                                  quantity=Decimal(quantity), unit_price=Decimal("1.3000"), amount_excl_vat=excl,
                                  vat_rate=Decimal("21.00"), amount_incl_vat=incl))
        s.commit()
    return card_id


def change_the_form(screen) -> None:
    """In the card form: diesel 150 a day (block stays), car wash 20 per transaction, notify only."""
    from textual.widgets import Input

    from tui.widgets.limits_editor import CycleField

    screen.query_one("#f-limits-diesel-amount", Input).value = "150"
    screen.query_one("#f-limits-car_wash-amount", Input).value = "20"
    screen.query_one("#f-limits-car_wash-period", CycleField).value = LimitPeriod.TRANSACTION
    screen.query_one("#f-limits-car_wash-action", CycleField).value = LimitAction.NOTIFY
