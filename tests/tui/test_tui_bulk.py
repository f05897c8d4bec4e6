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


# --- the template ----------------------------------------------------------------------------------------------

async def choose_template(pilot, ui, screen):
    screen.query_one("#bulk-action", RadioSet).focus()
    await pilot.press("right", "right", "right", "right", "enter")  # apply template: its dialog opens
    await ui.settle(pilot)
    return pilot.app.screen


async def test_bulk_template_problems_next_to_field_then_preview_and_apply(demo_db, ui):
    from decimal import Decimal

    from textual.widgets import Checkbox, Input, Static

    from store.models import Product
    from store.services.cards import spec_from_card
    from tui.screens.bulk_actions import TemplateDialog

    actives = card_ids(demo_db, CardStatus.ACTIVE, 2)
    with demo_db.session() as s:
        before = {card_id: spec_from_card(s, card_id) for card_id in actives}
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen, closed = await open_bulk(pilot, ui, actives)
        dialog = await choose_template(pilot, ui, screen)
        assert isinstance(dialog, TemplateDialog)
        assert dialog.query_one("#template-controls").disabled  # until "Replace the controls" is ticked
        dialog.query_one("#f-limits-diesel-allowed", Checkbox).value = True
        dialog.query_one("#f-limits-diesel-amount", Input).value = "12O"  # a letter O
        dialog.query_one("#template-replace-controls", Checkbox).value = True
        await pilot.pause()
        dialog.query_one("#f-controls-hours_from", Input).value = "18:00"
        dialog.query_one("#f-controls-hours_to", Input).value = "06:00"
        dialog.query_one("#f-controls-allowed_countries", Input).value = "BE, XX"
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is dialog  # not used: each problem under its field, nothing typed lost
        assert "not a number" in str(dialog.query_one("#e-limits-diesel", Static).content)
        assert "end after they start" in str(dialog.query_one("#e-controls-hours_to", Static).content)
        assert "XX" in str(dialog.query_one("#e-controls-allowed_countries", Static).content)
        assert dialog.query_one("#f-limits-diesel-amount", Input).value == "12O"
        assert dialog.focused is dialog.query_one("#f-limits-diesel-amount", Input)

        await pilot.press("escape")  # back without using it: what was typed comes back with e
        await ui.settle(pilot)
        assert app.screen is screen and screen.query_one(DataTable).row_count == 0
        await pilot.press("e")
        await ui.settle(pilot)
        dialog = app.screen
        assert dialog.query_one("#f-controls-allowed_countries", Input).value == "BE, XX"
        dialog.query_one("#f-limits-diesel-amount", Input).value = "120"
        dialog.query_one("#f-controls-hours_from", Input).value = "06:00"
        dialog.query_one("#f-controls-hours_to", Input).value = "18:00"
        dialog.query_one("#f-controls-allowed_countries", Input).value = "BE, NL"
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is screen
        summary = str(screen.query_one("#bulk-template", Static).content)
        assert "other limits of each card are kept" in summary and "as a whole" in summary
        outcomes = cells(screen, "outcome")
        assert len(outcomes) == 2 and set(outcomes) <= {"immediate", "new plastic", "✗ refused"}
        assert screen.query_one("#bulk-totals").content
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert all(outcome == "✓ done" for outcome in cells(screen, "outcome"))
    with demo_db.session() as s:
        for card_id in actives:
            after = spec_from_card(s, card_id)
            limits = {limit.product: limit for limit in after.limits}
            assert limits[Product.DIESEL].amount == Decimal("120")
            kept = {limit.product: limit for limit in before[card_id].limits if limit.product is not Product.DIESEL}
            assert {product: limits.get(product) for product in kept} == kept
            assert (after.controls.hours_from, after.controls.hours_to) == ("06:00", "18:00")
            assert after.controls.allowed_countries == ("BE", "NL")


# --- all that match the filter ---------------------------------------------------------------------------------

def active_number_filter(app):
    from store.queries.card_filter import CardFilter

    return CardFilter(customer_number_ids=(app.active_customer_number.id,))


