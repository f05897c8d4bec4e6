"""The look of the What-if at 80×24 on the demo (fixed clock 26/11/2026) with the known history of
tests/what_if_history.py: from the card form (F8 on the unsaved limits) and from the bulk template (F8 on two
marked cards).

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots/test_snapshots_what_if.py
--snapshot-update`, then look at the SVGs before committing them.
"""
from __future__ import annotations

from sqlmodel import select

from store.models import Card, CardStatus, LimitAction, LimitPeriod, ProductType
from tui.app import CardsOnlineApp
from what_if_history import change_the_form, known_history

SIZE = (80, 24)


def test_card_form_what_if(snap_compare, demo_db, snap_login, snap_settle):
    card_id = known_history(demo_db)

    async def run_before(pilot):
        from tui.screens.card_form import CardFormScreen

        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(CardFormScreen("change", card_id=card_id))
        await snap_settle(pilot)
        change_the_form(pilot.app.screen)
        await pilot.press("f8")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_bulk_template_what_if(snap_compare, demo_db, snap_login, snap_settle):
    card_id = known_history(demo_db)
    with demo_db.session() as s:
        other = s.exec(select(Card.id).where(Card.product_type == ProductType.FLEET_CARD,
                                             Card.status == CardStatus.IN_PRODUCTION,
                                             Card.customer_number_id == 1).order_by(Card.id)).first()

    async def run_before(pilot):
        from textual.widgets import Checkbox, Input, RadioSet

        from tui.screens.bulk_actions import BulkActionsScreen
        from tui.widgets.limits_editor import CycleField

        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(BulkActionsScreen([card_id, other]))
        await snap_settle(pilot)
        pilot.app.screen.query_one("#bulk-action", RadioSet).focus()
        await pilot.press("right", "right", "right", "right", "enter")
        await snap_settle(pilot)
        dialog = pilot.app.screen
        dialog.query_one("#f-limits-diesel-allowed", Checkbox).value = True
        dialog.query_one("#f-limits-diesel-amount", Input).value = "150"
        dialog.query_one("#f-limits-car_wash-allowed", Checkbox).value = True
        dialog.query_one("#f-limits-car_wash-amount", Input).value = "20"
        dialog.query_one("#f-limits-car_wash-period", CycleField).value = LimitPeriod.TRANSACTION
        dialog.query_one("#f-limits-car_wash-action", CycleField).value = LimitAction.NOTIFY
        await pilot.press("f8")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
