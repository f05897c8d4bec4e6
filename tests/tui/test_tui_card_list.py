"""My cards and OBUs: Manage cards and OBUs (search, block, delete, cancel, PIN reissue) and My requests."""
from __future__ import annotations

import inspect

import pytest
from sqlmodel import select
from textual.binding import Binding
from textual.widgets import DataTable, Input, Select

from store.models import Card, CardStatus, RenewalStatus, Request, RequestKind
from tui.app import CardsOnlineApp
from tui.menu import MENU, visible_menu
import tui.screens.card_list as cl
from tui.screens.card_actions import ActionsMenu, BlockDialog, CancelDialog, DeleteDialog, PinReissueDialog
from tui.screens.card_list import CardListScreen
from tui.screens.home import HomeScreen
from tui.screens.my_requests import MyRequestsScreen
from tui.widgets.message_line import MessageLine


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


async def open_screen(pilot, ui, menu_id: str, username="fleetadmin", password="Fleet#2026"):
    await ui.login(pilot, username, password)
    pilot.app.open_menu_item(item(menu_id))
    await ui.settle(pilot)
    return pilot.app.screen


async def search(pilot, ui, text: str) -> None:
    pilot.app.screen.query_one("#card-search", Input).value = text
    await settle_search(pilot, ui)


async def settle_search(pilot, ui) -> None:
    """The search waits for a pause in the typing, then reads in a worker: wait for both."""
    screen = pilot.app.screen
    await pilot.pause(0.35)
    for _ in range(100):
        if screen._search_timer is None and not screen.fetching:
            break
        await pilot.pause(0.05)
    await ui.settle(pilot)


def card_id_by_plate(db, plate: str, status: CardStatus | None = None) -> int:
    with db.session() as s:
        query = select(Card.id).where(Card.license_plate == plate)
        if status is not None:
            query = query.where(Card.status == status)
        return s.exec(query.order_by(Card.id)).first()


async def highlight(pilot, screen: CardListScreen, card_id: int) -> None:
    table = screen.query_one(DataTable)
    table.focus()
    table.move_cursor(row=[row.id for row in screen.rows].index(card_id))
    await pilot.pause()


def count_text(screen) -> str:
    return str(screen.query_one("#card-count").content)


async def test_search_as_you_type_narrows_rows_and_count(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        assert isinstance(screen, CardListScreen)
        everything = len(screen.rows)
        assert everything > 20 and count_text(screen) == f"{everything} cards match."
        assert screen.focused.id == "card-search"
        await pilot.press(*"lvt")  # typed key by key into the focused search
        await settle_search(pilot, ui)
        assert [row.license_plate for row in screen.rows] == ["1-LVT-919"]
        assert count_text(screen) == "1 card matches."
        await search(pilot, ui, "aerts")  # driver name, anywhere in it
        assert {row.driver_name for row in screen.rows} == {"Michel Aerts", "Marie Aerts"}
        # The status filter narrows further.
        screen.query_one("#card-status", Select).value = "active"
        await ui.settle(pilot)
        assert {row.status for row in screen.rows} == {CardStatus.ACTIVE}
        assert count_text(screen) == f"{len(screen.rows)} cards match." or len(screen.rows) == 1


async def test_block_active_card_with_duplicate(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "1-LVT-919")
        await highlight(pilot, screen, card_id)
        await pilot.press("enter")  # the actions menu lists only what an active card allows
        await ui.settle(pilot)
        menu = app.screen
        assert isinstance(menu, ActionsMenu)
        assert [a for a, _k, _l in menu.actions] == ["view", "change", "copy", "block", "cancel", "pin reissue"]
        await pilot.press("b")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BlockDialog)
        assert "Blocking is final for this plastic" in str(dialog.query_one("#block-warning").content)
        await pilot.press("enter")  # Enter does not block: the focus is on the reasons
        await ui.settle(pilot)
        assert app.screen is dialog
        await pilot.press("right", "enter")  # loss
        dialog.query_one("#block-duplicate").value = True
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is screen
        message = screen.query_one(MessageLine)
        with demo_db.session() as s:
            card = s.get(Card, card_id)
            assert card.status is CardStatus.BLOCKED and card.block_reason.value == "loss"
            duplicate = s.exec(select(Request).where(Request.kind == RequestKind.DUPLICATE)
                               .order_by(Request.id.desc())).first()
            assert duplicate.created_at == demo_db.clock.now()
        assert message.has_class("-success") and f"request {duplicate.id}" in message.text
        assert {row.status for row in screen.rows if row.id == card_id} == {CardStatus.BLOCKED}


