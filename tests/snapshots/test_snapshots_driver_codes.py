"""The look of My driver codes at 80×24 (pytest-textual-snapshot): the search list with marks, the block
confirmation (more than 5: the next morning), the modify dialog and the create form.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from textual.widgets import DataTable, Select

from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def open_item(app, item_id):
    app.open_menu_item(next(item for item in MENU if item.id == item_id))


async def _open_list(pilot, snap_login, snap_settle):
    await snap_login(pilot, "fleetadmin", "Fleet#2026")
    open_item(pilot.app, "driver_codes.manage")
    await snap_settle(pilot)


def test_driver_code_list_with_marks(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open_list(pilot, snap_login, snap_settle)
        await pilot.press("space", "down", "space")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_block_six_confirmation(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open_list(pilot, snap_login, snap_settle)
        screen = pilot.app.screen
        screen.query_one("#filter-status", Select).value = "active"
        await snap_settle(pilot)
        screen.query_one(DataTable).focus()
        await pilot.press(*["space"] * 6)
        await pilot.press("b")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_modify_dialog(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open_list(pilot, snap_login, snap_settle)
        await pilot.press("e")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_create_form(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot.app, "driver_codes.create")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
