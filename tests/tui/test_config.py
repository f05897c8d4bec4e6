"""The config file (issue 10): parsing, every kind of mistake with its message, where it is, the command."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tui.config import (
    DOWNLOAD_DIR_ENV,
    EXAMPLE,
    Config,
    ConfigError,
    KioskConfig,
    apply_download_folder,
    config_path,
    download_folder,
    load_config,
    parse_config,
)

FILE = Path("/etc/depot/config.toml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)
    return str(caught.value)


def test_a_full_valid_file():
    config = parse_config("""
[general]
language = "nl"
theme = "light"
download_folder = "/srv/depot/downloads"
idle_minutes = 30

[kiosk]
enabled = true
idle_minutes = 1.5
theme = "high-contrast"
screens = ["cards.manage", "driver_codes.manage", "daily.transactions"]

[keys]
logout = "ctrl+o"
quick_find = "f6, ctrl+f"
""", FILE)
    assert config == Config(
        path=FILE, language="nl", theme="light", download_folder=Path("/srv/depot/downloads"), idle_minutes=30.0,
        kiosk=KioskConfig(enabled=True, idle_minutes=1.5, theme="high-contrast",
                          screens=("cards.manage", "driver_codes.manage", "daily.transactions")),
        keys={"logout": "ctrl+o", "quick_find": "f6,ctrl+f"})
    assert config.effective_theme(kiosk=True) == "high-contrast" and config.effective_theme(kiosk=False) == "light"
    assert config.effective_idle_minutes(kiosk=True) == 1.5 and config.effective_idle_minutes(kiosk=False) == 30


def test_an_empty_file_and_no_file_are_the_defaults(tmp_path):
    assert parse_config("", FILE) == Config(path=FILE)
    defaults = load_config()  # nothing in the (test's) user config dir
    assert defaults == Config()
    assert defaults.kiosk == KioskConfig(enabled=False, idle_minutes=2.0, theme="high-contrast", screens=())
    assert defaults.idle_minutes == 15 and defaults.theme == "dark" and defaults.language is None


def test_the_example_is_a_valid_file():
    config = parse_config(EXAMPLE, FILE)
    assert config.kiosk.screens == ("cards.manage", "driver_codes.manage", "daily.transactions")
    assert config.download_folder == Path.home() / "Downloads"


def test_home_folder_in_download_folder_is_expanded():
    assert parse_config('[general]\ndownload_folder = "~/cards"\n', FILE).download_folder == Path.home() / "cards"


@pytest.mark.parametrize(("text", "message"), [
    ("[general\ntheme = 1",
     f"{FILE}: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 9)"),
    ("[display]\ntheme = 'dark'\n",
     f"{FILE}: unknown section [display] (line 1); allowed: [general], [kiosk], [keys]."),
    ("[general]\nlanguage = 'en'\ncolour = 'red'\n",
     f"{FILE}, line 3: [general] colour: unknown key 'colour'; allowed in [general]: language, theme, "
     "download_folder, idle_minutes."),
    ("[kiosk]\nenable = true\n",
     f"{FILE}, line 2: [kiosk] enable: unknown key 'enable'; allowed in [kiosk]: enabled, idle_minutes, theme, "
     "screens."),
    ("[general]\ntheme = 'blue'\n",
     f"{FILE}, line 2: [general] theme: 'blue' is not allowed; use one of \"dark\", \"light\", \"high-contrast\"."),
    ("[general]\ntheme = 3\n",
     f"{FILE}, line 2: [general] theme: must be a string in quotes, not a number (one of \"dark\", \"light\", "
     "\"high-contrast\")."),
    ("[general]\nlanguage = 'de'\n",
     f"{FILE}, line 2: [general] language: 'de' is not allowed; use one of \"en\", \"nl\", \"fr\"."),
    ("[general]\nidle_minutes = '15'\n",
     f"{FILE}, line 2: [general] idle_minutes: must be a number of minutes, not a string."),
    ("[general]\nidle_minutes = true\n",
     f"{FILE}, line 2: [general] idle_minutes: must be a number of minutes, not true/false."),
    ("[general]\nidle_minutes = -1\n",
     f"{FILE}, line 2: [general] idle_minutes: -1 is not allowed; use a number of minutes 0 or more "
     "(0: never log out)."),
    ("[kiosk]\nidle_minutes = 0\n",
     f"{FILE}, line 2: [kiosk] idle_minutes: 0 is not allowed; use a number of minutes more than 0 "
     "(a kiosk always logs out)."),
    ("[kiosk]\nenabled = 'yes'\n", f"{FILE}, line 2: [kiosk] enabled: must be true or false, not a string."),
    ("[general]\ndownload_folder = 'downloads'\n",
     f"{FILE}, line 2: [general] download_folder: 'downloads' is not allowed; use an absolute folder, e.g. "
     "\"~/Downloads/cards\" or \"/srv/depot/downloads\"."),
    ("[kiosk]\nscreens = 'cards.manage'\n",
     f"{FILE}, line 2: [kiosk] screens: must be a list of menu item ids in quotes, not a string; e.g. "
     "screens = [\"cards.manage\", \"daily.transactions\"]."),
    ("\n[kiosk]\nenabled = true\nscreens = ['cards.manage', 'cards.block']\n",
     f"{FILE}, line 4: [kiosk] screens: unknown menu item id 'cards.block'; allowed: account.notifications,"),
    ("[keys]\nlogout = 'ctrl+o'\nlogot = 'ctrl+l'\n",
     f"{FILE}, line 3: [keys] logot: unknown binding id 'logot'; did you mean 'logout'? "
     "`cardsonline config ids` lists the"),
    ("[keys]\nlogout = 5\n",
     f"{FILE}, line 2: [keys] logout: must be a key in quotes such as \"f5\" or \"ctrl+r\" (several: \"f5,ctrl+r\"), "
     "not a number."),
    ("[keys]\nlogout = 'ctrl+shft+o'\n",
     f"{FILE}, line 2: [keys] logout: 'ctrl+shft+o': 'shft' in 'ctrl+shft+o' is not a modifier; use alt, ctrl, "
     "hyper, meta, shift, super."),
    ("[keys]\nlogout = 'f99'\n",
     f"{FILE}, line 2: [keys] logout: 'f99': 'f99' in 'f99' is not a key name; use e.g. f5, ctrl+r, escape, "
     "enter, tab, up, home, or a character."),
    ("[keys]\nlogout = 'f5,'\n",
     f"{FILE}, line 2: [keys] logout: 'f5,': an empty key; write keys such as \"f5\" or \"ctrl+r\", separated "
     "by commas."),
    ("general = 1\n", f"{FILE}: general must be a section [general], not a number."),
])
def test_every_mistake_is_named_with_file_line_and_what_is_allowed(text, message):
    assert error(text).startswith(message)


def test_a_file_named_by_the_environment_must_exist(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv("CARDSONLINE_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="nowhere.toml: no such config file"):
        load_config()


def test_the_tests_never_read_the_users_file():
    """tests/conftest.py points the user config directory at an empty folder of each test."""
    import os

    assert config_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "cardsonline" / "config.toml"
    assert not config_path().exists() and load_config() == Config()
    assert Path.home() / ".config" not in config_path().parents


def test_where_the_file_is(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "cardsonline" / "config.toml"
    monkeypatch.setenv("CARDSONLINE_CONFIG", str(tmp_path / "depot.toml"))
    assert config_path() == tmp_path / "depot.toml"
    assert config_path(tmp_path / "explicit.toml") == tmp_path / "explicit.toml"


def test_config_path_command_prints_the_path_whether_or_not_it_exists(tmp_path, monkeypatch):
    from tui.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(main, ["config", "path"])
    assert result.exit_code == 0 and result.output == f"{tmp_path / 'xdg' / 'cardsonline' / 'config.toml'}\n"
    monkeypatch.setenv("CARDSONLINE_CONFIG", str(tmp_path / "depot.toml"))
    assert CliRunner().invoke(main, ["config", "path"]).output == f"{tmp_path / 'depot.toml'}\n"
    assert CliRunner().invoke(main, ["--config", "/x/y.toml", "config", "path"]).output == "/x/y.toml\n"


def test_config_example_and_check_commands(tmp_path):
    from tui.cli import main

    example = CliRunner().invoke(main, ["config", "example"])
    assert example.exit_code == 0 and example.output == EXAMPLE
    file = tmp_path / "config.toml"
    file.write_text(example.output)
    checked = CliRunner().invoke(main, ["--config", str(file), "config", "check"])
    assert checked.exit_code == 0 and checked.output == f"{file}: OK\n"
    file.write_text("[kiosk]\nidle_minutes = 0\n")
    bad = CliRunner().invoke(main, ["--config", str(file), "config", "check"])
    assert bad.exit_code == 2 and "line 2: [kiosk] idle_minutes: 0 is not allowed" in bad.output
    ids = CliRunner().invoke(main, ["config", "ids"])
    assert "logout" in ids.output and "quick_find" in ids.output and "daily.transactions" in ids.output


def test_the_portal_does_not_start_with_a_bad_file(tmp_path, monkeypatch):
    import tui.app
    from tui.cli import main

    started = []
    monkeypatch.setattr(tui.app.CardsOnlineApp, "run", lambda self, **kw: started.append(self))
    file = tmp_path / "config.toml"
    file.write_text("[general]\ntheme = 'blue'\n")
    result = CliRunner().invoke(main, ["--config", str(file), "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2 and not started
    assert f"Error in the config file: {file}, line 2: [general] theme: 'blue' is not allowed" in result.output
    assert not (tmp_path / "x.db").exists()  # nothing done before the check


def test_the_portal_gets_the_file_settings_and_options_win(tmp_path, monkeypatch):
    import tui.app
    from tui.cli import main

    started = []
    monkeypatch.setattr(tui.app.CardsOnlineApp, "run", lambda self, **kw: started.append(self))
    monkeypatch.delenv("CARDSONLINE_IDLE_MINUTES", raising=False)
    monkeypatch.setenv(DOWNLOAD_DIR_ENV, "")  # the command sets it: restored after the test
    monkeypatch.delenv(DOWNLOAD_DIR_ENV)
    file = tmp_path / "config.toml"
    file.write_text(f"""[general]
