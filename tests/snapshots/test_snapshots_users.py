"""The look of Users, first login and two-factor sign-in at 80×24 (pytest-textual-snapshot).

Update after a deliberate change: `.venv/bin/pytest tests/snapshots/test_snapshots_users.py --snapshot-update`,
then look at the SVGs.
"""
from __future__ import annotations

import pytest

from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(autouse=True)
def _fixed_secret(monkeypatch):
    import store.services.users as users

    monkeypatch.setattr(users, "new_totp_secret", lambda: SECRET)


def open_item(pilot, item_id: str) -> None:
    pilot.app.open_menu_item(next(i for i in MENU if i.id == item_id))


def test_users_search(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot, "account.users")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_create_user_form_with_problems(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot, "account.users")
        await snap_settle(pilot)
        await pilot.press("ctrl+n")
        await snap_settle(pilot)
        screen = pilot.app.screen
        for field, value in (("last-name", "WOUTERS"), ("first-name", "EVA"), ("email", "eva@dubois"),
                             ("phone", "0475 12345")):
            screen.query_one(f"#user-{field}").value = value
        screen.query_one("#user-rights").selected = ["cards.manage", "cards.requests"]
        await pilot.press("ctrl+s")
        await snap_settle(pilot)
        await pilot.press("y")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_create_user_rights_dual_list(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot, "account.users")
        await snap_settle(pilot)
        await pilot.press("ctrl+n")
        await snap_settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#user-rights").selected = ["cards.manage", "cards.requests", "daily.transactions"]
        screen.query_one("#dual-available").focus()
        await snap_settle(pilot)
        screen.query_one("#user-rights").scroll_visible(animate=False, top=True)
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_first_login_challenge_wrong(snap_compare, demo_db, snap_settle):
    async def run_before(pilot):
        await snap_settle(pilot)
        await pilot.press("f2")
        await snap_settle(pilot)
        screen = pilot.app.screen
        for field, value in (("username", "intern"), ("last-name", "Maes"), ("first-name", "LUCAS"),
                             ("phone", "0473456789")):
            screen.query_one(f"#first-{field}").value = value
        screen.query_one("#first-phone").focus()
        await pilot.press("enter")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_two_factor_setup(snap_compare, demo_db, snap_login, snap_settle):
    async def run_before(pilot):
        await snap_login(pilot, "depot", "Depot#2026")
        open_item(pilot, "account.two_factor")
        await snap_settle(pilot)
        await pilot.click("#turn-on")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_second_factor_prompt_at_login(snap_compare, demo_db, snap_login, snap_settle):
    from sqlmodel import select

    from store.models import User

    with demo_db.session() as session:
        depot = session.exec(select(User).where(User.username == "depot")).one()
        depot.totp_secret = SECRET
        session.add(depot)
        session.commit()

    async def run_before(pilot):
        await snap_login(pilot, "depot", "Depot#2026")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