async def open_filtered(pilot, ui):
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.push_screen(BulkActionsScreen(active_number_filter(pilot.app)))
    await ui.settle(pilot)
    return pilot.app.screen


async def test_bulk_on_a_filter_totals_bounded_rows_and_csv(demo_db, ui, monkeypatch, tmp_path):
    import csv

    from textual.widgets import Label

    import tui.screens.bulk_actions as bulk_screen

    monkeypatch.setattr(bulk_screen, "MAX_ROWS", 5)
    monkeypatch.setattr(bulk_screen, "BATCH", 4)  # several batches, each with its progress report
    monkeypatch.setenv("HOME", str(tmp_path))
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_filtered(pilot, ui)
        with demo_db.session() as s:
            expected = list(s.exec(select(Card.id).where(
                Card.customer_number_id == app.active_customer_number.id).order_by(Card.id)).all())
        assert screen.card_ids == expected
        assert f"{len(expected)} cards" in str(screen.query_one("#bulk-title", Label).content)
        refused = [row for row in screen.all_rows if row.outcome == "refused"]
        immediate = [row for row in screen.all_rows if row.outcome == "immediate"]
        totals = str(screen.query_one("#bulk-totals", Label).content)
        assert totals == f"{len(immediate)} immediate · {len(refused)} refused"
        table = screen.query_one(DataTable)
        assert table.row_count == 6  # 5 rows and the "… and N more" line
        assert cells(screen, "outcome")[:5] == ["✗ refused"] * 5
        assert cells(screen, "message")[5].startswith(f"… and {len(expected) - 5} more")

        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        saved = list(tmp_path.glob("cardsonline-bulk-preview-*.csv"))
        assert len(saved) == 1 and str(saved[0]) in screen.query_one(MessageLine).text
        with saved[0].open() as stream:
            rows = list(csv.DictReader(stream))
        assert [int(row["card_id"]) for row in rows] == expected
        assert {row["outcome"] for row in rows} <= {"immediate", "refused"}


async def test_bulk_stop_keeps_what_was_done_and_leaves_the_rest(demo_db, ui, monkeypatch):
    import store.services.bulk as bulk_service

    real = bulk_service.iter_apply_bulk
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_filtered(pilot, ui)
        screen.query_one("#bulk-action", RadioSet).focus()
        await pilot.press("right", "enter")  # cancel
        await ui.settle(pilot)
        doable = [row.card_id for row in screen.preview if row.outcome == "immediate"]
        assert len(doable) >= 3

        def stops_after_two(*args, **kwargs):
            for index, result in enumerate(real(*args, **kwargs)):
                if index == 1:
                    screen.stop.set()  # as Esc does, while the second card is being done
                yield result

        monkeypatch.setattr(bulk_service, "iter_apply_bulk", stops_after_two)
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        total = len(screen.card_ids)
        line = screen.query_one(MessageLine).text
        assert f"Stopped after 2 of {total} cards" in line and f"the other {total - 2} were not touched" in line
        assert f"{total - 2} not touched" in str(screen.query_one("#bulk-totals").content)
        assert len(cells(screen, "outcome")) == 2
        with demo_db.session() as s:
            statuses = {card_id: s.get(Card, card_id).renewal_status for card_id in screen.card_ids}
        applied = [r.card_id for r in screen.results if r.ok]
        assert all(statuses[card_id] is RenewalStatus.CANCELLED for card_id in applied)
        untouched = screen.card_ids[2:]
        assert not any(statuses[card_id] is RenewalStatus.CANCELLED for card_id in untouched
                       if card_id in doable)
        await pilot.press("escape")
        await ui.settle(pilot)
        assert not isinstance(app.screen, BulkActionsScreen)


async def test_every_action_label_reads_whole_at_80_columns(demo_db, ui):
    from textual.widgets import RadioButton

    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen, _closed = await open_bulk(pilot, ui, card_ids(demo_db, CardStatus.ACTIVE))
        for button in screen.query_one("#bulk-action", RadioSet).query(RadioButton):
            label = str(button.label)
            assert button.content_region.width >= len(label) + 4, label  # "▐●▌ " and the label
            assert button.region.right <= screen.query_one("#bulk-dialog").region.right
