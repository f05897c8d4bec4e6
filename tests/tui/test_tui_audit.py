"""My account -> Audit trail (pilot): the list, before → after, filters, export with Ctrl+E, no edits."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook
from sqlmodel import select
from textual.widgets import DataTable, Input, Select, Static

from store.models import User
from store.services import audit
from store.services.context import ISSUER, actor_for
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.audit_trail import PAGE, AuditExportDialog, AuditTrailScreen


def add_events(db, count=3):
    with db.session() as session:
        admin_user = session.exec(select(User).where(User.username == "fleetadmin")).one()
        admin = actor_for(session, admin_user)
        moment = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
        for index in range(count):
            audit.record(session, admin, moment + timedelta(minutes=index), "card", 100 + index, "changed",
                         before={"license_plate": f"1-OLD-{index:03}"}, after={"license_plate": f"1-NEW-{index:03}"})
        audit.record(session, ISSUER, moment + timedelta(days=1), "request", 7, "shipped",
                     before={"status": "in production"}, after={"status": "shipped"}, customer_id=admin.customer_id)
        session.commit()


async def open_trail(pilot, ui):
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.open_menu_item(next(item for item in MENU if item.id == "account.audit"))
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, AuditTrailScreen)
    return pilot.app.screen


def change_text(screen) -> str:
    return str(screen.query_one("#audit-change-text", Static).content)


async def test_the_trail_newest_first_with_before_and_after(demo_db, ui):
    add_events(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_trail(pilot, ui)
        assert [row.action for row in screen.rows[:2]] == ["login", "shipped"]  # this login is the newest
        await pilot.press("down")
        assert "status" in change_text(screen) and "in production → shipped" in change_text(screen)
        await pilot.press("down")
        assert "license_plate  1-OLD-002 → 1-NEW-002" in change_text(screen)
        assert screen.query_one(DataTable).row_count == len(screen.rows)


async def test_filters_user_object_action_and_dates(demo_db, ui):
    add_events(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_trail(pilot, ui)
        user = screen.query_one("#audit-user", Select)
        assert {"fleetadmin", "issuer"} <= {value for _label, value in user._options}
        user.value = "issuer"
        await ui.settle(pilot)
        assert [row.action for row in screen.rows] == ["shipped"]
        await pilot.press("ctrl+r")
        await ui.settle(pilot)
        screen.query_one("#audit-object", Select).value = "card"
        await ui.settle(pilot)
        assert [row.object_id for row in screen.rows] == ["102", "101", "100"]
        screen.query_one("#audit-action", Select).value = "shipped"
        await ui.settle(pilot)
        assert screen.rows == [] and "No event matches" in str(screen.query_one("#audit-message").content)
        await pilot.press("ctrl+r")
        await ui.settle(pilot)
        screen.query_one("#audit-from", Input).value = "21/11/2026"
        screen.query_one("#audit-to", Input).focus()
        await pilot.press(*"21/11/2026", "enter")
        await ui.settle(pilot)
        assert [row.action for row in screen.rows] == ["shipped"]
        screen.query_one("#audit-to", Input).value = "20/13/2026"
        screen.query_one("#audit-to", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "is not a date" in str(screen.query_one("#audit-message").content)


async def test_keyset_pages(demo_db, ui):
    add_events(demo_db, PAGE + 5)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_trail(pilot, ui)
        assert len(screen.rows) == PAGE and screen.more
        screen.query_one(DataTable).focus()
        await pilot.press("ctrl+end")
        await ui.settle(pilot)
        assert len(screen.rows) == PAGE + 5 + 1 + 1  # the events, the issuer's, this login


async def test_export_with_ctrl_e_tells_the_path(demo_db, ui, tmp_path):
    add_events(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_trail(pilot, ui)
        screen.query_one("#audit-object", Select).value = "card"
        await ui.settle(pilot)
        await pilot.press("ctrl+e")
        await ui.settle(pilot)
        assert isinstance(app.screen, AuditExportDialog)
        target = tmp_path / "trail.xlsx"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert str(screen.query_one("#audit-message").content) == f"3 events exported to {target}."
    sheet = load_workbook(target)["Audit trail"]
    assert [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["changed"] * 3


async def test_no_edit_or_delete_key(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_trail(pilot, ui)
        actions = {binding.action for binding in screen.BINDINGS}
        assert actions == {"back", "refresh", "clear_filters", "export"}
        before = len(screen.rows)
        await pilot.press("delete", "d", "e", "enter")
        await ui.settle(pilot)
        await pilot.press("f5")
        await ui.settle(pilot)
        assert len(screen.rows) == before


async def test_not_in_the_menu_without_the_right(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        app.open_menu_item(next(item for item in MENU if item.id == "account.audit"))
        await ui.settle(pilot)
        assert not isinstance(app.screen, AuditTrailScreen)
