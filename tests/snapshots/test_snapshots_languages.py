"""The login screen and the home menu in Dutch and in French at 80×24 (issue 10), with the real catalogs.

Before login the language is the app's (`--lang`, the config file or LANG); the home screen is in the user's
own language (User.language).
"""
from __future__ import annotations

import pytest
from sqlmodel import select

from store.models import User
from tui.app import CardsOnlineApp

SIZE = (80, 24)


def set_language(db, username: str, language: str) -> None:
    with db.session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        user.language = language
        session.add(user)
        session.commit()


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_login_screen(snap_compare, demo_db, snap_settle, language):
    assert snap_compare(CardsOnlineApp(demo_db, language=language), terminal_size=SIZE, run_before=snap_settle)


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_home_screen(snap_compare, demo_db, snap_login, language):
    set_language(demo_db, "fleetadmin", language)

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