theme = "light"
language = "fr"
idle_minutes = 20
download_folder = "{tmp_path / 'dl'}"
[kiosk]
screens = ["daily.transactions"]
idle_minutes = 3
[keys]
logout = "ctrl+o"
""")
    database = tmp_path / "x.db"
    database.touch()  # exists: no demo is built (the app does not run here)
    url = f"sqlite:///{database}"
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(file), "--database-url", url]).exit_code == 0
    app = started.pop()
    assert (app.kiosk, app.idle_timeout, app._theme_name, app.language) == (False, 1200, "light", "fr")
    assert app._keymap == {"logout": "ctrl+o"}
    assert len(app.menu) > 1  # the kiosk's screens only in kiosk mode
    import os

    assert os.environ[DOWNLOAD_DIR_ENV] == str(tmp_path / "dl")

    assert runner.invoke(main, ["--config", str(file), "--database-url", url, "--kiosk"]).exit_code == 0
    app = started.pop()
    assert (app.kiosk, app.idle_timeout, app._theme_name) == (True, 180, "high-contrast")
    assert [item.id for item in app.menu] == ["daily.transactions"]

    result = runner.invoke(main, ["--config", str(file), "--database-url", url, "--kiosk", "--idle-minutes", "1",
                                  "--theme", "dark"])
    assert result.exit_code == 0
    app = started.pop()
    assert (app.kiosk, app.idle_timeout, app._theme_name) == (True, 60, "dark")

    refused = runner.invoke(main, ["--config", str(file), "--database-url", url, "--kiosk", "--idle-minutes", "0"])
    assert refused.exit_code == 2 and "a kiosk always logs out" in refused.output and not started


def test_download_folder_env_wins_over_the_file(tmp_path, monkeypatch):
    config = parse_config(f'[general]\ndownload_folder = "{tmp_path / "file"}"\n', FILE)
    monkeypatch.setenv(DOWNLOAD_DIR_ENV, "")  # apply_download_folder sets it: restored after the test
    monkeypatch.setenv(DOWNLOAD_DIR_ENV, str(tmp_path / "env"))
    apply_download_folder(config)
    assert download_folder(config) == tmp_path / "env"
    monkeypatch.delenv(DOWNLOAD_DIR_ENV)
    assert download_folder(config) == tmp_path / "file"
    apply_download_folder(config)
    from exports.invoice_files import default_download_folder

    assert default_download_folder() == tmp_path / "file"  # the invoice download's default follows the file


def test_the_binding_ids_read_from_the_source_are_those_of_the_classes():
    from tui.config import imported_binding_ids, known_binding_ids

    assert known_binding_ids() == imported_binding_ids()
    assert {"logout", "quit", "help", "quick_find", "card_block", "daily_refresh"} <= known_binding_ids()


# Saving the theme chosen in the portal --------------------------------------------------------------------


def test_save_theme_creates_a_missing_file_and_its_folder(tmp_path):
    from tui.config import save_theme

    file = tmp_path / "new" / "folder" / "config.toml"
    assert save_theme("light", file) == file
    assert load_config(file).theme == "light"
    assert file.read_text().startswith("# Cards Online config file")


def test_save_theme_changes_only_the_theme_line_and_keeps_its_comment(tmp_path):
    from tui.config import save_theme

    file = tmp_path / "config.toml"
    text = ("# The depot's PC\n[general]\nlanguage = \"nl\"   # Dutch\ntheme = 'dark'  # was light until May\n"
            "idle_minutes = 20\n\n[kiosk]\ntheme = \"light\"\n[keys]\nlogout = \"ctrl+o\"\n")
    file.write_text(text)
    save_theme("high-contrast", file)
    lines, new_lines = text.splitlines(), file.read_text().splitlines()
    assert new_lines[3] == 'theme = "high-contrast"  # was light until May'
    assert new_lines[:3] + new_lines[4:] == lines[:3] + lines[4:]
    config = load_config(file)
    assert (config.theme, config.language, config.idle_minutes, config.kiosk.theme, config.keys) == (
        "high-contrast", "nl", 20, "light", {"logout": "ctrl+o"})


def test_save_theme_adds_the_line_or_the_section(tmp_path):
    from tui.config import save_theme

    file = tmp_path / "config.toml"
    file.write_text("[kiosk]\nenabled = false\n\n[general]  # mine\nidle_minutes = 5\n")
    save_theme("light", file)
    assert file.read_text() == "[kiosk]\nenabled = false\n\n[general]  # mine\ntheme = \"light\"\nidle_minutes = 5\n"
    file.write_text("# only the kiosk\n[kiosk]\nidle_minutes = 3")  # no newline at the end
    save_theme("dark", file)
    assert file.read_text() == "# only the kiosk\n[kiosk]\nidle_minutes = 3\n\n[general]\ntheme = \"dark\"\n"
    assert load_config(file).kiosk.idle_minutes == 3


def test_save_theme_keeps_windows_line_ends_permissions_and_symbolic_links(tmp_path):
    import os
    import stat

    from tui.config import save_theme

    real = tmp_path / "dotfiles" / "cardsonline.toml"
    real.parent.mkdir()
    real.write_bytes(b"[general]\r\ntheme = \"dark\"\r\nlanguage = \"fr\"\r\n")
    os.chmod(real, 0o600)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    assert save_theme("light", link) == link
    assert link.is_symlink()
    assert real.read_bytes() == b"[general]\r\ntheme = \"light\"\r\nlanguage = \"fr\"\r\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert [p.name for p in real.parent.iterdir()] == ["cardsonline.toml"]  # no temporary file left


@pytest.mark.parametrize(("text", "message"), [
    ("[general]\ntheme = 'blue'\n", "not saved: the file has a mistake to correct first"),
    ('general.theme = "dark"\n', "the theme could not be changed safely in this file; "
                                 'set theme = "light" in its [general] section yourself'),
])
def test_save_theme_never_writes_a_file_it_cannot_change_safely(tmp_path, text, message):
    from tui.config import ConfigSaveError, save_theme

    file = tmp_path / "config.toml"
    file.write_text(text)
    with pytest.raises(ConfigSaveError, match=message.replace("[", r"\[").replace("]", r"\]")):
        save_theme("light", file)
    assert file.read_text() == text


def test_save_theme_refuses_a_read_only_file_and_an_unwritable_place(tmp_path):
    import os

    from tui.config import ConfigSaveError, save_theme

    file = tmp_path / "config.toml"
    file.write_text("[general]\ntheme = 'dark'\n")
    os.chmod(file, 0o444)
    with pytest.raises(ConfigSaveError, match="the file is read-only"):
        save_theme("light", file)
    assert file.read_text() == "[general]\ntheme = 'dark'\n"
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    with pytest.raises(ConfigSaveError, match="plain-file/config.toml: cannot be written"):
        save_theme("light", not_a_folder / "config.toml")


def test_the_portal_saves_the_theme_in_its_config_file_but_not_in_ssh_sessions(tmp_path, monkeypatch):
    import tui.app
    from tui.cli import main

    started = []
    monkeypatch.setattr(tui.app.CardsOnlineApp, "run", lambda self, **kw: started.append(self))
    database = tmp_path / "x.db"
    database.touch()
    url = f"sqlite:///{database}"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CARDSONLINE_SSH_USER", raising=False)
    assert CliRunner().invoke(main, ["--database-url", url]).exit_code == 0
    assert started.pop().config_file == tmp_path / "xdg" / "cardsonline" / "config.toml"
    assert CliRunner().invoke(main, ["--database-url", url, "--config", str(tmp_path / "c.toml")]).exit_code == 2
    (tmp_path / "c.toml").write_text("")
    assert CliRunner().invoke(main, ["--database-url", url, "--config", str(tmp_path / "c.toml")]).exit_code == 0
    assert started.pop().config_file == tmp_path / "c.toml"
    monkeypatch.setenv("CARDSONLINE_SSH_USER", "depot")  # serve ssh sets it: the sessions share one account
    assert CliRunner().invoke(main, ["--database-url", url]).exit_code == 0
    assert started.pop().config_file is None
