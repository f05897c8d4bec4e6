"""Kiosk mode, key remapping and themes (issue 10), through the pilot at 80×24."""
from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette

from tui.app import CardsOnlineApp, MenuCommands
from tui.screens.home import HomeScreen
from tui.screens.login import LoginScreen
from tui.widgets.main_menu import MainMenu
from tui.widgets.message_line import MessageLine

DEPOT_SCREENS = ("cards.manage", "driver_codes.manage", "daily.transactions")


def record_exits(app: CardsOnlineApp) -> list[object]:
    """Calls of App.exit (quitting in any way ends there)."""
    calls: list[object] = []
    original = app.exit

    def exit_(*args, **kwargs):
        calls.append(args)
        original(*args, **kwargs)

    app.exit = exit_
    return calls


async def palette_prompts(pilot, query: str) -> list[str]:
    """Open the command palette, type `query`, and return the texts of the commands it offers."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    await pilot.press(*query)
    await pilot.pause(0.5)
    commands = palette.query_one(CommandList)
    prompts = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
    await pilot.press("escape")
    await pilot.pause()
    return prompts


async def test_kiosk_quit_keys_do_nothing_on_login_and_home(demo_db, ui):
    app = CardsOnlineApp(demo_db, kiosk=True)
    exits = record_exits(app)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        await pilot.press("ctrl+q", "ctrl+c", "ctrl+z", "ctrl+backslash")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and not exits
        assert "quit" not in {b.binding.id for b in app.screen.active_bindings.values() if b.enabled}
        await ui.login(pilot, "depot", "Depot#2026")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("ctrl+q", "ctrl+c", "ctrl+z")
        await ui.settle(pilot)
        await app.run_action("quit")  # whatever asks for it
        await app.run_action("suspend_process")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen) and app.session is not None and not exits
        footer_keys = {b.binding.id for b in app.screen.active_bindings.values() if b.enabled}
        assert "quit" not in footer_keys and "help_quit" not in footer_keys and "logout" in footer_keys
        # Log out goes back to the login screen, never out of the app.
        await pilot.press("ctrl+l")
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None and not exits


async def test_without_kiosk_ctrl_q_quits(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    exits = record_exits(app)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert exits


async def test_kiosk_palette_has_no_quit_and_no_theme(demo_db, ui):
    app = CardsOnlineApp(demo_db, kiosk=True)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles == ["Log out", "Help"]
        assert not any("Quit" in p for p in await palette_prompts(pilot, "quit"))
        assert not any("Theme" in p for p in await palette_prompts(pilot, "theme"))
        assert any("Log out" in p for p in await palette_prompts(pilot, "log out"))
        assert isinstance(app.screen, HomeScreen)
    # Without kiosk mode both are there.
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Quit" in titles and "Theme" in titles


async def test_kiosk_idle_logout_returns_to_the_login_screen(demo_db, ui):
    messages = []
    app = CardsOnlineApp(demo_db, idle_timeout=0.3, kiosk=True)
    exits = record_exits(app)
    async with app.run_test(size=ui.size, message_hook=messages.append) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        await pilot.pause(0.6)
        assert any(isinstance(m, LoginScreen.Succeeded) for m in messages)  # the home was reached
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and len(app.screen_stack) == 1
        assert app.session is None and not exits
        message = app.screen.query_one("#login-message", MessageLine)
        assert message.text == "You were logged out after 0.3 seconds without activity."
        app.idle_timeout = 60
        await ui.login(pilot, "depot", "Depot#2026")  # the next user can log in at once
        assert isinstance(app.screen, HomeScreen)


async def test_kiosk_restricted_menu_keeps_rights(demo_db, ui):
    app = CardsOnlineApp(demo_db, kiosk=True, kiosk_screens=DEPOT_SCREENS)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        menu = app.screen.query_one(MainMenu)
        assert [item.id for item in menu.numbered] == list(DEPOT_SCREENS)
        entries = [text for text, _item in MenuCommands(app.screen)._entries()]
        assert entries == ["My cards and OBUs: Manage cards and OBUs", "My driver codes: Search driver codes",
                           "Daily follow-up: Daily transactions"]
        await pilot.press("3")
        await ui.settle(pilot)
        assert type(app.screen).__name__ == "DailyTransactionsScreen"

    # Rights still apply: depot may not administer users, so that screen stays hidden.
    app = CardsOnlineApp(demo_db, kiosk=True, kiosk_screens=("account.users", "daily.transactions"))
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert [item.id for item in app.screen.query_one(MainMenu).numbered] == ["daily.transactions"]
        # Without the card list among the screens, F4 (quick find: card actions) is off too.
        await pilot.press("f4")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        app.open_quick_find("4020")  # the palette's card search calls this
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_restricted_screens_apply_only_in_kiosk_mode(demo_db, ui):
    app = CardsOnlineApp(demo_db, kiosk=False, kiosk_screens=DEPOT_SCREENS)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert len(app.screen.query_one(MainMenu).numbered) > len(DEPOT_SCREENS)


async def test_remapped_key_triggers_the_action_and_the_old_key_does_not(demo_db, ui):
    app = CardsOnlineApp(demo_db, keymap={"logout": "ctrl+o", "help": "f9"})
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert app.key_for("logout") == "^o" and app.key_for("help") == "F9"
        shown = {b.binding.id: b.binding.key for b in app.screen.active_bindings.values()}
        assert shown["logout"] == "ctrl+o"
        await pilot.press("ctrl+l")  # the old key
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen) and app.session is not None
        await pilot.press("f1")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("f9")
        await ui.settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("f9")
        await ui.settle(pilot)
        await pilot.press("ctrl+o")  # the new key
        await ui.settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None


@pytest.mark.parametrize(("name", "textual_name"), [
    ("dark", "textual-dark"), ("light", "textual-light"), ("high-contrast", "cardsonline-high-contrast")])
async def test_themes(demo_db, ui, name, textual_name):
    app = CardsOnlineApp(demo_db, theme_name=name, language="nl")
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        assert app.theme == textual_name and app.language == "nl"


async def choose_theme_in_palette(pilot, label: str) -> list[str]:
    """Ctrl+P, "theme", Enter (the Theme command), then the theme `label`: the theme choices it offered."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"theme")
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.5)
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    commands = palette.query_one(CommandList)
    choices = [str(commands.get_option_at_index(i).prompt).split("\n")[0] for i in range(commands.option_count)]
    await pilot.press(*label)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause()
    return choices


