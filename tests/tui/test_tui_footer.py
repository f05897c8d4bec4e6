"""The footer at 80 columns (issue 10: usable at 80×24): every key it shows is whole, on every main-menu
screen and whatever has the focus, in English, Dutch and French (the real catalogs); the keys it leaves out for
room are still in F1 help and the palette."""
from __future__ import annotations

import pytest
from sqlmodel import select
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from store.i18n import current_language
from store.models import User
from tui.app import CardsOnlineApp
from tui.menu import visible_menu
from tui.widgets.footer import SESSION_ACTIONS, Footer

TABS = 5  # focus moves per screen: the footer changes with the focused widget


def footer_problems(screen) -> list[str]:
    """The footer keys of `screen` cut off or hidden under the palette key ("^p Commands")."""
    footer = screen.query_one(Footer)
    keys = [key for key in footer.query(FooterKey) if not key.has_class("-command-palette")]
    palette = [key for key in footer.query(FooterKey) if key.has_class("-command-palette")]
    limit = palette[0].region.x if palette else footer.region.right
    problems = []
    for key in keys:
        text = f"{key.key_display} {key.description}"
        if key.region.right > limit or key.region.width < len(text):
            problems.append(f"{type(screen).__name__}: {text!r} ends at {key.region.right} > {limit}")
    session_keys = {key.action for key in keys} & SESSION_ACTIONS
    if session_keys and not getattr(screen, "FOOTER_SESSION_KEYS", False):
        problems.append(f"{type(screen).__name__}: session keys {sorted(session_keys)} in the footer")
    return problems


