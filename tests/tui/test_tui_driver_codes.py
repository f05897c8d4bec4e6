"""My driver codes with the keyboard (Fiches 13-16): mark several codes with the space bar and block them (the
confirmation tells the 5/6 rule and that no card is blocked), unblock from the list of blocked codes, modify,
create, and the refusals shown as the store words them."""
from __future__ import annotations

from sqlmodel import select
from textual.widgets import DataTable, Input, Select

from store.models import DriverCode, DriverCodeStatus
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.driver_codes import BlockDialog, DriverCodeFormScreen, DriverCodesScreen, ModifyDialog
from tui.widgets.message_line import MessageLine


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


async def open_codes(pilot, ui) -> DriverCodesScreen:
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.open_menu_item(item("driver_codes.manage"))
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, DriverCodesScreen)
    return pilot.app.screen


def statuses(db) -> dict[int, DriverCodeStatus]:
    with db.session() as session:
        return {code.id: code.status for code in session.exec(select(DriverCode))}


async def show_active(pilot, ui, screen: DriverCodesScreen) -> None:
    screen.query_one("#filter-status", Select).value = "active"
    await ui.settle(pilot)
    screen.query_one(DataTable).focus()
    screen.query_one(DataTable).move_cursor(row=0)
    await pilot.pause()


async def mark(pilot, count: int) -> None:
    for _ in range(count):
        await pilot.press("space")  # marks and moves down


async def test_block_five_marked_codes_now_after_the_confirmation(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        await show_active(pilot, ui, screen)
        chosen = [row.id for row in screen.rows[:5]]
        await mark(pilot, 5)
        assert set(screen.marked) == set(chosen)
        await pilot.press("b")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BlockDialog)
        text = str(dialog.query_one("#block-text").content)
        assert "5 driver codes will be blocked immediately" in text
        assert "does not block any card" in text
        await pilot.press("y")
        await ui.settle(pilot)
        assert app.screen is screen
        after = statuses(demo_db)
        assert {after[i] for i in chosen} == {DriverCodeStatus.BLOCKED}
        assert "5 driver codes blocked. The cards stay active." in screen.query_one(MessageLine).text
        assert not screen.marked


