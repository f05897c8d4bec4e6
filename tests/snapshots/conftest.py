"""Fixtures for the snapshot tests: the demo on the test database (fixed clock) and pilot helpers."""
from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from store.demo import build_demo


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2 with tiny cost parameters: the flows log in many times, and the cost is not what they test."""
    from argon2 import PasswordHasher

    import store.services.passwords as passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", None)


@pytest.fixture
def demo_db(db):
    build_demo(db, cards=20)
    return db


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
