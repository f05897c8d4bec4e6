"""The look of My cards and OBUs -> Renewal status (with its configuration dialog) and Renewal board at 80×24.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots/test_snapshots_renewal.py
--snapshot-update`, then look at the SVGs before committing them.
"""
from __future__ import annotations

from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def _open(menu_id: str, snap_login, snap_settle, *keys: str):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.open_menu_item(next(i for i in MENU if i.id == menu_id))
        await snap_settle(pilot)
        for key in keys:
            await pilot.press(key)
        await snap_settle(pilot)

    return run_before


def test_renewal_status(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("cards.renewal", snap_login, snap_settle, "down", "down"))


def test_renewal_status_cancelled_card_explained(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open("cards.renewal", snap_login, snap_settle)(pilot)
        from textual.widgets import DataTable

        from store.models import RenewalStatus

        screen = pilot.app.screen
        table = screen.query_one(DataTable)
        row = next(i for i in range(table.row_count)
                   if (found := screen.cards.get(table.coordinate_to_cell_key((i, 0)).row_key.value))
                   and found[0].renewal_status is RenewalStatus.CANCELLED and found[0].editable)
        table.move_cursor(row=row)
        await pilot.press("space", "up")  # marked, then back on it: the line under the list explains it
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_renewal_configuration_dialog(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open("cards.renewal", snap_login, snap_settle)(pilot)
        from textual.widgets import DataTable

        from store.models import RenewalStatus

        screen = pilot.app.screen
        table = screen.query_one(DataTable)
        row = next(i for i in range(table.row_count)
                   if (found := screen.cards.get(table.coordinate_to_cell_key((i, 0)).row_key.value))
                   and found[0].renewal_status is RenewalStatus.CANDIDATE and found[0].editable)
        table.move_cursor(row=row)
        await pilot.press("c")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_renewal_board(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("cards.renewal_board", snap_login, snap_settle, "down", "down"))