async def test_block_refused_for_new_card_offers_delete(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-MBW-299")
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "MBW")
        await highlight(pilot, screen, card_id)
        await pilot.press("b")
        await ui.settle(pilot)
        assert "cannot be blocked: delete it instead" in screen.query_one(MessageLine).text
        dialog = app.screen
        assert isinstance(dialog, DeleteDialog)
        assert "cannot be blocked" in str(dialog.query_one("#delete-note").content)
        assert "stops its production" in str(dialog.query_one("#delete-text").content)
        await pilot.press("enter")  # the focus starts on Back: Enter leaves, nothing deleted
        await ui.settle(pilot)
        assert app.screen is screen
        with demo_db.session() as s:
            assert s.get(Card, card_id).status is CardStatus.NEW


async def test_delete_new_card(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-MBW-299")
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "1-MBW")
        await highlight(pilot, screen, card_id)
        await pilot.press("d")
        await ui.settle(pilot)
        assert isinstance(app.screen, DeleteDialog)
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "production is stopped" in screen.query_one(MessageLine).text
        with demo_db.session() as s:
            assert s.get(Card, card_id).status is CardStatus.DELETED


async def test_delete_refused_for_active_card(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "1-LVT")
        await highlight(pilot, screen, card_id)
        await pilot.press("d")
        await ui.settle(pilot)
        assert app.screen is screen
        assert screen.query_one(MessageLine).text.startswith("Only a new card that is not produced yet")


async def test_cancel_is_not_blocking(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "1-LVT")
        await highlight(pilot, screen, card_id)
        await pilot.press("x")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CancelDialog)
        text = str(dialog.query_one("#cancel-text").content)
        with demo_db.session() as s:
            expiry = s.get(Card, card_id).expiry_date
        assert text == (f"Cancelling is not blocking: the card stays active until its expiry on {expiry:%d/%m/%Y} "
                        "and will not be renewed. A lost or stolen card must be blocked.")
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        with demo_db.session() as s:
            card = s.get(Card, card_id)
            assert card.cancelled_by_user and card.renewal_status is RenewalStatus.CANCELLED
            assert card.status is CardStatus.ACTIVE
        # Renew undoes it: the action is offered now, cancel no longer.
        await pilot.press("enter")
        await ui.settle(pilot)
        assert [a for a, _k, _l in app.screen.actions if a in ("cancel", "renew")] == ["renew"]
        await pilot.press("r")
        await ui.settle(pilot)
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        with demo_db.session() as s:
            assert not s.get(Card, card_id).cancelled_by_user


async def test_pin_reissue_of_two_marked_cards(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    eligible = card_id_by_plate(demo_db, "1-MDR-813")  # active PIN card
    driver_code = card_id_by_plate(demo_db, "1-MEH-651", CardStatus.ACTIVE)  # a driver-code card: no PIN
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await search(pilot, ui, "1-MDR")
        await highlight(pilot, screen, eligible)
        await pilot.press("space")
        await search(pilot, ui, "1-MEH")  # the marks stay while searching
        await highlight(pilot, screen, driver_code)
        await pilot.press("space")
        assert set(screen.marked) == {eligible, driver_code}
        assert "2 marked" in count_text(screen)
        await pilot.press("p")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PinReissueDialog)
        assert [card_id for card_id, _label in dialog.cards] == [eligible, driver_code]
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        results = {r.label: r for r in dialog.results}
        assert len(results) == 2
        ok = [r for r in dialog.results if r.ok]
        refused = [r for r in dialog.results if not r.ok]
        assert len(ok) == 1 and len(refused) == 1
        assert "driver code" in refused[0].message
        shown = str(dialog.query_one("#pin-results").content)
        assert "✓" in shown and "✗" in shown and refused[0].message in shown
        assert dialog.query_one(MessageLine).has_class("-warning")
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen and not screen.marked
        with demo_db.session() as s:
            assert s.exec(select(Request).where(Request.card_id == eligible,
                                                Request.kind == RequestKind.PIN_REISSUE)).first() is not None


