"""The look of the bulk actions dialog and its template dialog at 80×24.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots --snapshot-update`,
then look at the SVGs before committing them.
"""
from __future__ import annotations

from sqlmodel import select

from store.models import Card, CardStatus
from tui.app import CardsOnlineApp

SIZE = (80, 24)


def selection(db) -> list[int]:
    """An active, a blocked and a new card of one customer number (lowest ids: the same every run)."""
    with db.session() as s:
        number = s.exec(select(Card.customer_number_id).where(Card.status == CardStatus.ACTIVE)
                        .order_by(Card.id)).first()
        ids = []
        for status in (CardStatus.ACTIVE, CardStatus.BLOCKED, CardStatus.NEW):
            ids += s.exec(select(Card.id).where(Card.status == status, Card.customer_number_id == number)
                          .order_by(Card.id).limit(1)).all()
        return ids


def opener(snap_login, snap_settle, selection_of, keys: tuple[str, ...] = (), then=None):
    async def run_before(pilot):
        from tui.screens.bulk_actions import BulkActionsScreen

        await snap_login(pilot, "fleetadmin", "Fleet#2026")
        pilot.app.push_screen(BulkActionsScreen(selection_of(pilot.app)))
        await snap_settle(pilot)
        if keys:
            await pilot.press(*keys)
            await snap_settle(pilot)
        if then is not None:
            await then(pilot)
            await snap_settle(pilot)
    return run_before


def test_bulk_block_preview(snap_compare, demo_db, snap_login, snap_settle):
    ids = selection(demo_db)
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, lambda app: ids))


def test_bulk_move_to_division_labels(snap_compare, demo_db, snap_login, snap_settle):
    """Every action label reads whole at 80 columns ("Move to division" was cut off)."""
    ids = selection(demo_db)
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, lambda app: ids, ("right",) * 3 + ("enter",)))


def test_bulk_template_dialog(snap_compare, demo_db, snap_login, snap_settle):
    ids = selection(demo_db)
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, lambda app: ids, ("right",) * 4 + ("enter",)))


def test_bulk_template_problems(snap_compare, demo_db, snap_login, snap_settle):
    ids = selection(demo_db)

    async def type_wrong(pilot):
        from textual.widgets import Checkbox, Input

        screen = pilot.app.screen
        screen.query_one("#f-limits-diesel-amount", Input).value = "1.2.3"
        screen.query_one("#template-replace-controls", Checkbox).value = True
        await pilot.pause()
        screen.query_one("#f-controls-hours_from", Input).value = "25:00"
        screen.query_one("#f-controls-hours_to", Input).value = "26:00"
        await pilot.press("ctrl+y")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, lambda app: ids, ("right",) * 4 + ("enter",),
                                          then=type_wrong))


def test_bulk_template_preview(snap_compare, demo_db, snap_login, snap_settle):
    ids = selection(demo_db)

    async def fill(pilot):
        from textual.widgets import Checkbox, Input

        pilot.app.screen.query_one("#f-limits-diesel-allowed", Checkbox).value = True
        pilot.app.screen.query_one("#f-limits-diesel-amount", Input).value = "150"
        await pilot.press("ctrl+y")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, lambda app: ids, ("right",) * 4 + ("enter",),
                                          then=fill))


def test_bulk_all_that_match_applied(snap_compare, demo_db, snap_login, snap_settle):
    """A filter as the selection: the count in the title, the totals per outcome, the result per card."""
    from store.queries.card_filter import CardFilter

    def all_of_the_active_number(app):
        return CardFilter(customer_number_ids=(app.active_customer_number.id,))

    async def cancel_all(pilot):
        await pilot.press("ctrl+y")

    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=opener(snap_login, snap_settle, all_of_the_active_number,
                                          ("right", "enter"), then=cancel_all))
