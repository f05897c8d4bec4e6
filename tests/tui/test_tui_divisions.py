"""My account -> Manage fleet divisions, with the keyboard: create, rename, delete (asks first; the store's
refusal shown as is), move cards and driver codes, and the active customer number (F3)."""
from __future__ import annotations

from sqlmodel import select
from textual.widgets import DataTable, Input

from store.models import Card, CardStatus, DriverCode, FleetDivision
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.card_form import ConfirmDialog
from tui.screens.divisions import DivisionsScreen, NameDialog, TargetDialog
from tui.screens.switch_customer import SwitchCustomerScreen
from tui.widgets.message_line import MessageLine


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


async def open_divisions(pilot, ui) -> DivisionsScreen:
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.open_menu_item(item("account.divisions"))
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, DivisionsScreen)
    return pilot.app.screen


def names(screen: DivisionsScreen) -> list[str]:
    return [row.name for row in screen.rows]


async def highlight(pilot, screen: DivisionsScreen, name: str) -> None:
    screen.query_one(DataTable).move_cursor(row=names(screen).index(name))
    await pilot.pause()


def division_id(db, name: str) -> int:
    with db.session() as session:
        return session.exec(select(FleetDivision.id).where(FleetDivision.name == name)).one()


async def test_the_list_shows_the_active_customer_numbers_divisions_and_follows_f3(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        assert names(screen) == ["Distribution", "Long haul"]
        with demo_db.session() as session:
            cards = len(session.exec(select(Card).where(Card.division_id == division_id(demo_db, "Distribution")))
                        .all())
        assert screen.rows[0].cards == cards
        assert "4020001" in str(screen.query_one("#divisions-title").content)

        await pilot.press("f3")
        await ui.settle(pilot)
        assert isinstance(app.screen, SwitchCustomerScreen)
        await pilot.press("down", "enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert names(screen) == ["Management"]
        assert "4020002" in str(screen.query_one("#divisions-title").content)


async def test_create_then_rename_a_division(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        await pilot.press("n")
        await ui.settle(pilot)
        assert isinstance(app.screen, NameDialog)
        await pilot.press(*"  Zone Nord ", "enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert names(screen) == ["Distribution", "Long haul", "Zone Nord"]
        assert screen.query_one(MessageLine).text == "The fleet division Zone Nord is created."

        await highlight(pilot, screen, "Zone Nord")
        await pilot.press("r")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, NameDialog) and dialog.query_one(Input).value == "Zone Nord"
        dialog.query_one(Input).value = "Zone Noord"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert names(screen) == ["Distribution", "Long haul", "Zone Noord"]
        assert screen.query_one(MessageLine).text == "The fleet division Zone Nord is now called Zone Noord."


async def test_a_refused_name_keeps_the_dialog_and_the_input(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        await pilot.press("n", *"long haul", "enter")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, NameDialog)
        assert dialog.query_one(MessageLine).text == (
            "Customer number 4020001 already has a fleet division named “long haul”: choose another name.")
        assert dialog.query_one(Input).value == "long haul"
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen and names(screen) == ["Distribution", "Long haul"]


async def test_delete_asks_first_and_shows_the_stores_refusal(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        await highlight(pilot, screen, "Distribution")
        await pilot.press("delete")
        await ui.settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # keep it
        await ui.settle(pilot)
        assert app.screen is screen and "Distribution" in names(screen)

        await pilot.press("delete", "y")
        await ui.settle(pilot)
        message = screen.query_one(MessageLine)
        assert message.has_class("-error")
        assert message.text.startswith("The fleet division Distribution still holds ")
        assert "move them to another division first" in message.text
        assert "Distribution" in names(screen)

        # An empty division goes.
        await pilot.press("n", *"Temporary", "enter")
        await ui.settle(pilot)
        await highlight(pilot, screen, "Temporary")
        await pilot.press("delete", "y")
        await ui.settle(pilot)
        assert "Temporary" not in names(screen)
        assert screen.query_one(MessageLine).text == "The fleet division Temporary is deleted."


async def test_move_cards_and_driver_codes_then_delete_what_is_left(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        long_haul = division_id(demo_db, "Long haul")
        before = {row.name: row for row in screen.rows}
        await highlight(pilot, screen, "Long haul")
        await pilot.press("m")
        await ui.settle(pilot)
        assert isinstance(app.screen, TargetDialog)
        await pilot.press("enter")  # the only other division: Distribution
        await ui.settle(pilot)
        after = {row.name: row for row in screen.rows}
        assert after["Long haul"].movable_cards == 0
        assert after["Distribution"].cards == before["Distribution"].cards + before["Long haul"].movable_cards
        message = screen.query_one(MessageLine).text
        assert message.startswith(f"{before['Long haul'].movable_cards} cards and OBUs moved to Distribution.")
        assert screen.current().name == "Distribution"  # the cursor follows the cards

        await highlight(pilot, screen, "Long haul")
        await pilot.press("c", "enter")
        await ui.settle(pilot)
        with demo_db.session() as session:
            assert session.exec(select(DriverCode).where(DriverCode.division_id == long_haul)).all() == []
            final = session.exec(select(Card).where(Card.division_id == long_haul)).all()
        assert all(card.status in (CardStatus.BLOCKED, CardStatus.DELETED, CardStatus.EXPIRED) for card in final)
        assert {row.name: row for row in screen.rows}["Long haul"].driver_codes == 0


async def test_no_other_division_to_move_to(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_divisions(pilot, ui)
        await pilot.press("f3")
        await ui.settle(pilot)
        await pilot.press("down", "enter")
        await ui.settle(pilot)
        await pilot.press("m")
        await ui.settle(pilot)
        assert app.screen is screen
        assert screen.query_one(MessageLine).text == (
            "There is no other fleet division in this customer number: create one first (n).")
