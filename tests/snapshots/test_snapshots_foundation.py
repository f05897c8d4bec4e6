"""The look of the foundation screens at 80×24 (pytest-textual-snapshot).

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from tui.app import CardsOnlineApp

SIZE = (80, 24)


def test_login_screen(snap_compare, demo_db, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=snap_settle)


def test_login_screen_with_error(snap_compare, demo_db, snap_login):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "not-the-password")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_home_screen(snap_compare, demo_db, snap_login):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_change_password_with_problems(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "depot", "Depot#2026")
        await pilot.press("1")
        await snap_settle(pilot)
        screen = pilot.app.screen
        for field, value in (("current", "Depot#2026"), ("new", "abc"), ("confirmation", "abc")):
            screen.query_one(f"#{field}").value = value
        await pilot.press("enter", "enter", "enter")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
