"""My cards and OBUs: Manage cards and OBUs (search, block, delete, cancel, PIN reissue) and My requests."""
from __future__ import annotations

import inspect

from sqlmodel import select
from textual.binding import Binding
from textual.widgets import DataTable, Input, Select

from store.models import Card, CardStatus, RenewalStatus, Request, RequestKind
from tui.app import CardsOnlineApp
from tui.menu import MENU, visible_menu
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
        if screen._search_timer is None and not screen.loading:
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
        assert settings == ["", "Number", "Rk", "Plate/name", "Code type", "Created", "Category", "Vehicle type"]
        table = screen.query_one(DataTable)
        assert table.row_count == count == len(screen.rows)
        first = screen.rows[0]
        cells = [str(cell) for cell in table.get_row_at(0)]
        assert cells[4] in ("PIN", "Driver code") and cells[6] == (first.category or "")
        await pilot.press("f6")
        await ui.settle(pilot)
        assert column_labels(screen) == general


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