async def open_item(pilot, ui, item, username: str, password: str) -> None:
    """Open a menu item and get past what stands before its screen (the invoices' password, the card type)."""
    app = pilot.app
    app.open_menu_item(item)
    await ui.settle(pilot)
    screen = app.screen
    if type(screen).__name__ == "ReauthDialog":
        screen.query_one("#reauth-username", Input).value = username
        screen.query_one("#reauth-password", Input).value = password
        screen.query_one("#reauth-password", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
    elif type(screen).__name__ == "ProductTypeDialog":
        await pilot.press("enter")
        await ui.settle(pilot)


def set_user_language(db, username: str, language: str) -> None:
    with db.session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        user.language = language
        session.add(user)
        session.commit()


async def check_every_screen(demo_db, ui, username: str, password: str, language: str = "en") -> list[str]:
    """The footer problems of the login screen and every menu screen the user opens, in `language` (the app's
    before login and the user's own after)."""
    set_user_language(demo_db, username, language)
    app = CardsOnlineApp(demo_db, language=language)
    problems: list[str] = []
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        problems += footer_problems(app.screen)
        await ui.login(pilot, username, password)
        assert current_language() == language
        problems += footer_problems(app.screen)
        opened = 0
        for _group, items in visible_menu(app.session.rights, app.menu):
            for item in items:
                await open_item(pilot, ui, item, username, password)
                assert app.screen.query(Footer), f"{item.id}: {type(app.screen).__name__} has no footer"
                opened += 1
                for _ in range(TABS):
                    problems += footer_problems(app.screen)
                    await pilot.press("tab")
                    await pilot.pause()
                while len(app.screen_stack) > 2:
                    app.pop_screen()
                await ui.settle(pilot)
        assert opened >= 5
    return sorted(set(problems))


LANGUAGES = pytest.mark.parametrize("language", ["en", "nl", "fr"])


@LANGUAGES
async def test_every_footer_fits_at_80_columns_for_the_administrator(demo_db, ui, language):
    assert await check_every_screen(demo_db, ui, "fleetadmin", "Fleet#2026", language) == []


@LANGUAGES
async def test_every_footer_fits_at_80_columns_for_accounting(demo_db, ui, language):
    # Accounting sees the budget report (its B key) and the invoices.
    assert await check_every_screen(demo_db, ui, "accounting", "Books#2026", language) == []


async def test_keys_left_out_of_the_footer_are_in_help_and_the_palette(demo_db, ui):
    from tui.menu import MENU

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await open_item(pilot, ui, next(i for i in MENU if i.id == "account.users"), "fleetadmin", "Fleet#2026")
        screen = app.screen
        footer_actions = {key.action for key in screen.query(FooterKey)}
        assert "resend" not in footer_actions and "logout" not in footer_actions
        help_keys = app.help_keys(screen)
        assert ("^r", "Resend invitation") in help_keys and ("^l", "Log out") in help_keys
        commands = {command.title: command.help for command in app.get_system_commands(screen)}
        assert commands["Resend invitation"] == "^r" and "Log out" in commands


async def test_f1_help_of_a_busy_screen_scrolls_at_80x24_and_its_last_line_stays_visible(demo_db, ui):
    from textual.containers import VerticalScroll

    from tui.menu import MENU
    from tui.screens.help import HelpScreen

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await open_item(pilot, ui, next(i for i in MENU if i.id == "cards.manage"), "fleetadmin", "Fleet#2026")
        await pilot.press("f1")
        await ui.settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        body = help_screen.query_one("#help-body", VerticalScroll)
        hint = help_screen.query_one(".dialog-hint")
        assert hint.region.bottom <= ui.size[1] - 1 and hint.region.height == 1  # inside the border
        assert body.max_scroll_y > 0  # more keys than lines: it scrolls …
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y  # … to the last key, with the keyboard
        last = list(help_screen.query(".help-description"))[-1]
        assert last.region.bottom <= body.region.bottom


def test_help_key_names_read_the_hints_and_the_footer_alike():
    from tui.screens.help import key_names

    assert key_names("Ctrl+S") == key_names("^s") == {"ctrl+s"}
    assert key_names("Esc") == key_names("esc") == {"escape"}
    assert key_names("↑ / ↓") == {"up", "down"} and key_names("/") == {"slash"}
    assert key_names("v c o") == {"v", "c", "o"} and key_names("P") == {"p"}
    assert key_names("Ctrl+→ / Ctrl+←") == {"ctrl+right", "ctrl+left"} == key_names("^→") | key_names("^←")
    assert key_names("[ and ]") >= {"left_square_bracket", "right_square_bracket"}


async def test_f1_help_lists_each_key_once_on_every_screen_of_a_kiosk(demo_db, ui):
    """A screen's own hints ("F7 Sort: choose the column…") and its bindings ("F7 Sort") named the same key
    twice in F1 help, also as "Ctrl+S" and "^s" or "Esc" and "esc"."""
    from tui.menu import MENU
    from tui.screens.help import key_names

    app = CardsOnlineApp(demo_db, kiosk=True)
    duplicates = {}
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        opened = 0
        for _group, items in [("home", [None]), *visible_menu(app.session.rights, app.menu)]:
            for item in items:
                if item is not None:
                    await open_item(pilot, ui, item, "fleetadmin", "Fleet#2026")
                    opened += 1
                # The screen's hints come first and may name a key in two contexts ("↓ / Tab" from the search
                # to the list, "↑ ↓ PgUp PgDn" in the list); each key listed after them must be new.
                help_keys = app.help_keys(app.screen)
                hints = len(getattr(app.screen, "HELP_KEYS", ()))
                named = {name: [key] for key, _text in help_keys[:hints] for name in key_names(key)}
                twice = {}
                for key, _text in help_keys[hints:]:
                    for name in key_names(key):
                        if name in named:
                            twice[name] = [*named[name], key]
                        named.setdefault(name, []).append(key)
                if twice:
                    duplicates[type(app.screen).__name__] = twice
                while len(app.screen_stack) > 2:
                    app.pop_screen()
                await ui.settle(pilot)
        assert opened >= 10
        assert duplicates == {}
        # The card list: its own hint for F7 stays, the binding's short "Sort" is not listed again.
        await open_item(pilot, ui, next(i for i in MENU if i.id == "cards.manage"), "fleetadmin", "Fleet#2026")
        help_keys = app.help_keys(app.screen)
        assert [text for key, text in help_keys if key == "F7"] == [
            "Sort: choose the column and the direction; a click on a column header sorts too"]
        assert ("F1", "Help") in help_keys and ("^l", "Log out") in help_keys


async def test_a_busy_dutch_footer_gives_the_palette_key_room_to_the_screens_keys(demo_db, ui):
    """In Dutch the users screen's keys need the room of ^p Commando's: the footer leaves it out and shows the
    footer form of New user ("Nieuw"); F1 help and the palette keep the full texts and ^p."""
    from tui.menu import MENU

    set_user_language(demo_db, "fleetadmin", "nl")
    app = CardsOnlineApp(demo_db, language="nl")
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        assert any(key.has_class("-command-palette") for key in app.screen.query(FooterKey))  # home: room
        await open_item(pilot, ui, next(i for i in MENU if i.id == "account.users"), "fleetadmin", "Fleet#2026")
        footer = {key.key_display: key.description for key in app.screen.query(FooterKey)}
        assert footer["^n"] == "Nieuw" and footer["F1"] == "Help" and "^p" not in footer
        help_keys = app.help_keys(app.screen)
        assert ("^n", "Nieuwe gebruiker") in help_keys and any(key == "^p" for key, _text in help_keys)
        assert "Nieuwe gebruiker" in {command.title for command in app.get_system_commands(app.screen)}
        assert footer_problems(app.screen) == []


async def test_in_english_the_palette_key_stays(demo_db, ui):
    from tui.menu import MENU

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await open_item(pilot, ui, next(i for i in MENU if i.id == "account.users"), "fleetadmin", "Fleet#2026")
        footer = {key.key_display: key.description for key in app.screen.query(FooterKey)}
        assert footer["^n"] == "New user" and footer["^p"] == "Commands"
