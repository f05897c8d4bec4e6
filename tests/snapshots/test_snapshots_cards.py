"""The look of Manage cards and OBUs, its block and cancel dialogs, and My requests at 80×24.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def opener(snap_login, snap_settle, menu_id: str, keys: tuple[str, ...] = ()):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.open_menu_item(next(i for i in MENU if i.id == menu_id))
        await snap_settle(pilot)
        if keys:
            pilot.app.screen.query_one("#card-table").focus()
            await pilot.press(*keys)
            await snap_settle(pilot)
    return run_before


def test_card_list(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage"))


def test_block_dialog(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("b",)))


def test_cancel_dialog(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("x",)))


def test_my_requests(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.requests"))


def test_card_list_advanced_filters(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await opener(snap_login, snap_settle, "cards.manage")(pilot)
        await pilot.press("ctrl+f")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_card_list_settings_view(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("f6",)))


def test_card_list_limits_view(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("f6", "f6")))


def test_card_list_controls_view(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("f6", "f6", "f6")))


def test_card_list_sort_choice(snap_compare, demo_db, snap_login, snap_settle):
    """F7 opens the sort choice: every column, up and down."""
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("f7",)))


def test_card_list_sorted_by_expiry_with_a_marked_range(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await opener(snap_login, snap_settle, "cards.manage")(pilot)
        pilot.app.screen.query_one("#card-sort").value = "expiry:desc"
        await snap_settle(pilot)
        pilot.app.screen.query_one("#card-table").focus()
        await pilot.press("down", "shift+down", "shift+down")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_card_list_all_matching_marked(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, "cards.manage", ("ctrl+a",)))
