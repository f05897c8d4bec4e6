"""Users through the pilot at 80×24: create → invitation over real SMTP → first login → login; two-factor."""
from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlmodel import select
from textual.widgets import DataTable, Input, SelectionList

from store.models import User
from store.services.outbox import send_pending
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.first_login import FirstLoginScreen
from tui.screens.home import HomeScreen
from tui.screens.login import LoginScreen
from tui.screens.two_factor import SecondFactorScreen, TwoFactorScreen
from tui.screens.users import UserFormScreen, UsersScreen
from tui.widgets.dual_list import DualList
from tui.widgets.message_line import MessageLine


def open_item(app, item_id: str) -> None:
    item = next(i for i in MENU if i.id == item_id)
    app.open_menu_item(item)


async def type_into(pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.pause()
    await pilot.press(*text)


async def test_create_user_invitation_over_smtp_first_login_and_login(demo_db, ui, smtp_server):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        open_item(app, "account.users")
        await ui.settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert app.screen.query_one(DataTable).row_count == 4  # the demo's users

        await pilot.press("ctrl+n")
        await ui.settle(pilot)
        form = app.screen
        assert isinstance(form, UserFormScreen)
        await type_into(pilot, "#user-last-name", "Wouters")
        assert form.query_one("#user-last-name", Input).value == "WOUTERS"  # capitals as typed
        await type_into(pilot, "#user-first-name", "Eva")
        await type_into(pilot, "#user-email", "eva.wouters@dubois.example")
        await type_into(pilot, "#user-phone", "0475123456")
        # Rights with the dual list: filter, move with the keyboard.
        await type_into(pilot, "#dual-filter", "card")
        await pilot.press("enter")  # to the available list
        assert form.focused.id == "dual-available"
        await pilot.press("right", "right")  # Create card/OBU, Manage cards and OBUs
        assert form.query_one(DualList).selected == ["cards.create", "cards.manage"]
        numbers = form.query_one(SelectionList)
        numbers.select(numbers.get_option_at_index(0).value)
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        await pilot.press("y")  # the confirmation
        await ui.settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert "ewouters" in app.screen.query_one(MessageLine).text

        with demo_db.session() as session:
            report = send_pending(session, demo_db.clock.now(), smtp_server.url)
        assert report.sent >= 1
        [mail] = [m for m in smtp_server.messages if m["To"] == "eva.wouters@dubois.example"]
        body = mail.get_content()
        assert "ewouters" in body

        await pilot.press("escape")
        await pilot.press("ctrl+l")  # log out
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("f2")
        await ui.settle(pilot)
        assert isinstance(app.screen, FirstLoginScreen)
        await type_into(pilot, "#first-username", "ewouters")
        await type_into(pilot, "#first-last-name", "Wouters")  # not as entered: WOUTERS
        await type_into(pilot, "#first-first-name", "EVA")
        await type_into(pilot, "#first-phone", "0475123456")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "2 attempts left" in app.screen.query_one(MessageLine).text
        app.screen.query_one("#first-last-name", Input).value = ""
        await type_into(pilot, "#first-last-name", "WOUTERS")
        await pilot.press("enter")  # Enter walks to the next field …
        await pilot.press("enter", "enter")
        await ui.settle(pilot)
        assert app.screen.focused.id == "first-new"
        await pilot.press(*"short", "enter", *"short", "enter")
        await ui.settle(pilot)
        assert "at least 7 characters" in app.screen.query_one(MessageLine).text
        app.screen.query_one("#first-new", Input).value = "Eva#2026!"
        app.screen.query_one("#first-confirmation", Input).value = "Eva#2026!"
        app.screen.query_one("#first-confirmation", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#username", Input).value == "ewouters"
        await pilot.press(*"Eva#2026!", "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.session.username == "ewouters"
        assert app.session.rights == {"cards.create", "cards.manage"}


async def test_users_actions_confirm_and_show_the_store_message(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        open_item(app, "account.users")
        await ui.settle(pilot)
        screen = app.screen
        table = screen.query_one(DataTable)
        names = [screen.rows[i].username for i in range(table.row_count)]
        table.move_cursor(row=names.index("fleetadmin"))
        await pilot.press("ctrl+d", "y")
        await ui.settle(pilot)
        assert "cannot deactivate yourself" in screen.query_one(MessageLine).text
        table.move_cursor(row=names.index("intern"))
        await pilot.press("ctrl+t")
        await ui.settle(pilot)
        await pilot.press("y")
        await ui.settle(pilot)
        assert "now required" in screen.query_one(MessageLine).text
        await pilot.press("ctrl+d")
        await ui.settle(pilot)
        await pilot.press("n")  # changed their mind: nothing happens
        await ui.settle(pilot)
        with demo_db.session() as session:
            intern = session.exec(select(User).where(User.username == "intern")).one()
            assert intern.totp_required and intern.status.value == "active"


async def test_two_factor_turn_on_then_login_asks_the_code(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        open_item(app, "account.two_factor")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, TwoFactorScreen)
        await pilot.click("#turn-on")
        await ui.settle(pilot)
        secret = screen.secret
        assert secret and "otpauth://totp/" in str(screen.query_one("#two-factor-setup").render())
        now = int(demo_db.clock.now().timestamp())
        await type_into(pilot, "#code", "000000")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "wrong or has expired" in screen.query_one(MessageLine).text
        await type_into(pilot, "#code", pyotp.TOTP(secret).at(now))
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "is on" in screen.query_one(MessageLine).text

        await pilot.press("ctrl+l")
        await ui.settle(pilot)
        await ui.login(pilot, "depot", "Depot#2026")
        assert isinstance(app.screen, SecondFactorScreen)
        await pilot.press(*pyotp.TOTP(secret).at(now), "enter")  # the code that turned it on: used
        await ui.settle(pilot)
        assert isinstance(app.screen, SecondFactorScreen)
        assert "already been used" in app.screen.query_one(MessageLine).text
        assert app.screen.query_one("#code").value == ""
        demo_db.clock.advance(timedelta(seconds=30))  # the app's next code
        await pilot.press(*pyotp.TOTP(secret).at(now + 30), "enter")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen) and app.session.username == "depot"


async def test_a_capped_search_says_more_users_match_and_how_to_narrow(demo_db, ui, monkeypatch):
    """The search lists at most USER_SEARCH_LIMIT users; past it the screen says so instead of hiding the rest
    (the cap lowered to the demo's size, 4 users, to see both sides of it)."""
    from store.services import users

    monkeypatch.setattr(users, "USER_SEARCH_LIMIT", 3)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        open_item(app, "account.users")
        await ui.settle(pilot)
        screen = app.screen
        assert screen.query_one(DataTable).row_count == 3 == len(screen.rows)
        with demo_db.session() as session:
            everybody = users.search_users(session, app.session.actor, demo_db.clock.now())
        assert [row.username for row in screen.rows] == [row.username for row in everybody[:3]]  # by name
        assert screen.query_one(MessageLine).text == (
            "More users match than the 3 shown: narrow the search by name, e-mail, right or status.")
        monkeypatch.setattr(users, "USER_SEARCH_LIMIT", 4)
        await type_into(pilot, "#users-name", "")
        await pilot.press("enter")
        await ui.settle(pilot)
        assert screen.query_one(DataTable).row_count == 4
        assert "More users match" not in screen.query_one(MessageLine).text
