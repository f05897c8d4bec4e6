"""Fixtures for the snapshot tests: the demo on the test database (fixed clock) and pilot helpers."""
from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input


@pytest.fixture(autouse=True)
def _cheap_hashing(cheap_password_hashing):
    """Every flow here logs in: cheap argon2 parameters (see tests/conftest.py)."""


async def settle(pilot: Pilot) -> None:
    """Workers done, their messages handled, and no blinking cursor: the picture is the same every run."""
    from tui.screens.login import LoginScreen

    while isinstance(pilot.app.screen, LoginScreen) and not pilot.app.screen.warm_up_started:
        await pilot.pause(0.05)  # the demo line appears once the store has loaded, shortly after the first paint
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def login(pilot: Pilot, username: str, password: str) -> None:
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#username", Input).value = username
    screen.query_one("#password", Input).value = password
    screen.query_one("#password", Input).focus()
    await pilot.press("enter")
    await settle(pilot)


@pytest.fixture
def snap_login():
    return login


@pytest.fixture
def snap_settle():
    return settle
