"""Fixtures for the pilot tests of the TUI: the demo data on the test database, and pilot helpers."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from textual.pilot import Pilot


SIZE = (80, 24)


@pytest.fixture(autouse=True)
def _cheap_hashing(cheap_password_hashing):
    """Every flow here logs in: cheap argon2 parameters (see tests/conftest.py)."""


async def settle(pilot: Pilot) -> None:
    """Let workers finish and the messages they posted be handled."""
    from tui.screens.login import LoginScreen

    screen = pilot.app.screen
    while isinstance(screen, LoginScreen) and not screen.warm_up_started:
        await pilot.pause(0.05)  # the login screen loads the store shortly after its first paint
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def fill_login(pilot: Pilot, username: str, password: str) -> None:
    from textual.widgets import Input

    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#username", Input).value = username
    password_input = screen.query_one("#password", Input)
    password_input.value = password
    password_input.focus()


async def login(pilot: Pilot, username: str, password: str) -> None:
    """Fill the login form, press Enter, and wait for the check to finish."""
    await fill_login(pilot, username, password)
    await pilot.press("enter")
    await settle(pilot)


def send_burst(app, keys) -> None:
    """Queue keys all at once, as a terminal delivers a password manager's auto-type, fast typing or keys
    sent through tmux or SSH: unlike `pilot.press`, nothing waits for the app between two keys."""
    from textual import events
    from textual.keys import _character_to_key

    for key in keys:
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        character = key if len(key) == 1 else {"enter": "\r", "tab": "\t", "space": " "}.get(key)
        event = events.Key(name, character)
        event.set_sender(app)
        app._driver.send_message(event)


async def settle_burst(pilot: Pilot, done, timeout: float = 10.0) -> None:
    """Wait until the keys of a burst are handled, `done()` telling when the last one was (on a busy machine a
    fixed pause may be too short); the test then asserts the whole state."""
    import time

    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.fixture
def ui() -> SimpleNamespace:
    """Pilot helpers: `await ui.login(pilot, user, password)`, `await ui.settle(pilot)`,
    `ui.send_burst(app, keys)` then `await ui.settle_burst(pilot, done)`."""
    return SimpleNamespace(settle=settle, login=login, fill_login=fill_login, send_burst=send_burst,
                           settle_burst=settle_burst, size=SIZE)
