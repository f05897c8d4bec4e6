"""The look of My account -> Manage fleet divisions, Notification settings and Customer alert settings at 80×24.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
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


def test_divisions(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.divisions", snap_login, snap_settle))


def test_division_name_refused(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.divisions", snap_login, snap_settle, "n", *"Long haul", "enter"))


def test_division_delete_refused(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.divisions", snap_login, snap_settle, "delete", "y"))


def test_division_move_target(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.divisions", snap_login, snap_settle, "m"))


def test_notification_settings(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.notifications", snap_login, snap_settle))


def test_alert_settings(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("account.alert_settings", snap_login, snap_settle))