async def test_a_theme_chosen_in_the_palette_is_saved_in_the_config_file(demo_db, ui, tmp_path):
    file = tmp_path / "cardsonline" / "config.toml"
    app = CardsOnlineApp(demo_db, config_file=file)
    async with app.run_test(size=ui.size, notifications=True) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        choices = await choose_theme_in_palette(pilot, "high contrast")
        assert choices == ["Dark", "Light", "High contrast"]  # the config file's three, not all of Textual's
        assert app.theme == "cardsonline-high-contrast" and isinstance(app.screen, HomeScreen)
        [notice] = app._notifications
        assert notice.message == f"Theme High contrast saved in {file}." and notice.severity == "information"
    from tui.config import load_config

    assert 'theme = "high-contrast"' in file.read_text() and load_config(file).theme == "high-contrast"


async def test_a_theme_that_cannot_be_saved_is_used_and_the_user_is_told_why(demo_db, ui, tmp_path):
    import os

    file = tmp_path / "config.toml"
    file.write_text("# managed by IT\n[general]\ntheme = \"dark\"\n")
    os.chmod(file, 0o444)
    app = CardsOnlineApp(demo_db, config_file=file)
    async with app.run_test(size=ui.size, notifications=True) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        await choose_theme_in_palette(pilot, "light")
        assert app.theme == "textual-light"
        [notice] = app._notifications
        assert notice.severity == "warning"
        assert notice.message == (f"Theme Light for this session only: it could not be saved. "
                                  f"{file}: the file is read-only.")
    assert file.read_text() == "# managed by IT\n[general]\ntheme = \"dark\"\n"


async def test_without_a_config_file_the_theme_is_for_the_session(demo_db, ui):
    app = CardsOnlineApp(demo_db)  # e.g. an SSH session: the server account's file is not the user's
    async with app.run_test(size=ui.size, notifications=True) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        await choose_theme_in_palette(pilot, "light")
        assert app.theme == "textual-light"
        assert [n.message for n in app._notifications] == ["Theme Light for this session."]


async def test_a_kiosk_never_changes_or_saves_the_theme(demo_db, ui, tmp_path):
    file = tmp_path / "config.toml"
    app = CardsOnlineApp(demo_db, kiosk=True, theme_name="high-contrast", config_file=file)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        await app.run_action("change_theme")
        await pilot.pause()
        app.choose_theme("light")
        assert isinstance(app.screen, HomeScreen) and app.theme == "cardsonline-high-contrast"
    assert not file.exists()


async def test_a_kiosks_few_menu_items_are_large_targets_when_they_fit(demo_db, ui):
    app = CardsOnlineApp(demo_db, kiosk=True, kiosk_screens=DEPOT_SCREENS)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        menu = app.screen.query_one(MainMenu)
        assert [str(menu.get_option(f"item:{i}").prompt) for i in DEPOT_SCREENS] == [
            "\n 1  Manage cards and OBUs\n", "\n 2  Search driver codes\n", "\n 3  Daily transactions\n"]
        assert menu.virtual_size.height <= menu.size.height  # all of it shows at 80×24, no scrolling
        await pilot.press("down", "enter")
        await ui.settle(pilot)
        assert type(app.screen).__name__ == "DriverCodesScreen"
    # Every screen depot may use (its account's items too, in four groups) would not fit so: one line each.
    app = CardsOnlineApp(demo_db, kiosk=True)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        menu = app.screen.query_one(MainMenu)
        assert len(menu.numbered) > 3
        prompts = [str(menu.get_option(f"item:{item.id}").prompt) for item in menu.numbered]
        assert all("\n" not in prompt for prompt in prompts) and prompts[0] == " 1  " + menu.numbered[0].label
