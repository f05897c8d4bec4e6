"""Issue 10, languages in the TUI: the language before login, the user's own once logged in, and
My account -> Language switching everything shown at once (menu, screen, footer keys, F1 help).

A small Dutch catalog written for the test keeps these flows independent of how far the real translations are.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from textual.widgets import Label
from textual.widgets._footer import FooterKey

from store import i18n
from store.models import AuditEvent, User
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.home import HomeScreen
from tui.screens.language import LanguageScreen
from tui.widgets.main_menu import MainMenu

REAL_CATALOGS = Path(i18n.__file__).resolve().parents[1] / "tui" / "i18n" / "locale"

DUTCH = {
    "Help": "Hulp",
    "Log out": "Afmelden",
    "Quit": "Stoppen",
    "Back": "Terug",
    "Customer no.": "Klantnr.",
    "My account": "Mijn account",
    "Language": "Taal",
    "Change my password": "Mijn wachtwoord wijzigen",
    "Main menu": "Hoofdmenu",
    "Log in to Cards Online": "Aanmelden bij Cards Online",
    "Language of the portal": "Taal van het portaal",
    "The portal is now in {language}.": "Het portaal is nu in het {language}.",
    "You have logged out.": "U bent afgemeld.",
}


@pytest.fixture(autouse=True)
def dutch_catalog(tmp_path):
    folder = tmp_path / "locale" / "nl" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    entries = "".join(f'msgid "{msgid}"\nmsgstr "{msgstr}"\n\n' for msgid, msgstr in DUTCH.items())
    (folder / "cardsonline.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: nl\\n"\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n\n' + entries, encoding="utf-8")
    i18n.install_catalogs(tmp_path / "locale", tmp_path / "cache")
    yield
    i18n.install_catalogs(REAL_CATALOGS)
    i18n.set_language("en")


def footer_descriptions(app) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]


def menu_texts(screen) -> list[str]:
    return [str(option.prompt) for option in screen.query_one(MainMenu).options]


def set_user_language(db, username: str, language: str) -> None:
    with db.session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        user.language = language
        session.add(user)
        session.commit()


async def test_the_language_before_login_is_the_apps_and_the_users_own_after(demo_db, ui):
    set_user_language(demo_db, "depot", "nl")
    app = CardsOnlineApp(demo_db, language="en")
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        assert str(app.screen.query_one("#login-title", Label).content) == "Log in to Cards Online"
        await ui.login(pilot, "depot", "Depot#2026")  # a Dutch user
        assert isinstance(app.screen, HomeScreen)
        assert i18n.current_language() == "nl"
        assert "Mijn account" in menu_texts(app.screen)
        assert {"Hulp", "Afmelden"} <= set(footer_descriptions(app))
        await pilot.press("ctrl+l")
        await ui.settle(pilot)
        assert i18n.current_language() == "en"  # after logout: the language before login again
        assert app.screen.query_one("#login-message").text == "You have logged out."  # in that language
        assert "Log out" not in footer_descriptions(app) and "Help" in footer_descriptions(app)
        await ui.login(pilot, "fleetadmin", "Fleet#2026")  # the demo's administrator reads English
        assert "My account" in menu_texts(app.screen)
        assert "Help" in footer_descriptions(app)


async def test_a_dutch_app_shows_the_login_screen_in_dutch(demo_db, ui):
    app = CardsOnlineApp(demo_db, language="nl")  # what --lang nl, the config file or LANG=nl_BE.UTF-8 give
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        assert str(app.screen.query_one("#login-title", Label).content) == "Aanmelden bij Cards Online"
        assert "Hulp" in footer_descriptions(app)


async def test_my_account_language_switches_menu_screen_and_footer_at_once(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        home = app.screen
        app.open_menu_item(next(item for item in MENU if item.id == "account.language"))
        await ui.settle(pilot)
        assert isinstance(app.screen, LanguageScreen)
        assert "Back" in footer_descriptions(app)
        await pilot.press("down", "enter")  # English, then Nederlands
        await ui.settle(pilot)
        assert i18n.current_language() == "nl" and app.session.language == "nl"
        assert str(app.screen.query_one("#language-title", Label).content) == "Taal van het portaal"
        assert {"Terug", "Hulp"} <= set(footer_descriptions(app))  # Log out: in the home screen's footer
        assert app.screen.query_one("#language-message").text == "Het portaal is nu in het Nederlands."
        # F1 lists the keys in Dutch too.
        await pilot.press("f1")
        await ui.settle(pilot)
        help_texts = [str(label.content) for label in app.screen.query(".help-description").results(Label)]
        assert "Terug" in help_texts and "Hulp" in help_texts and "Afmelden" in help_texts
        await pilot.press("escape", "escape")
        await ui.settle(pilot)
        assert app.screen is home
        assert "Mijn account" in menu_texts(home) and " 6  Taal" in menu_texts(home)
        assert str(home.query_one("#home-menu .panel-title", Label).content) == "Hoofdmenu"
        assert {"Hulp", "Afmelden"} <= set(footer_descriptions(app))
        assert app.screen.focused is home.query_one(MainMenu)  # the menu still answers the keys
        await pilot.press("6")
        await ui.settle(pilot)
        assert isinstance(app.screen, LanguageScreen)

    with demo_db.session() as session:
        user = session.exec(select(User).where(User.username == "fleetadmin")).one()
        assert user.language == "nl"
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "language changed")).one()
        assert (event.before, event.after) == ({"language": "en"}, {"language": "nl"})


async def test_a_change_of_language_over_another_screen_closes_it_and_the_home_screen_follows(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.open_menu_item(next(item for item in MENU if item.id == "cards.manage"))
        await ui.settle(pilot)
        app.open_menu_item(next(item for item in MENU if item.id == "account.language"))  # as from Ctrl+P
        await ui.settle(pilot)
        await pilot.press("down", "enter")
        await ui.settle(pilot)
        assert [type(screen).__name__ for screen in app.screen_stack] == ["LoginScreen", "HomeScreen",
                                                                          "LanguageScreen"]
        await pilot.press("escape")
        await ui.settle(pilot)
        assert "Mijn account" in menu_texts(app.screen)
        app.open_menu_item(next(item for item in MENU if item.id == "cards.manage"))  # opens anew, and works
        await ui.settle(pilot)
        assert type(app.screen).__name__ == "CardListScreen" and "Hulp" in footer_descriptions(app)
        assert app.screen.query_one("DataTable").row_count > 0
