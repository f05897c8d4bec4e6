"""My cards and OBUs -> Renewal status and Renewal board (pilot), on the demo (fixed clock 26/11/2026)."""
from __future__ import annotations

from sqlmodel import select
from textual.widgets import DataTable, Static

from store.models import Card, CardLimit, Product, RenewalStatus
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.renewal_board import RenewalBoardScreen
from tui.screens.renewal_status import RenewalConfigDialog, RenewalStatusScreen
from tui.widgets.message_line import MessageLine


def menu_item(item_id):
    return next(item for item in MENU if item.id == item_id)


async def open_screen(pilot, ui, item_id, user="fleetadmin", password="Fleet#2026"):
    await ui.login(pilot, user, password)
    pilot.app.open_menu_item(menu_item(item_id))
    await ui.settle(pilot)


def card_row(screen: RenewalStatusScreen, status: RenewalStatus, editable: bool = True) -> int:
    """The table row of the first card with this renewal status."""
    table = screen.query_one(DataTable)
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key((index, 0)).row_key.value
        found = screen.cards.get(key)
        if found and found[0].renewal_status is status and found[0].editable == editable:
            return index
    raise AssertionError(f"no {status} card on the screen")


def renewal_status(db, card_id) -> RenewalStatus:
    with db.session() as session:
        return session.get(Card, card_id).renewal_status


async def test_the_status_lists_the_campaign_by_month_and_explains_cancelled_cards(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal")
        screen = app.screen
        assert isinstance(screen, RenewalStatusScreen)
        table = screen.query_one(DataTable)
        assert screen.months and screen.cards
        first = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert first in screen.months  # a month's line comes before its cards
        table.move_cursor(row=card_row(screen, RenewalStatus.CANCELLED))
        await pilot.pause()
        explain = str(screen.query_one("#renewal-explain", Static).content)
        assert "notice" in explain and "update until" in explain
        assert "not renewed" in explain


async def test_cancel_and_renew_from_the_list(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal")
        screen = app.screen
        table = screen.query_one(DataTable)
        table.move_cursor(row=card_row(screen, RenewalStatus.CANDIDATE))
        card_id = screen.highlighted()[0].card_id
        await pilot.press("x")
        await ui.settle(pilot)
        assert renewal_status(demo_db, card_id) is RenewalStatus.CANCELLED
        assert "will not be renewed" in screen.query_one(MessageLine).text
        table.move_cursor(row=next(i for i in range(table.row_count)
                                   if table.coordinate_to_cell_key((i, 0)).row_key.value == str(card_id)))
        await pilot.press("r")
        await ui.settle(pilot)
        assert renewal_status(demo_db, card_id) is RenewalStatus.CANDIDATE
        # Renewing a Candidate is refused with the reason.
        await pilot.press("r")
        await ui.settle(pilot)
        assert "already Candidate" in screen.query_one(MessageLine).text


async def test_bulk_cancel_on_marked_cards_reports_per_card(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal")
        screen = app.screen
        table = screen.query_one(DataTable)
        table.move_cursor(row=card_row(screen, RenewalStatus.CANDIDATE))
        candidate = screen.highlighted()[0].card_id
        await pilot.press("space")
        table.move_cursor(row=card_row(screen, RenewalStatus.CANCELLED))
        cancelled = screen.highlighted()[0].card_id
        await pilot.press("space")
        assert set(screen.marked) == {candidate, cancelled}
        await pilot.press("x")
        await ui.settle(pilot)
        assert renewal_status(demo_db, candidate) is RenewalStatus.CANCELLED
        text = screen.query_one(MessageLine).text
        assert "1 of 2 cards done." in text and "already Cancelled" in text
        assert not screen.marked


async def test_change_the_configuration_of_the_renewed_card(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal")
        screen = app.screen
        screen.query_one(DataTable).move_cursor(row=card_row(screen, RenewalStatus.CANDIDATE))
        card_id = screen.highlighted()[0].card_id
        await pilot.press("c")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RenewalConfigDialog)
        dialog.query_one("#f-limits-car_wash-allowed").value = False  # no car wash on the new card
        dialog.query_one("#f-limits-car_wash-amount").value = ""
        dialog.query_one("#f-limits-car_wash-volume").value = ""
        amount = dialog.query_one("#f-limits-diesel-amount")
        amount.value = "123"
        dialog.query_one("#f-limits-diesel-allowed").value = True
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert app.screen is screen, app.screen.query_one(MessageLine).text
        assert "settings changed" in screen.query_one(MessageLine).text
        with demo_db.session() as session:
            diesel = session.exec(select(CardLimit).where(CardLimit.card_id == card_id,
                                                          CardLimit.product == Product.DIESEL)).one()
            assert diesel.amount == 123
            assert not session.exec(select(CardLimit).where(CardLimit.card_id == card_id,
                                                            CardLimit.product == Product.CAR_WASH,
                                                            CardLimit.allowed == True)).all()  # noqa: E712


async def test_a_wrong_amount_is_shown_under_its_field_and_nothing_is_saved(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal")
        screen = app.screen
        screen.query_one(DataTable).move_cursor(row=card_row(screen, RenewalStatus.CANDIDATE))
        await pilot.press("c")
        await ui.settle(pilot)
        dialog = app.screen
        dialog.query_one("#f-limits-adblue-amount").value = "-5"
        dialog.query_one("#f-limits-adblue-allowed").value = True
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert app.screen is dialog
        assert "problem" in dialog.query_one(MessageLine).text


async def test_the_board_shows_12_months_and_exports(demo_db, ui, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_screen(pilot, ui, "cards.renewal_board")
        screen = app.screen
        assert isinstance(screen, RenewalBoardScreen)
        assert screen.query_one(DataTable).row_count == 12
        assert sum(m.expiring for m in screen.board) > 0
        await pilot.press("ctrl+e")
        await ui.settle(pilot)
        [path] = tmp_path.glob("cardsonline-renewals-*.xlsx")
        assert str(path) in screen.query_one(MessageLine).text
        from openpyxl import load_workbook

        sheet = load_workbook(path).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("Month", "Expiring", "Candidate for renewal") and len(rows) == 13


async def test_without_the_right_the_items_are_not_in_the_menu(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        rights = app.session.rights
        assert ("cards.renewal" in rights) == menu_item("cards.renewal").visible_for(rights)
        if "cards.renewal" not in rights:
            app.open_menu_item(menu_item("cards.renewal"))
            await ui.settle(pilot)
            assert not isinstance(app.screen, RenewalStatusScreen)