async def test_multipass_switch_reloads_the_list(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        first = {row.id for row in screen.rows}
        app.active_customer_number = app.session.customer_numbers[1]
        await ui.settle(pilot)
        second = {row.id for row in screen.rows}
        with demo_db.session() as s:
            expected = set(s.exec(select(Card.id).where(
                Card.customer_number_id == app.session.customer_numbers[1].id)).all())
        assert second == expected and not (first & second)
        assert count_text(screen) == f"{len(expected)} cards match."


async def test_my_requests_lists_and_filters_by_status(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.requests")
        assert isinstance(screen, MyRequestsScreen)
        with demo_db.session() as s:
            total = len(s.exec(select(Request.id)).all())
        assert len(screen.rows) == total and total > 5
        assert [r.id for r in screen.rows] == sorted((r.id for r in screen.rows), reverse=True)
        screen.query_one("#requests-status", Select).value = "submitted"
        await ui.settle(pilot)
        assert screen.rows and {r.status.value for r in screen.rows} == {"submitted"}
        # A bad date is refused plainly; a good one filters.
        screen.query_one("#requests-from", Input).value = "31/02/2026"
        screen.query_one("#requests-from", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "is not a date; type it as dd/mm/yyyy" in screen.query_one(MessageLine).text
        screen.query_one("#requests-from", Input).value = "27/11/2026"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert screen.rows == [] and "No request matches" in screen.query_one(MessageLine).text
        screen.query_one("#requests-from", Input).value = ""
        await pilot.press("enter")
        await ui.settle(pilot)
        # Enter on a row shows its details.
        table = screen.query_one(DataTable)
        table.focus()
        await pilot.pause()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert app.screen.__class__.__name__ == "RequestDetails"
        assert f"Request {screen.rows[0].id}" in app.screen.title_text


async def test_depot_user_has_no_my_requests(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert isinstance(app.screen, HomeScreen)
        ids = {i.id for _g, items in visible_menu(app.session.rights, app.menu) for i in items}
        assert "cards.manage" in ids and "cards.requests" not in ids
        app.open_menu_item(item("cards.requests"))
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


def test_every_card_binding_has_an_id():
    import tui.screens.card_actions
    import tui.screens.card_list
    import tui.screens.export_dialog
    import tui.screens.my_requests

    checked = 0
    for module in (tui.screens.card_actions, tui.screens.card_list, tui.screens.my_requests,
                   tui.screens.export_dialog):
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for binding in cls.__dict__.get("BINDINGS", []):
                assert isinstance(binding, Binding) and binding.id, f"{cls.__name__}: {binding}"
                checked += 1
    assert checked >= 15


# --- Advanced filters, export, view switch -------------------------------------------------------------

def column_labels(screen) -> list[str]:
    return [str(column.label) for column in screen.query_one(DataTable).columns.values()]


async def test_advanced_filters_narrow_rows_and_count(demo_db, ui):
    from datetime import date

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        everything = len(screen.rows)
        advanced = screen.query_one("#card-advanced")
        assert not advanced.display
        await pilot.press("ctrl+f")  # from the focused search field
        await ui.settle(pilot)
        assert advanced.display and screen.focused.id == "card-type"
        division = screen.query_one("#card-division", Select)
        options = [(str(label), value) for label, value in division._options if value != "all"]
        assert [label for label, _v in options] == sorted({row.division for row in screen.rows})
        label, value = next(o for o in options if o[0] == "Long haul")
        division.value = value
        await settle_search(pilot, ui)
        assert screen.rows and {row.division for row in screen.rows} == {"Long haul"}
        assert len(screen.rows) < everything
        assert count_text(screen) == f"{len(screen.rows)} cards match."
        in_division = len(screen.rows)
        # A bad day: a clear message, and the list stays as it was.
        screen.query_one("#card-expiry-from", Input).value = "31/13/2026"
        await settle_search(pilot, ui)
        assert "Expiry from: write the day as dd/mm/yyyy" in screen.query_one(MessageLine).text
        assert len(screen.rows) == in_division
        # An expiry range narrows further, and the message goes once the day is right.
        expiries = sorted(row.expiry_date for row in screen.rows if row.expiry_date)
        low, high = expiries[0], expiries[len(expiries) // 2]
        screen.query_one("#card-expiry-from", Input).value = f"{low:%d/%m/%Y}"
        screen.query_one("#card-expiry-to", Input).value = f"{high:%d/%m/%Y}"
        await settle_search(pilot, ui)
        assert screen.query_one(MessageLine).text == ""
        assert screen.rows and all(low <= row.expiry_date <= high for row in screen.rows)
        assert {row.division for row in screen.rows} == {"Long haul"}
        assert len(screen.rows) == sum(1 for day in expiries if low <= day <= high)
        # A range the wrong way round is refused.
        screen.query_one("#card-expiry-to", Input).value = f"{date(2000, 1, 1):%d/%m/%Y}"
        await settle_search(pilot, ui)
        assert "Expiry: the first day is after the last." in screen.query_one(MessageLine).text
        # Hiding the advanced filters clears them.
        await pilot.press("ctrl+f")
        await settle_search(pilot, ui)
        assert not advanced.display and len(screen.rows) == everything


async def test_export_writes_the_current_filter(demo_db, ui, tmp_path):
    from openpyxl import load_workbook

    from tui.screens.export_dialog import ExportDialog

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        everything = len(screen.rows)
        screen.query_one("#card-status", Select).value = "active"
        await settle_search(pilot, ui)
        active = len(screen.rows)
        assert 0 < active < everything
        await pilot.press("ctrl+e")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        path_input = dialog.query_one("#export-path", Input)
        assert path_input.value.endswith(".xlsx") and "cardsonline-fleet-" in path_input.value
        # Refused: not .xlsx, and a folder that does not exist.
        path_input.value = str(tmp_path / "fleet.csv")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "must end in .xlsx" in dialog.query_one(MessageLine).text
        path_input.value = str(tmp_path / "missing" / "fleet.xlsx")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "does not exist" in dialog.query_one(MessageLine).text
        target = tmp_path / "fleet.xlsx"
        path_input.value = str(target)
        await pilot.press("enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert screen.query_one(MessageLine).text == f"{active} cards exported to {target}."
        sheet = load_workbook(target, read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) - 1 == active
        status_column = rows[0].index("Status")
        assert {str(row[status_column]).lower() for row in rows[1:]} == {"active"}


async def test_cancelled_export_leaves_no_file(demo_db, ui, tmp_path, monkeypatch):
    import time

    import store.queries.fleet_export as fleet_export

    real_rows = fleet_export.fleet_export_rows

    def slow_rows(session, actor, card_filter, batch_size=fleet_export.EXPORT_BATCH):
        rows = real_rows(session, actor, card_filter, batch_size)

        def stream():
            for index, row in enumerate(rows):
                if index == 1:  # wait, mid-export, until the user has pressed Esc
                    deadline = time.monotonic() + 10
                    while not app.screen.cancel_requested.is_set() and time.monotonic() < deadline:
                        time.sleep(0.01)
                yield row
        return stream()

    monkeypatch.setattr(fleet_export, "fleet_export_rows", slow_rows)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await pilot.press("ctrl+e")
        await ui.settle(pilot)
        folder = tmp_path / "exports"
        folder.mkdir()
        target = folder / "fleet.xlsx"
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen.running
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "cancelled" in screen.query_one(MessageLine).text
        assert list(folder.iterdir()) == []  # neither the file nor a temporary one


async def test_view_switch_changes_the_columns(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        general = column_labels(screen)
        assert "Status" in general and "Code type" not in general
        count = len(screen.rows)
        await pilot.press("f6")
        await ui.settle(pilot)
        settings = column_labels(screen)
        # The sorted column (plate, ascending) carries the arrow; at 80 columns rank and creation day are left
        # out (see test_card_list_fits_80_columns).
        assert settings == ["", "Number", "Plate/name↑", "Code type", "Category", "Vehicle type"]
        table = screen.query_one(DataTable)
        assert table.row_count == count == len(screen.rows)
        first = screen.rows[0]
        cells = [str(cell) for cell in table.get_row_at(0)]
        assert cells[3] in ("PIN", "Driver code") and cells[4] == (first.category or "")
        await pilot.press("f6")  # Limits
        await ui.settle(pilot)
        assert column_labels(screen)[:5] == ["", "Plate/name↑", "Limits", "On limit", "Not allowed"]
        await pilot.press("f6")  # Controls
        await ui.settle(pilot)
        # At 80 columns without tank, forbidden days and number (see test_card_list_fits_80_columns_in_every_view).
        assert column_labels(screen) == ["", "Plate/name↑", "Days", "Hours", "Countries", "Tx/day", "Odometer"]
        await pilot.press("f6")
        await ui.settle(pilot)
        assert column_labels(screen) == general


def test_fit_columns_drops_and_narrows_below_the_compact_width():
    general = [(key, label, width) for key, label, width in cl.COLUMNS]
    drop, least = cl.COMPACT["general"]
    fitted = cl.fit_columns(general, 78, drop, least)
    assert [key for key, _label, _width in fitted] == ["mark", "number", "plate", "status", "expiry", "driver"]
    assert sum(width + cl.CELL_PADDING for _key, _label, width in fitted) <= 78
    assert dict((key, width) for key, _label, width in fitted)["driver"] == 14  # what is left, more than 10
    # Room enough: every column, at its own width.
    assert cl.fit_columns(general, 200, drop, least) == tuple(general)
    assert cl.clip("Youssef Vandenberghe", 14) == "Youssef Vande…" and cl.clip("Jan Peeters", 14) == "Jan Peeters"


async def test_card_list_fits_80_columns_in_every_view(demo_db, ui):
    """At 80×24 (a kiosk) no view scrolls sideways: the driver shows without scrolling."""
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        table = screen.query_one(DataTable)
        for view, _name, columns in cl.VIEWS:
            assert screen.view == view
            assert table.virtual_size.width <= table.scrollable_content_region.width, view
            assert table.max_scroll_x == 0 and not table.show_horizontal_scrollbar, view
            labels = [label.rstrip(" ↑↓") for label in column_labels(screen)]
            assert set(labels) <= {cl._(label) for _key, label, _width in columns}
            await pilot.press("f6")
            await ui.settle(pilot)
        assert screen.view == "general"
        assert "Driver" in column_labels(screen)
        driver = column_labels(screen).index("Driver")
        width = dict((key, width) for key, _label, width in screen.columns())["driver"]
        shown = {str(table.get_row_at(i)[driver]): row.driver_name or "" for i, row in enumerate(screen.rows)}
        assert any(text.endswith("…") and len(name) > width for text, name in shown.items())
        assert all(text == cl.clip(name, width) for text, name in shown.items())


async def test_card_list_shows_every_column_in_a_wide_terminal(demo_db, ui):
    """From COMPACT_BELOW columns on, every column shows (the list scrolls sideways)."""
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=(cl.COMPACT_BELOW, 30)) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        for view, _name, columns in cl.VIEWS:
            assert [key for key, _label, _width in screen.columns()] == [key for key, _l, _w in columns], view
            await pilot.press("f6")
            await ui.settle(pilot)
        # Narrowed to 80 columns, the list fits again; wide again, every column is back.
        general = [key for key, _label, _width in cl.COLUMNS]
        await pilot.resize_terminal(80, 24)
        await ui.settle(pilot)
        assert "division" not in [key for key, _label, _width in screen.columns()]
        assert screen.query_one(DataTable).max_scroll_x == 0
        await pilot.resize_terminal(cl.COMPACT_BELOW, 30)
        await ui.settle(pilot)
        assert [key for key, _label, _width in screen.columns()] == general
        assert screen.query_one(DataTable).max_scroll_x > 0  # the rest is reached by scrolling sideways


async def test_bulk_actions_open_on_the_marked_cards(demo_db, ui):
    from tui.screens.bulk_actions import BulkActionsScreen

    app = CardsOnlineApp(demo_db)
    first = card_id_by_plate(demo_db, "1-MDR-813")
    second = card_id_by_plate(demo_db, "1-MEH-651", CardStatus.ACTIVE)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await highlight(pilot, screen, first)
        await pilot.press("a")  # nothing marked yet: told how
        await ui.settle(pilot)
        assert app.screen is screen
        assert "Mark cards with Space" in str(screen.query_one(MessageLine).content)
        await pilot.press("space")
        await highlight(pilot, screen, second)
        await pilot.press("space", "a")
        await ui.settle(pilot)
        assert isinstance(app.screen, BulkActionsScreen)
        assert sorted(app.screen.card_ids) == sorted([first, second])


# --- The bounded window, sorting, the Limits and Controls views, marking --------------------------------------

@pytest.fixture
def big_db(db):
    """The demo with ~300 cards on the first customer number: enough for many small pages."""
    from store.demo import build_demo

    build_demo(db, cards=300)
    return db


def store_order(db, app, sort=None) -> list[int]:
    from store.queries.cards import search_cards

    with db.session() as s:
        return [row.id for row in search_cards(s, app.session.actor, app.active_customer_number.id, None,
                                               limit=100_000, sort=sort)]


async def walk(pilot, ui, screen, key: str, steps: int, press: bool = True) -> list[int]:
    """Press `key` up to `steps` times, the id under the cursor after each press (until it stops moving).

    `press=False` runs the key's table action directly (what the key does, minus the pilot's key round trip:
    a walk through hundreds of cards stays quick)."""
    seen = [screen.current_row().id]
    table = screen.query_one(DataTable)
    for _ in range(steps):
        if press:
            await pilot.press(key)
        else:
            getattr(table, {"down": "action_cursor_down", "up": "action_cursor_up"}[key])()
        if press or screen.fetching or table.cursor_row in (0, len(screen.rows) - 1):
            await pilot.pause()  # the edge of the window: the highlight reads the neighbouring page
        if screen.fetching:  # a window move: wait for the page
            await ui.settle(pilot)
        assert len(screen.rows) <= cl.WINDOW and screen.query_one(DataTable).row_count == len(screen.rows)
        current = screen.current_row().id
        if current == seen[-1]:
            break
        seen.append(current)
    return seen


async def test_window_moves_lose_and_repeat_nothing(big_db, ui, monkeypatch):
    monkeypatch.setattr(cl, "PAGE", 20)
    monkeypatch.setattr(cl, "WINDOW", 60)
    app = CardsOnlineApp(big_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        everything = store_order(big_db, app)
        assert len(everything) > 150
        assert count_text(screen) == f"{len(everything)} cards match."
        assert len(screen.rows) == 20 and not screen.more_before and screen.more_after
        screen.query_one(DataTable).focus()
        assert await walk(pilot, ui, screen, "down", 25) == everything[:26]  # real keys across a window move
        down = await walk(pilot, ui, screen, "down", len(everything) + 5, press=False)
        down = everything[:25] + down
        assert down == everything
        assert len(screen.rows) == 60 and screen.more_before and not screen.more_after
        up = await walk(pilot, ui, screen, "up", len(everything) + 5, press=False)
        assert up == everything[::-1]
        # PgDn and PgUp cross the windows too: every card passes by in order, none twice.
        pages = await walk(pilot, ui, screen, "pagedown", len(everything))
        assert pages[-1] == everything[-1]
        assert [everything.index(i) for i in pages] == sorted(everything.index(i) for i in set(pages))
        pages = await walk(pilot, ui, screen, "pageup", len(everything))
        assert pages[-1] == everything[0]
        # Home and End: the first and the last page, whatever the window holds.
        await pilot.press("end")
        await ui.settle(pilot)
        assert screen.current_row().id == everything[-1] and [r.id for r in screen.rows] == everything[-20:]
        assert screen.more_before and not screen.more_after
        await pilot.press("up")
        await ui.settle(pilot)
        assert screen.current_row().id == everything[-2]
        await pilot.press("home")
        await ui.settle(pilot)
        assert screen.current_row().id == everything[0] and [r.id for r in screen.rows] == everything[:20]
        assert not screen.more_before


async def test_count_comes_after_the_rows(demo_db, ui, monkeypatch):
    import threading

    import store.queries.cards as cards

    release = threading.Event()
    real_count = cards.count_cards

    def slow_count(*args, **kwargs):
        release.wait(10)
        return real_count(*args, **kwargs)

    monkeypatch.setattr(cards, "count_cards", slow_count)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.open_menu_item(item("cards.manage"))
        screen = app.screen
        for _ in range(100):
            await pilot.pause(0.02)
            if screen.rows:
                break
        assert screen.rows and count_text(screen) == "Counting…"
        release.set()
        await ui.settle(pilot)
        assert count_text(screen) == f"{len(screen.rows)} cards match."


def header_x(screen, key: str) -> int:
    """The x of a column's header in the list (a cell inside it)."""
    x = 0
    for column_key, _label, width in screen.columns():
        if column_key == key:
            return x + 1
        x += width + cl.CELL_PADDING
    raise AssertionError(f"{key} is not shown")


async def test_sort_by_select_and_header_click(big_db, ui, monkeypatch):
    from store.queries.cards import CardSort

    monkeypatch.setattr(cl, "PAGE", 10)
    monkeypatch.setattr(cl, "WINDOW", 30)
    app = CardsOnlineApp(big_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        select = screen.query_one("#card-sort", Select)
        values = {value for _label, value in select._options}
        from store.queries.cards import SORT_COLUMNS
        assert values == {f"{c}:{d}" for c in SORT_COLUMNS for d in ("asc", "desc")}
        await pilot.press("f7")  # the key focuses the sort choice
        await ui.settle(pilot)
        assert select.expanded and screen.focused in (select, select.query_one("SelectOverlay"))
        await pilot.press("escape")
        select.value = "expiry:desc"
        await ui.settle(pilot)
        assert [r.id for r in screen.rows] == store_order(big_db, app, CardSort("expiry", True))[:10]
        assert "Expiry ↓" in column_labels(screen)
        # A click on a header sorts on its column; a second click reverses.
        await pilot.click("#card-table", offset=(header_x(screen, "status"), 0))
        await ui.settle(pilot)
        assert screen.sort == CardSort("status") and select.value == "status:asc"
        assert [r.id for r in screen.rows] == store_order(big_db, app, CardSort("status"))[:10]
        await pilot.click("#card-table", offset=(header_x(screen, "status"), 0))
        await ui.settle(pilot)
        assert screen.sort == CardSort("status", True)
        expected = store_order(big_db, app, CardSort("status", True))
        assert [r.id for r in screen.rows] == expected[:10]
        # The window moves keep the sort.
        screen.query_one(DataTable).focus()
        assert await walk(pilot, ui, screen, "down", 45) == expected[:46]


async def test_limits_and_controls_views(demo_db, ui):
    from store.queries.card_settings import card_settings

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        await pilot.press("f6", "f6")
        await ui.settle(pilot)
        assert screen.view == "limits"
        assert set(screen.settings) == {row.id for row in screen.rows}
        with demo_db.session() as s:
            settings = card_settings(s, app.session.actor, [row.id for row in screen.rows])
        table = screen.query_one(DataTable)
        # At 80 columns the texts are cut to their column's width, ending in "…".
        widths = {key: width for key, _label, width in screen.columns()}
        for index, row in enumerate(screen.rows):
            cells = [str(cell) for cell in table.get_row_at(index)]
            expected = zip(cl.limits_text(settings[row.id]), ("limits", "limit_action", "not_allowed"))
            assert tuple(cells[2:5]) == tuple(cl.clip(text, widths[key]) for text, key in expected)
        with_limits = next(i for i, row in enumerate(screen.rows)
                           if any(limit.amount is not None for limit in settings[row.id].limits))
        cell = str(table.get_row_at(with_limits)[2])
        assert "€/" in cell
        await pilot.press("f6")
        await ui.settle(pilot)
        assert screen.view == "controls"
        cells = [str(cell) for cell in table.get_row_at(0)]
        texts = cl.controls_text(settings[screen.rows[0].id])
        widths = {key: width for key, _label, width in screen.columns()}
        assert cells[2:5] == [cl.clip(texts[key], widths[key]) for key in ("weekdays", "hours", "countries")]
        # A new search in a settings view reads the settings with the page.
        await search(pilot, ui, "1-LVT")
        assert screen.rows and set(screen.settings) == {row.id for row in screen.rows}


def test_settings_texts():
    from datetime import date
    from decimal import Decimal

    from store.models import LimitAction, LimitPeriod, Product, ProductType
    from store.queries.card_settings import CardSettings
    from store.queries.fleet_export import ExportLimit

    settings = CardSettings(
        card_id=1, product_type=ProductType.FLEET_CARD,
        limits=(ExportLimit(Product.DIESEL, True, Decimal("300.00"), None, LimitPeriod.WEEK, LimitAction.BLOCK),
                ExportLimit(Product.ADBLUE, True, None, Decimal("50.000"), LimitPeriod.DAY, LimitAction.NOTIFY),
                ExportLimit(Product.SHOP, False, None, None, LimitPeriod.DAY, LimitAction.BLOCK)),
        allowed_countries=("BE", "FR", "NL"), allowed_weekdays=(1, 2, 3, 4, 5), hours_from="06:00",
        hours_to="20:00", forbidden_days=(date(2026, 12, 25),), odometer_prompt=True,
        tank_capacity_l=Decimal("80.000"), max_transactions_per_day=3)
    assert cl.limits_text(settings) == ("Diesel 300 €/week · AdBlue 50 l/day", "block/notify", "Shop")
    assert cl.controls_text(settings) == {"weekdays": "Mon–Fri", "hours": "06:00–20:00", "countries": "BE FR NL",
                                          "max_tx": "3", "odometer": "yes", "tank": "80 l", "forbidden": "25/12"}
    plain = CardSettings(card_id=2, product_type=ProductType.FLEET_CARD, limits=(), allowed_countries=(),
                         allowed_weekdays=(1, 2, 3, 4, 5, 6, 7), hours_from=None, hours_to=None, forbidden_days=(),
                         odometer_prompt=False, tank_capacity_l=None, max_transactions_per_day=None)
    assert cl.limits_text(plain) == ("no limits", "—", "—")
    texts = cl.controls_text(plain)
    assert (texts["weekdays"], texts["hours"], texts["countries"]) == ("all", "all day", "all")
    assert cl.controls_text(CardSettings(**{**plain.__dict__, "allowed_weekdays": (1, 7)}))["weekdays"] == "Mon Sun"


async def test_range_marks_survive_window_moves(big_db, ui, monkeypatch):
    monkeypatch.setattr(cl, "PAGE", 10)
    monkeypatch.setattr(cl, "WINDOW", 30)
    app = CardsOnlineApp(big_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        everything = store_order(big_db, app)
        table = screen.query_one(DataTable)
        table.focus()
        await pilot.press("a")  # nothing marked: told how
        await ui.settle(pilot)
        assert "Mark cards with Space" in screen.query_one(MessageLine).text
        await pilot.press("down", "down", "down", "down")
        for _ in range(40):  # Shift+Down marks a range, across three window moves
            await pilot.press("shift+down")
            if screen.fetching:
                await ui.settle(pilot)
        assert screen.query_one(MessageLine).text == ""  # the hint went with the first mark
        assert list(screen.marked) == everything[4:45]
        assert "41 marked." in count_text(screen)
        assert screen.current_row().id == everything[44]
        for _ in range(44):
            await pilot.press("up")
            if screen.fetching:
                await ui.settle(pilot)
        assert screen.current_row().id == everything[0]
        marks = [str(table.get_row_at(i)[0]) for i in range(len(screen.rows))]
        assert marks == ["✓" if row.id in everything[4:45] else "" for row in screen.rows]
        await pilot.press("shift+up")  # on the first row: marks it, nothing above
        await ui.settle(pilot)
        assert everything[0] in screen.marked and screen.current_row().id == everything[0]


async def test_mark_all_that_match_opens_bulk_on_the_filter(demo_db, ui):
    from store.queries.card_filter import CardFilter
    from tui.screens.bulk_actions import BulkActionsScreen

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "cards.manage")
        screen.query_one("#card-status", Select).value = "active"
        await settle_search(pilot, ui)
        active = len(screen.rows)
        table = screen.query_one(DataTable)
        table.focus()
        await pilot.press("space")
        await pilot.press("ctrl+a")
        await ui.settle(pilot)
        assert screen.all_matching and not screen.marked
        assert count_text(screen) == f"All {active} cards that match are marked."
        assert {str(table.get_row_at(i)[0]) for i in range(active)} == {"✓"}
        await pilot.press("ctrl+a")  # again: nothing marked
        await ui.settle(pilot)
        assert not screen.all_matching and count_text(screen) == f"{active} cards match."
        assert {str(table.get_row_at(i)[0]) for i in range(active)} == {""}
        await pilot.press("ctrl+a", "space")  # Space ends it too
        assert not screen.all_matching and not screen.marked
        await pilot.press("ctrl+a")
        captured = []
        original = BulkActionsScreen.__init__

        def capture(self, selection, *args, **kwargs):
            captured.append(selection)
            original(self, selection, *args, **kwargs)

        BulkActionsScreen.__init__ = capture
        try:
            await pilot.press("a")
            await ui.settle(pilot)
        finally:
            BulkActionsScreen.__init__ = original
        assert isinstance(captured[0], CardFilter)
        assert [status.value for status in captured[0].statuses] == ["active"]
