"""`cardsonline`: the language before login is --lang, else the config file's, else $LANG/LC_*, else English."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from store import i18n


@pytest.fixture
def start(tmp_path, monkeypatch):
    """Run `cardsonline …` without opening the portal; returns the app it would have run."""
    import tui.app
    from tui.cli import main

    started = []
    monkeypatch.setattr(tui.app.CardsOnlineApp, "run", lambda self, **kw: started.append(self))
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "CARDSONLINE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))  # no config file unless a test writes one
    database = tmp_path / "x.db"
    database.touch()  # exists: no demo is built

    def run(*args: str, env: dict[str, str] | None = None):
        result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{database}", *args], env=env)
        assert result.exit_code == 0, result.output
        return started.pop()

    yield run
    i18n.set_language("en")


def config_file(tmp_path, language: str):
    file = tmp_path / "config.toml"
    file.write_text(f'[general]\nlanguage = "{language}"\n')
    return str(file)


def test_english_without_any_choice(start):
    assert start().language == "en"
    assert start(env={"LANG": "de_DE.UTF-8"}).language == "en"


def test_the_environment_of_the_session_decides_without_option_or_config(start):
    assert start(env={"LANG": "nl_BE.UTF-8"}).language == "nl"
    assert start(env={"LANG": "nl_BE.UTF-8", "LC_ALL": "fr_BE.UTF-8"}).language == "fr"
    assert i18n.current_language() == "fr"  # the app set it for the process


def test_the_config_file_wins_over_the_environment_and_the_option_over_both(start, tmp_path):
    config = config_file(tmp_path, "fr")
    assert start("--config", config, env={"LANG": "nl_BE.UTF-8"}).language == "fr"
    assert start("--config", config, "--lang", "en", env={"LANG": "nl_BE.UTF-8"}).language == "en"
    assert start("--lang", "nl").language == "nl"


def test_an_unknown_language_option_is_refused():
    from tui.cli import main

    result = CliRunner().invoke(main, ["--lang", "de"])
    assert result.exit_code == 2 and "--lang" in result.output
