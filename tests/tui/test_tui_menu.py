"""The main menu registry: an item shows only when its screen exists, the user holds the right and the
customer has the option that right needs."""
from __future__ import annotations

import pytest
from sqlmodel import select
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Label

from store.models import Customer, CustomerOption, Right
from tui.app import CardsOnlineApp
from tui.menu import GROUPS, MENU, MenuItem, register, visible_menu
from tui.screens.home import HomeScreen
from tui.widgets.main_menu import MainMenu


class FakeCardsScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    def compose(self) -> ComposeResult:
        yield Label("fake cards screen")


FAKE_CREATE = MenuItem(id="cards.create", group="cards", label="Create a card or OBU", screen=FakeCardsScreen,
                       right=Right.CARD_CREATE)
FAKE_DRIVER_CODES = MenuItem(id="driver_codes.manage", group="driver_codes", label="Manage driver codes",
                             screen=FakeCardsScreen, right=Right.DRIVER_CODES_MANAGE)
# A registry of its own: the real one grows with every screen, these tests are about the mechanism.
TEST_MENU = [*(item for item in MENU if item.id == "account.change_password"), FAKE_CREATE, FAKE_DRIVER_CODES]


def menu_ids(app) -> list[str]:
    return [item.id for item in app.screen.query_one(MainMenu).numbered]


def drop_option(db, option: CustomerOption) -> None:
    with db.session() as session:
        customer = session.exec(select(Customer)).one()
        customer.options = [o for o in customer.options if o != option.value]
        session.add(customer)
        session.commit()


def test_visible_menu_filters_by_right_and_drops_empty_groups():
    assert [(g.id, [i.id for i in items]) for g, items in visible_menu(set(), TEST_MENU)] == [
        ("account", ["account.change_password"]),
    ]
    shown = visible_menu({Right.CARD_CREATE}, TEST_MENU)
    assert [(g.id, [i.id for i in items]) for g, items in shown] == [
        ("account", ["account.change_password"]),
        ("cards", ["cards.create"]),
    ]
    # Rights may be given as store enums or as their values.
    assert visible_menu({"driver_codes.manage"}, TEST_MENU)[-1][0].id == "driver_codes"


def test_registry_is_sound():
    ids = [item.id for item in MENU]
    assert len(ids) == len(set(ids))
    rights = {r.value for r in Right}
    for item in MENU:
        assert item.right is None or item.right in rights
        assert issubclass(item.screen_class(), Screen)  # the screen exists: no placeholders
    with pytest.raises(ValueError):
        MenuItem(id="x", group="nowhere", label="X", screen=FakeCardsScreen)
    registry = list(TEST_MENU)
    with pytest.raises(ValueError):
        register(FAKE_CREATE, registry)
    assert {g.id for g in GROUPS} >= {item.group for item in MENU}


async def test_item_hidden_for_depot_shown_for_fleetadmin(demo_db, ui):
    app = CardsOnlineApp(demo_db, menu=TEST_MENU)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert isinstance(app.screen, HomeScreen)
        # depot lacks cards.create but holds driver_codes.manage
        assert menu_ids(app) == ["account.change_password", "driver_codes.manage"]
        await pilot.press("ctrl+l")
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        assert menu_ids(app) == ["account.change_password", "cards.create", "driver_codes.manage"]
        await pilot.press("2")  # digits open an item at once
        await ui.settle(pilot)
        assert isinstance(app.screen, FakeCardsScreen)


async def test_right_without_customer_option_is_hidden(demo_db, ui):
    drop_option(demo_db, CustomerOption.DRIVER_CODES)
    app = CardsOnlineApp(demo_db, menu=TEST_MENU)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")  # holds driver_codes.manage, customer lacks the option
        assert menu_ids(app) == ["account.change_password"]
        option_ids = [option.id for option in app.screen.query_one(MainMenu).options]
        assert "group:driver_codes" not in option_ids  # a group with no visible item is not shown


async def test_menu_keyboard_arrows_enter_and_type_ahead(demo_db, ui):
    app = CardsOnlineApp(demo_db, menu=TEST_MENU)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        menu = app.screen.query_one(MainMenu)
        assert menu.highlighted_item.id == "account.change_password"
        await pilot.press("down")
        assert menu.highlighted_item.id == "cards.create"
        await pilot.press("down")  # skips the group heading
        assert menu.highlighted_item.id == "driver_codes.manage"
        await pilot.press("down")  # wraps round
        assert menu.highlighted_item.id == "account.change_password"
        await pilot.press("end")
        assert menu.highlighted_item.id == "driver_codes.manage"
        await pilot.press("c")  # type-ahead: the next item starting with "c", wrapping round
        assert menu.highlighted_item.id == "account.change_password"
        await pilot.press("c")
        assert menu.highlighted_item.id == "cards.create"
        await pilot.press("m")
        assert menu.highlighted_item.id == "driver_codes.manage"
        await pilot.press("up", "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, FakeCardsScreen)
        await pilot.press("escape")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_command_palette_lists_menu_items(demo_db, ui):
    from tui.app import MenuCommands

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        provider = MenuCommands(app.screen)
        entries = [text for text, _item in provider._entries()]
        # depot may manage cards but not create them or follow requests
        assert entries == ["My account: Change my password", "My account: Two-factor sign-in", "My account: Language",
                           "My cards and OBUs: Manage cards and OBUs", "My driver codes: Search driver codes",
                           "Daily follow-up: Daily transactions"]
