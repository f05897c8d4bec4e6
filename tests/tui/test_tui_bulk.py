"""Bulk actions on marked cards: a preview per card, Ctrl+Y, the result per card."""
from __future__ import annotations

from sqlmodel import select
from textual.widgets import DataTable, RadioSet, Select

from store.models import Card, CardStatus, RenewalStatus
from tui.app import CardsOnlineApp
from tui.screens.bulk_actions import BulkActionsScreen
from tui.widgets.message_line import MessageLine


def card_ids(db, status: CardStatus, count: int = 1) -> list[int]:
    with db.session() as s:
        number = s.exec(select(Card.customer_number_id).where(Card.status == CardStatus.ACTIVE)
                        .order_by(Card.id)).first()
        return list(s.exec(select(Card.id).where(Card.status == status, Card.customer_number_id == number)
                           .order_by(Card.id).limit(count)).all())


def cells(screen, column: str) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(table.get_cell(row.key, column)) for row in table.ordered_rows]


async def open_bulk(pilot, ui, ids):
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    closed = []
    pilot.app.push_screen(BulkActionsScreen(ids), closed.append)
    await ui.settle(pilot)
    return pilot.app.screen, closed


async def test_bulk_block_preview_confirm_results(demo_db, ui):
    active, blocked, new = (card_ids(demo_db, CardStatus.ACTIVE)[0], card_ids(demo_db, CardStatus.BLOCKED)[0],
                            card_ids(demo_db, CardStatus.NEW)[0])
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen, closed = await open_bulk(pilot, ui, [active, blocked, new])
        assert isinstance(screen, BulkActionsScreen)
        assert cells(screen, "outcome") == ["immediate", "✗ refused", "✗ refused"]
        messages = cells(screen, "message")
        assert "already blocked" in messages[1] and "delete it instead" in messages[2]
        await pilot.press("enter")  # plain Enter confirms nothing
        await ui.settle(pilot)
        with demo_db.session() as s:
            assert s.get(Card, active).status is CardStatus.ACTIVE
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert cells(screen, "outcome") == ["✓ done", "✗ refused", "✗ refused"]
        assert screen.query_one(MessageLine).has_class("-warning")
        with demo_db.session() as s:
            assert s.get(Card, active).status is CardStatus.BLOCKED
            assert s.get(Card, blocked).status is CardStatus.BLOCKED
            assert s.get(Card, new).status is CardStatus.NEW
        await pilot.press("ctrl+y")  # once applied, nothing more to confirm
        await pilot.press("escape")
        await ui.settle(pilot)
        assert closed == [True]


async def test_bulk_cancel_and_move_division(demo_db, ui):
    actives = card_ids(demo_db, CardStatus.ACTIVE, 2)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen, _closed = await open_bulk(pilot, ui, actives)
        screen.query_one("#bulk-action", RadioSet).focus()
        await pilot.press("right", "enter")  # cancel
        await ui.settle(pilot)
        assert not screen.query_one("#bulk-block-options").display
        assert set(cells(screen, "outcome")) <= {"immediate", "✗ refused"}
        doable = [card_id for card_id, outcome in zip(actives, cells(screen, "outcome")) if outcome == "immediate"]
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        with demo_db.session() as s:
            for card_id in doable:
                assert s.get(Card, card_id).renewal_status is RenewalStatus.CANCELLED

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen, _closed = await open_bulk(pilot, ui, actives)
        screen.query_one("#bulk-action", RadioSet).focus()
        await pilot.press("right", "right", "right", "enter")  # move to division
        await ui.settle(pilot)
        select_widget = screen.query_one("#bulk-division", Select)
        assert select_widget.display
        assert screen.query_one(DataTable).row_count == 0  # no division chosen yet
        with demo_db.session() as s:
            current = s.get(Card, actives[0]).division_id
        target = next(value for _label, value in select_widget._options if value not in (current, Select.NULL))
        select_widget.value = target
        await ui.settle(pilot)
        assert cells(screen, "outcome")[0] == "immediate"
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert cells(screen, "outcome")[0] == "✓ done"
        with demo_db.session() as s:
            assert s.get(Card, actives[0]).division_id == target
