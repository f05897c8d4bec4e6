"""The look of My account -> Outbox and Audit trail at 80×24 (pytest-textual-snapshot).

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select
from textual.widgets import Select

from store.models import User
from store.services import audit
from store.services.context import ISSUER, actor_for
from store.services.outbox import queue_email
from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def open_item(app, item_id):
    app.open_menu_item(next(item for item in MENU if item.id == item_id))


def add_activity(db):
    """A failed mail and a few audit events, at fixed moments."""
    with db.session() as session:
        admin_user = session.exec(select(User).where(User.username == "fleetadmin")).one()
        admin = actor_for(session, admin_user)
        moment = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)
        mail = queue_email(session, moment, to_address="nobody@dubois.example", subject="Welcome to Cards Online",
                           body="Dear Jan,\n\nAn account was made for you. Log in with the user name jan.", user_id=admin_user.id)
        session.flush()
        mail.status, mail.attempts, mail.last_error, mail.next_attempt_at = "failed", 1, "550 5.1.1 No such user", None
        audit.record(session, admin, moment, "card", 12, "changed",
                     before={"license_plate": "1-ABC-234", "driver_name": "JAN PEETERS"},
                     after={"license_plate": "1-XYZ-999", "driver_name": "MARIE DUBOIS"})
        audit.record(session, admin, moment + timedelta(minutes=5), "card", 14, "blocked",
                     before={"status": "active"}, after={"status": "blocked", "block_reason": "loss"})
        audit.record(session, ISSUER, moment + timedelta(hours=2), "request", 7, "shipped",
                     before={"status": "in production"}, after={"status": "shipped"}, customer_id=admin.customer_id)
        session.commit()


def test_outbox(snap_compare, demo_db, snap_login, snap_settle):
    add_activity(demo_db)

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot.app, "account.outbox")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_outbox_failed_mails(snap_compare, demo_db, snap_login, snap_settle):
    add_activity(demo_db)

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot.app, "account.outbox")
        await snap_settle(pilot)
        pilot.app.screen.query_one("#outbox-status", Select).value = "failed"
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_audit_trail(snap_compare, demo_db, snap_login, snap_settle):
    add_activity(demo_db)

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot.app, "account.audit")
        await snap_settle(pilot)
        await pilot.press("down", "down", "down")  # the card change: two fields before → after
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)


def test_audit_trail_export_dialog(snap_compare, demo_db, snap_login, snap_settle, monkeypatch):
    monkeypatch.setenv("HOME", "/home/fleet")  # the default file is in the home folder
    add_activity(demo_db)

    async def run_before(pilot):
        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        open_item(pilot.app, "account.audit")
        await snap_settle(pilot)
        await pilot.press("ctrl+e")
        await snap_settle(pilot)

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE, run_before=run_before)
