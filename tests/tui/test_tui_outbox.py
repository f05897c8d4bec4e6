"""My account -> Outbox (pilot), and the app's background e-mail sender against a real SMTP server."""
from __future__ import annotations

from textual.widgets import DataTable, Select, Static

from store.models import OutboxStatus
from store.services.outbox import queue_email
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.outbox import PAGE, OutboxScreen


def menu_item(item_id):
    return next(item for item in MENU if item.id == item_id)


def add_mails(db, clock, count, to="an.peeters@dubois.example", **extra):
    from sqlmodel import select

    from store.models import User

    with db.session() as session:
        admin = session.exec(select(User).where(User.username == "fleetadmin")).one()
        for index in range(count):
            queue_email(session, clock.now(), to_address=to, subject=f"Mail {index}", body=f"Body of mail {index}",
                        user_id=admin.id, **extra)
        session.commit()


async def open_outbox(pilot, ui, user="fleetadmin", password="Fleet#2026"):
    await ui.login(pilot, user, password)
    pilot.app.open_menu_item(menu_item("account.outbox"))
    await ui.settle(pilot)


async def test_the_outbox_lists_mails_shows_the_highlighted_body_and_pages(demo_db, clock, ui):
    add_mails(demo_db, clock, PAGE + 10)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_outbox(pilot, ui)
        screen = app.screen
        assert isinstance(screen, OutboxScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == PAGE and screen.more
        text = str(screen.query_one("#outbox-mail-text", Static).content)
        assert f"Subject: Mail {PAGE + 9}" in text and f"Body of mail {PAGE + 9}" in text
        assert "Pending: not sent yet." in text
        await pilot.press("down")
        assert f"Body of mail {PAGE + 8}" in str(screen.query_one("#outbox-mail-text", Static).content)
        await pilot.press("ctrl+end")  # the last row loads the next page (keyset)
        await ui.settle(pilot)
        assert table.row_count > PAGE
        assert str(screen.query_one("#outbox-count").content).endswith("mails")


async def test_the_status_filter(demo_db, clock, ui):
    add_mails(demo_db, clock, 2)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await open_outbox(pilot, ui)
        screen = app.screen
        screen.query_one("#outbox-status", Select).value = "sent"
        await ui.settle(pilot)
        assert screen.rows and all(row.status is OutboxStatus.SENT for row in screen.rows)
        assert "Sent on" in str(screen.query_one("#outbox-mail-text", Static).content)
        screen.query_one("#outbox-status", Select).value = "failed"
        await ui.settle(pilot)
        assert screen.rows == [] and "No mail with this status." in str(screen.query_one("#outbox-message").content)


async def test_the_outbox_is_not_in_the_menu_without_the_right(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        assert "account.outbox" not in app.session.rights
        app.open_menu_item(menu_item("account.outbox"))  # refused: a bell, no screen
        await ui.settle(pilot)
        assert not isinstance(app.screen, OutboxScreen)


async def test_the_app_sends_the_outbox_in_the_background(demo_db, clock, ui, smtp_server, monkeypatch):
    monkeypatch.setenv("CARDSONLINE_SMTP_URL", smtp_server.url)
    monkeypatch.setattr(CardsOnlineApp, "OUTBOX_INTERVAL", 0.2)
    add_mails(demo_db, clock, 1, to="background@test.example")
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        for _ in range(50):
            await pilot.pause(0.1)
            if any(m["To"] == "background@test.example" for m in smtp_server.messages):
                break
        await app.workers.wait_for_complete()
    assert "background@test.example" in [m["To"] for m in smtp_server.messages]


async def test_without_a_mail_server_the_app_sends_nothing(demo_db, clock, ui, smtp_server, monkeypatch):
    monkeypatch.delenv("CARDSONLINE_SMTP_URL", raising=False)
    monkeypatch.setattr(CardsOnlineApp, "OUTBOX_INTERVAL", 0.1)
    add_mails(demo_db, clock, 1)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await pilot.pause(0.5)
        assert not [w for w in app.workers if w.group == "outbox-sender"]
    assert smtp_server.messages == []
