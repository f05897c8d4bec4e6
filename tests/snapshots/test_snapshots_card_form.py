"""The look of the card/OBU form at 80×24: each tab of the create form, and the change preview dialog.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

import pytest
from sqlmodel import select

from store.models import Card, CardStatus, CodeType, ProductType
from tui.app import CardsOnlineApp
from tui.screens.card_form import CardFormScreen

SIZE = (80, 24)


def open_tab(product_type: ProductType, tab: str, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(CardFormScreen(product_type=product_type))
        await snap_settle(pilot)
        pilot.app.animation_level = "none"  # the tab underline slides: no picture mid-way
        screen = pilot.app.screen
        while screen.query_one("TabbedContent").active != tab:
            await pilot.press("f6")
            await snap_settle(pilot)
        await pilot.pause(0.2)
        await snap_settle(pilot)

    return run_before


@pytest.mark.parametrize("tab", ["tab-general", "tab-limits", "tab-controls", "tab-address"])
def test_create_fleet_card_tab(snap_compare, demo_db, snap_login, snap_settle, tab):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=open_tab(ProductType.FLEET_CARD, tab, snap_login, snap_settle))


@pytest.mark.parametrize("tab", ["tab-obu", "tab-toll", "tab-documents"])
def test_create_obu_tab(snap_compare, demo_db, snap_login, snap_settle, tab):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=open_tab(ProductType.PASSANGO_OBU, tab, snap_login, snap_settle))


def test_create_form_with_problems(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(CardFormScreen(product_type=ProductType.FLEET_CARD))
        await snap_settle(pilot)
        await pilot.press("ctrl+s")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_change_preview_dialog(snap_compare, demo_db, snap_login, snap_settle):
    with demo_db.session() as s:
        card_id = s.exec(select(Card.id).where(Card.product_type == ProductType.FLEET_CARD,
                                               Card.status == CardStatus.ACTIVE, Card.code_type == CodeType.PIN,
                                               Card.customer_number_id == 1).order_by(Card.id)).first()

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(CardFormScreen("change", card_id=card_id))
        await snap_settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#f-license_plate").value = "2-NEW-123"
        screen.query_one("#f-driver_name").value = "Nieuwe Chauffeur"
        screen.query_one("#f-limits-diesel-allowed").value = True
        screen.query_one("#f-limits-diesel-amount").value = "321"
        await pilot.press("ctrl+s")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
