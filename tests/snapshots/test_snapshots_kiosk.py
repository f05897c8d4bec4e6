"""Kiosk mode (issue 10) at 80×24 in the high-contrast theme (pytest-textual-snapshot).

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots/test_snapshots_kiosk.py
--snapshot-update`, then look at the SVGs before committing them.
"""
from __future__ import annotations

from tui.app import CardsOnlineApp

SIZE = (80, 24)
DEPOT_SCREENS = ("cards.manage", "driver_codes.manage", "daily.transactions")


def kiosk_app(db) -> CardsOnlineApp:
    return CardsOnlineApp(db, kiosk=True, kiosk_screens=DEPOT_SCREENS, theme_name="high-contrast", idle_timeout=120)


def test_kiosk_login_screen(snap_compare, demo_db, snap_settle):
    assert snap_compare(kiosk_app(demo_db), terminal_size=SIZE, run_before=snap_settle)


def test_kiosk_home_screen(snap_compare, demo_db, snap_login):
    async def run_before(pilot):
        await snap_login(pilot, "depot", "Depot#2026")

    assert snap_compare(kiosk_app(demo_db), terminal_size=SIZE, run_before=run_before)


def test_kiosk_card_list_fits_80_columns(snap_compare, demo_db, snap_login, snap_settle):
    """The depot's card list: number, plate, status, expiry and driver, without scrolling sideways."""
    from tui.menu import MENU

    async def run_before(pilot):
        await snap_login(pilot, "depot", "Depot#2026")
        pilot.app.open_menu_item(next(i for i in MENU if i.id == "cards.manage"))
        await snap_settle(pilot)

    assert snap_compare(kiosk_app(demo_db), terminal_size=SIZE, run_before=run_before)
