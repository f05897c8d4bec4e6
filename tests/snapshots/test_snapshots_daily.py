"""The look of Daily follow-up at 80×24 (pytest-textual-snapshot): Daily transactions with its totals and the
highlighted transaction's details, the anomalies list with marks, the acknowledge dialog, and PASSango
transactions.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from textual.widgets import Select

from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def open_item(app, item_id):
    app.open_menu_item(next(item for item in MENU if item.id == item_id))


async def _open(pilot, snap_login, snap_settle, item_id):
    await snap_login(pilot, "fleetadmin", "Fleet#2026")
    open_item(pilot.app, item_id)
    await snap_settle(pilot)


def test_daily_transactions(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open(pilot, snap_login, snap_settle, "daily.transactions")
        await pilot.press("down", "down")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_daily_transactions_with_anomalies_only(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open(pilot, snap_login, snap_settle, "daily.transactions")
        await pilot.press("ctrl+d", *"17/11/2026", "enter")  # the demo has an anomaly that day
        await snap_settle(pilot)
        await pilot.press("a")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_anomalies_with_marks(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open(pilot, snap_login, snap_settle, "daily.anomalies")
        pilot.app.screen.query_one("#anomaly-status", Select).value = "all"
        await snap_settle(pilot)
        pilot.app.screen.query_one("#anomaly-table").focus()
        await pilot.press("space", "space")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_acknowledge_dialog(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open(pilot, snap_login, snap_settle, "daily.anomalies")
        await pilot.press("space", "space", "a")
        await snap_settle(pilot)
        await pilot.press(*"Checked with the driver")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_toll_transactions(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await _open(pilot, snap_login, snap_settle, "daily.toll_transactions")
        await pilot.press("down")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
