"""My account -> Change my password, Multipass, F1 help, bindings and start-up weight."""
from __future__ import annotations

import inspect
import subprocess
import sys

from textual.binding import Binding
from textual.widgets import Input, Static

import tui.app
from tui.app import CardsOnlineApp
from tui.screens.change_password import ChangePasswordScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.login import LoginScreen
from tui.screens.switch_customer import SwitchCustomerScreen
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine


async def open_change_password(pilot, ui, username="fleetadmin", password="Fleet#2026"):
    await ui.login(pilot, username, password)
    from tui.menu import MENU

    pilot.app.open_menu_item(next(item for item in MENU if item.id == "account.change_password"))
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, ChangePasswordScreen)


async def type_passwords(pilot, current: str, new: str, confirmation: str) -> None:
    # Typed key by key, Enter moving to the next field and submitting from the last one.
    await pilot.press(*current, "enter", *new, "enter", *confirmation, "enter")


async def test_change_password_then_log_in_with_it(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_change_password(pilot, ui)
        policy = str(app.screen.query_one("#password-policy", Static).content)
        assert "at least 7 characters" in policy and "previous 4 passwords" in policy
        await type_passwords(pilot, "Fleet#2026", "Truck!2027", "Truck!2027")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert [n.message for n in app._notifications] == ["Your password has been changed."]

        await pilot.press("ctrl+l")
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        assert isinstance(app.screen, LoginScreen)  # the old password no longer works
        await ui.login(pilot, "fleetadmin", "Truck!2027")
        assert isinstance(app.screen, HomeScreen)


async def test_change_password_lists_every_broken_rule_and_keeps_input(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_change_password(pilot, ui)
        await type_passwords(pilot, "Fleet#2026", "abc", "abc")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChangePasswordScreen)
        message = screen.query_one("#password-message", MessageLine)
        assert message.has_class("-error")
        assert message.lines == (
            "• The password must have at least 7 characters (it has 3).",
            "• The password must contain at least 1 digit.",
            "• The password must contain at least 1 special character (such as # ! ? @ %).",
        )
        # Nothing typed is lost, the fields answer again, and the focus is on the field to fix.
        assert [screen.query_one(f"#{f}", Input).value for f in ("current", "new", "confirmation")] == [
            "Fleet#2026", "abc", "abc"]
        assert not screen.query_one("#new", Input).disabled
        assert screen.focused.id == "new"


async def test_change_password_wrong_current_and_mismatch(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_change_password(pilot, ui, "depot", "Depot#2026")
        await type_passwords(pilot, "nope", "Depot#2027", "Depot#2027")
        await ui.settle(pilot)
        screen = app.screen
        assert screen.query_one(MessageLine).lines == ("The current password is wrong.",)
        assert screen.focused.id == "current"

        screen.query_one("#current", Input).value = "Depot#2026"
        screen.query_one("#confirmation", Input).value = "Depot#2028"
        await pilot.click("#save")
        await ui.settle(pilot)
        assert screen.query_one(MessageLine).lines == ("The new password and its confirmation differ.",)
        assert screen.focused.id == "confirmation"

        await pilot.press("escape")  # back to the home, nothing changed
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_multipass_switch_changes_active_number_and_header(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        assert app.active_customer_number.number == "4020001"
        await pilot.press("f3")
        await ui.settle(pilot)
        assert isinstance(app.screen, SwitchCustomerScreen)
        await pilot.press("down", "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.active_customer_number.number == "4020002"
        assert app.active_customer_number.name == "Dubois Liège"
        header = app.screen.query_one(SessionHeader)
        assert "4020002" in str(header.query_one("#header-session").content)
        assert "4020002" in str(app.screen.query_one("#summary-customer-number").content)

        await pilot.press("f3", "escape")  # cancelling keeps the choice
        await ui.settle(pilot)
        assert app.active_customer_number.number == "4020002"

        # The choice follows the user to the next screens.
        await pilot.press("1")
        await ui.settle(pilot)
        assert "4020002" in app.screen.query_one(SessionHeader).session_text()


async def test_single_customer_number_has_no_switch(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert app.active_customer_number.number == "4020001"
        active = {b.binding.id for b in app.screen.active_bindings.values()}
        assert "switch_customer" not in active and "logout" in active
        await pilot.press("f3")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_f1_help_lists_the_screen_keys(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.help_title == "Log in"
        await pilot.press("escape")
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await pilot.press("f1")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert help_screen.help_title == "Main menu" and help_screen.help_text
        keys = dict(help_screen.keys)
        assert keys["F1"] == "Help" and keys["F3"] == "Customer no." and keys["^l"] == "Log out"
        assert "1–9" in keys
        await pilot.press("f1")  # F1 again closes it
        assert isinstance(app.screen, HomeScreen)


async def test_keymap_remaps_by_binding_id(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        app.set_keymap({"logout": "f10"})
        await ui.login(pilot, "depot", "Depot#2026")
        assert app.key_for("logout") == "F10"
        await pilot.press("f10")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)


def test_every_binding_has_an_id():
    import tui.screens.base
    import tui.screens.change_password
    import tui.screens.help
    import tui.screens.home
    import tui.screens.login
    import tui.screens.switch_customer
    import tui.widgets.main_menu

    modules = [tui.app, tui.screens.base, tui.screens.change_password, tui.screens.help, tui.screens.home, tui.screens.login,
               tui.screens.switch_customer, tui.widgets.main_menu]
    checked = 0
    for module in modules:
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for binding in cls.__dict__.get("BINDINGS", []):
                assert isinstance(binding, Binding) and binding.id, f"{cls.__name__}: {binding}"
                checked += 1
    assert checked >= 6


def test_app_module_starts_light():
    """Start-up: importing the app must not pull in SQLAlchemy, SQLModel or argon2."""
    code = ("import sys, tui.app; heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'argon2', 'store.services') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
