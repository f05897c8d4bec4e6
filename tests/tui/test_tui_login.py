"""Login, logout and idle logout, driven through the pilot at 80×24."""
from __future__ import annotations

import threading

from textual.widgets import Button, Input, Label

from store.services.auth import WRONG_CREDENTIALS
from tui.app import CardsOnlineApp
from tui.screens.home import HomeScreen
from tui.screens.login import LoginScreen
from tui.widgets.header import SessionHeader
from tui.widgets.main_menu import MainMenu
from tui.widgets.message_line import MessageLine


def login_message(app) -> MessageLine:
    return app.screen.query_one("#login-message", MessageLine)


async def test_login_shows_home_with_menu_and_header(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        # The demo hint: one discreet line with the demo logins.
        demo_line = str(app.screen.query_one("#demo-logins", Label).content)
        assert "fleetadmin / Fleet#2026" in demo_line and "depot / Depot#2026" in demo_line

        await pilot.press(*"fleetadmin", "enter")  # Enter in the user name moves to the password
        assert app.screen.focused.id == "password"
        await pilot.press(*"Fleet#2026", "enter")
        await ui.settle(pilot)

        assert isinstance(app.screen, HomeScreen)
        assert app.session.username == "fleetadmin"
        assert app.active_customer_number.number == "4020001"
        menu = app.screen.query_one(MainMenu)
        # Every registered item fleetadmin may use (all rights), in the registry's order.
        from tui.menu import MENU

        shown = [item.id for item in menu.numbered]
        assert shown == [item.id for item in MENU if item.id in shown]
        assert {"account.change_password", "account.two_factor", "account.users", "cards.create", "cards.manage",
                "cards.requests"} <= set(shown)
        assert menu.has_focus
        header = app.screen.query_one(SessionHeader).session_text()
        assert "fleetadmin" in header and "4020001" in header
        summary = str(app.screen.query_one("#summary-customer", Label).content)
        assert summary == "Transports Dubois NV"
        # 09:00 UTC is 10:00 in Brussels, the customer's time zone.
        assert str(app.screen.query_one("#summary-login", Label).content) == "26/11/2026 10:00"


async def test_no_demo_line_without_demo(db, ui):
    app = CardsOnlineApp(db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        assert not app.screen.query_one("#demo-logins", Label).display


async def test_auto_type_burst_lands_in_the_right_fields(demo_db, ui):
    """"user⇥password⏎" arriving in one burst: the password must not end up in the user name field."""
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        ui.send_burst(app, [*"depot", "tab", *"Depot#2026", "enter"])
        await pilot.pause(0.3)
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("1")
        await ui.settle(pilot)
        ui.send_burst(app, [*"Depot#2026", "enter", *"abc", "enter", *"abd", "enter"])
        await pilot.pause(0.3)
        await ui.settle(pilot)
        values = [app.screen.query_one(f"#{f}", Input).value for f in ("current", "new", "confirmation")]
        assert values == ["Depot#2026", "abc", "abd"]
        assert app.screen.query_one(MessageLine).lines == ("The new password and its confirmation differ.",)


async def test_palette_opened_while_the_password_is_checked_does_not_linger(demo_db, ui):
    """A fast typist presses Ctrl+P before the home screen shows: that palette must not stay under the home
    screen, where the next Ctrl+P crashed the app with a duplicate palette."""
    from textual.command import CommandPalette

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        ui.send_burst(app, [*"accounting", "tab", *"Books#2026", "enter", "ctrl+p", *"budget"])
        await pilot.pause(0.3)
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert not any(isinstance(screen, CommandPalette) for screen in app.screen_stack)
        await pilot.press("ctrl+p")
        await ui.settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        assert sum(isinstance(screen, CommandPalette) for screen in app.screen_stack) == 1


async def test_wrong_password_and_unknown_user_get_the_same_message(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "wrong-password")
        assert isinstance(app.screen, LoginScreen)
        message = login_message(app)
        assert message.text == WRONG_CREDENTIALS and message.has_class("-error")
        # The user name stays, the password is cleared and focused for the next try.
        assert app.screen.query_one("#username", Input).value == "fleetadmin"
        assert app.screen.query_one("#password", Input).value == ""
        assert app.screen.focused.id == "password"

        await ui.login(pilot, "nobody", "whatever1!")
        assert login_message(app).text == WRONG_CREDENTIALS
        assert app.session is None


async def test_account_locked_after_five_failures(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        for attempt in range(5):
            await ui.login(pilot, "depot", f"wrong{attempt}")
            assert login_message(app).text == WRONG_CREDENTIALS
        await ui.login(pilot, "depot", "Depot#2026")  # right password, but locked now
        assert isinstance(app.screen, LoginScreen)
        assert "locked" in login_message(app).text
        assert app.session is None


async def test_intern_refused_after_validity_period(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "intern", "Intern#2026")
        assert isinstance(app.screen, LoginScreen)
        assert login_message(app).text == "Your access ended on 30/06/2026. Ask your administrator."


async def test_empty_fields_are_asked_for_without_a_check(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        await pilot.click("#login")
        assert login_message(app).text == "Type your user name."
        await ui.fill_login(pilot, "depot", "")
        await pilot.press("enter")
        assert login_message(app).text == "Type your password."


async def test_check_runs_in_a_worker_and_shows_checking(demo_db, ui, monkeypatch):
    """The password check must not freeze the screen: while it runs, the UI answers and says so."""
    import tui.session

    release = threading.Event()
    real_open_session = tui.session.open_session

    def slow_open_session(*args, **kwargs):
        release.wait(5)
        return real_open_session(*args, **kwargs)

    monkeypatch.setattr(tui.session, "open_session", slow_open_session)
    messages = []
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size, message_hook=messages.append) as pilot:
        await ui.fill_login(pilot, "depot", "Depot#2026")
        await pilot.press("enter")
        await pilot.pause()
        assert login_message(app).text == "Checking…"
        assert app.screen.query_one("#password", Input).disabled
        assert app.screen.query_one("#login", Button).disabled
        await pilot.press("f1")  # the event loop still answers while the check runs
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        release.set()
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert any(isinstance(m, LoginScreen.Succeeded) for m in messages)


async def test_logout_returns_to_login_and_clears_state(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await pilot.press("1")  # open Change my password, a screen above the home
        await ui.settle(pilot)
        assert len(app.screen_stack) == 3  # login, home, change password
        await pilot.press("ctrl+l")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert len(app.screen_stack) == 1  # only the login screen, emptied: nothing of the session stays
        assert app.session is None and app.active_customer_number is None
        assert app.screen.query_one("#username", Input).value == ""
        assert app.screen.query_one(SessionHeader).session_text() == ""
        assert login_message(app).text == "You have logged out."
        # Log out is not offered on the login screen.
        assert "logout" not in {b.binding.id for b in app.screen.active_bindings.values()}


async def test_idle_logout(demo_db, ui):
    messages = []
    app = CardsOnlineApp(demo_db, idle_timeout=0.3)
    async with app.run_test(size=ui.size, message_hook=messages.append) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await pilot.pause(0.6)
        await ui.settle(pilot)
        assert any(isinstance(m, LoginScreen.Succeeded) for m in messages)  # the home was reached
        assert isinstance(app.screen, LoginScreen)
        assert app.session is None and app.active_customer_number is None
        message = login_message(app)
        assert message.text == "You were logged out after 0.3 seconds without activity."
        assert message.has_class("-warning")


async def test_activity_postpones_idle_logout_and_logout_clears_dialogs(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await pilot.press("1", "f3")  # a screen and a dialog above the home
        await ui.settle(pilot)
        app.idle_timeout = 1.0  # counts from now
        await pilot.pause(0.5)
        await pilot.press("down")  # activity
        await pilot.pause(0.6)
        assert app.session is not None  # 1.1 s since the new timeout, 0.6 s since the key
        await pilot.pause(1.0)
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert len(app.screen_stack) == 1  # only the login screen, emptied: nothing of the session stays
        assert app.session is None


def test_idle_notice_in_minutes(demo_db):
    assert CardsOnlineApp(demo_db).idle_notice() == "You were logged out after 15 minutes without activity."
