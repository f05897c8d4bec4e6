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


@pytest.fixture
def ui() -> SimpleNamespace:
    """Pilot helpers: `await ui.login(pilot, user, password)`, `await ui.settle(pilot)`."""
    return SimpleNamespace(settle=settle, login=login, fill_login=fill_login, size=SIZE)