async def test_block_six_says_next_morning_and_no_leaves_them_active(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        await show_active(pilot, ui, screen)
        chosen = [row.id for row in screen.rows[:6]]
        await mark(pilot, 6)
        await pilot.press("b")
        await ui.settle(pilot)
        text = str(app.screen.query_one("#block-text").content)
        # The demo clock is 26/11/2026 09:00 UTC: the next morning in Brussels is 27/11 06:00.
        assert "6 driver codes will be “block pending” and blocked on 27/11/2026 at 06:00" in text
        await pilot.press("n")  # changed my mind
        await ui.settle(pilot)
        assert {statuses(demo_db)[i] for i in chosen} == {DriverCodeStatus.ACTIVE}
        assert len(screen.marked) == 6  # the marks stay for another try
        await pilot.press("b")
        await ui.settle(pilot)
        await pilot.press("y")
        await ui.settle(pilot)
        assert {statuses(demo_db)[i] for i in chosen} == {DriverCodeStatus.BLOCK_PENDING}
        assert "block pending: blocked on 27/11/2026 at 06:00" in screen.query_one(MessageLine).text


async def test_block_refuses_a_selection_with_a_blocked_code(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        screen.query_one("#filter-status", Select).value = "blocked"
        await ui.settle(pilot)
        screen.query_one(DataTable).focus()
        await mark(pilot, 1)
        await pilot.press("b")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "Only active driver codes can be blocked" in screen.query_one(MessageLine).text


async def test_unblock_from_the_list_of_blocked_codes(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        await pilot.press("u")  # nothing marked: shows the blocked codes first
        await ui.settle(pilot)
        assert screen.query_one("#filter-status", Select).value == "blocked"
        assert screen.rows and {row.status for row in screen.rows} <= {DriverCodeStatus.BLOCKED,
                                                                      DriverCodeStatus.BLOCK_PENDING}
        before = len(screen.rows)
        screen.query_one(DataTable).move_cursor(row=0)
        chosen = [row.id for row in screen.rows[:3]]
        await mark(pilot, 3)
        await pilot.press("u")
        await ui.settle(pilot)
        assert {statuses(demo_db)[i] for i in chosen} == {DriverCodeStatus.ACTIVE}
        assert "3 driver codes unblocked." in screen.query_one(MessageLine).text
        assert len(screen.rows) == before - 3  # they left the list of blocked codes


async def test_modify_shows_why_the_code_cannot_change_and_saves_name_and_division(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        row = screen.rows[0]
        await pilot.press("e")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ModifyDialog)
        assert "cannot change once it is created" in str(dialog.query_one(".dialog-note").content)
        dialog.query_one("#modify-name", Input).value = "X" * 25
        other = next(i for i, name in screen.divisions if i != row.division_id)
        dialog.query_one("#modify-division", Select).value = other
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert app.screen is screen
        with demo_db.session() as session:
            code = session.get(DriverCode, row.id)
            assert (code.driver_name, code.division_id, code.code) == ("X" * 25, other, row.code)


async def test_create_a_code_and_refuse_a_taken_one(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.open_menu_item(item("driver_codes.create"))
        await ui.settle(pilot)
        form = app.screen
        assert isinstance(form, DriverCodeFormScreen)
        assert str(form.query_one("#create-prefix").content).strip() == "7310"
        with demo_db.session() as session:
            taken = session.exec(select(DriverCode).where(DriverCode.customer_number_id == 1)).first()
        division = form.query_one("#create-division", Select)
        division.value = taken.division_id
        form.query_one("#create-code", Input).value = taken.code
        form.query_one("#create-name", Input).value = "Nieuwe Chauffeur"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert f"already has driver code 7310{taken.code}" in form.query_one(MessageLine).text
        free = next(f"{n:04d}" for n in range(10_000) if f"{n:04d}" not in
                    {c.code for c in [taken]} and f"{n:04d}" not in _codes(demo_db))
        form.query_one("#create-code", Input).value = free
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert f"Driver code 7310{free} created for Nieuwe Chauffeur" in form.query_one(MessageLine).text
        assert free in _codes(demo_db)


def _codes(db) -> set[str]:
    with db.session() as session:
        return {code.code for code in session.exec(select(DriverCode).where(DriverCode.customer_number_id == 1))}


async def test_reissue_with_card_number_shows_the_countries_and_creates_a_request(demo_db, ui):
    from store.models import Card, CardStatus, CodeType, Request, RequestKind
    from tui.screens.driver_codes import ReissueDialog

    with demo_db.session() as session:
        card = session.exec(select(Card).where(Card.customer_number_id == 1, Card.code_type == CodeType.DRIVER_CODE,
                                               Card.status == CardStatus.ACTIVE, Card.number.is_not(None))).first()
        card.allowed_countries = ["BE", "DE", "IT"]
        session.add(card)
        session.commit()
        number, division_id = card.number, card.division_id
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_codes(pilot, ui)
        await show_active(pilot, ui, screen)
        code_id = screen.rows[0].id
        await pilot.press("r")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReissueDialog)
        await pilot.press(*number)
        await ui.settle(pilot)
        assert "In Germany, Italy the driver types the driver code first" in str(
            dialog.query_one("#reissue-countries").content)
        assert dialog.query_one("#reissue-division", Select).value == division_id
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "the issuer sends the codes by post" in screen.query_one(MessageLine).text
    with demo_db.session() as session:
        request = session.exec(select(Request).where(Request.kind == RequestKind.DRIVER_CODE_REISSUE)).one()
        assert request.details["driver_code_ids"] == [code_id] and request.card_id is not None
