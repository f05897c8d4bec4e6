"""What-if (issue 8) with the keyboard: F8 in the card form replays the form's unsaved limits on the card's known
history; F8 in the bulk template replays the template on the marked cards; invalid values, a new card, the cap
on the number of cards and the actor's rights; nothing is ever saved.

The history and the expected numbers are worked out by hand in tests/what_if_history.py.
"""
from __future__ import annotations

import re

from sqlmodel import func, select
from textual.widgets import Checkbox, DataTable, Input, Static

from store.models import (
    AuditEvent,
    Card,
    CardLimit,
    CardStatus,
    LimitAction,
    LimitPeriod,
    ProductType,
    Request,
)
from store.services.bulk import BulkParams
from store.services.card_specs import LimitSpec
from store.models import Product
from tui.app import CardsOnlineApp
from tui.screens.bulk_actions import BulkActionsScreen, TemplateDialog
from tui.screens.card_form import CardFormScreen
from tui.screens.what_if import WhatIfScreen
from tui.widgets.limits_editor import CycleField
from tui.widgets.message_line import MessageLine
from what_if_history import change_the_form, known_history


def totals(screen) -> dict[str, list[str]]:
    """The totals block as {row: [current, changed]}."""
    rows = {}
    for line in str(screen.query_one("#what-if-totals", Static).content).splitlines()[1:]:
        label, *values = re.split(r"\s{2,}", line.strip())
        rows[label] = values
    return rows


def rows(screen) -> list[list[str]]:
    table = screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row(row.key)] for row in table.ordered_rows]


def stored(db, card_id: int) -> tuple:
    """What a save would change: the card's limits, controls and version, its requests, the audit trail (the
    login's own line aside)."""
    with db.session() as s:
        card = s.get(Card, card_id)
        limits = sorted((l.product.value, l.allowed, l.amount, l.volume, l.period.value, l.action.value)
                        for l in s.exec(select(CardLimit).where(CardLimit.card_id == card_id)).all())
        return (limits, card.version, card.allowed_weekdays, card.allowed_hours_from, card.allowed_countries,
                s.exec(select(func.count()).select_from(Request).where(Request.card_id == card_id)).one(),
                s.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "login")).one())


def second_card(db) -> int:
    """A fleet card of the same number in production: no transactions at all."""
    with db.session() as s:
        return s.exec(select(Card.id).where(Card.product_type == ProductType.FLEET_CARD,
                                            Card.status == CardStatus.IN_PRODUCTION,
                                            Card.customer_number_id == 1).order_by(Card.id)).first()


async def open_change_form(pilot, ui, card_id: int) -> CardFormScreen:
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    screen = CardFormScreen("change", card_id=card_id)
    pilot.app.push_screen(screen)
    await ui.settle(pilot)
    assert pilot.app.screen is screen
    return screen


async def test_card_form_what_if_on_a_known_history_saves_nothing(demo_db, ui, monkeypatch):
    busy = []  # the replay is quicker than a look at the screen: the busy lines shown, in order
    show_busy = MessageLine.show_busy
    monkeypatch.setattr(MessageLine, "show_busy", lambda line, text: (busy.append(text), show_busy(line, text)))
    card_id = known_history(demo_db)
    before = stored(demo_db, card_id)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        form = await open_change_form(pilot, ui, card_id)
        assert "card_form.what_if" in {b.binding.id for b in form.active_bindings.values()}  # in the footer
        change_the_form(form)
        await pilot.press("f8")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen)
        assert screen.query_one("#what-if-months", Input).value == "3"
        assert str(screen.query_one("#what-if-period").content) == "from 26/08/2026 to 26/11/2026 10:00"
        assert totals(screen) == {
            "Transactions": ["6", "6"],
            "Refused": ["0 · € 0.00", "3 · € 277.44"],
            "Reported": ["0 · € 0.00", "1 · € 24.20"],
        }
        assert rows(screen) == [
            ["02/11/26 09:00", "Diesel", "100", "163.20", "refused",
             "Diesel: daily amount limit € 150.00 exceeded: € 163.20"],
            ["02/11/26 15:00", "Diesel", "30", "48.96", "refused",
             "Diesel blocked until 03/11/2026 00:00: a block limit was exceeded earlier"],
            ["03/11/26 18:00", "Diesel", "40", "65.28", "refused",
             "Diesel: daily amount limit € 150.00 exceeded: € 163.20"],
            ["05/11/26 10:00", "Car wash", "1", "24.20", "reported",
             "Car wash: amount limit € 20.00 per transaction exceeded: € 24.20"],
        ]
        # The highlighted line's rule reads whole below the table (the column cuts it).
        assert str(screen.query_one("#what-if-detail", Static).content) == (
            "Diesel: daily amount limit € 150.00 exceeded: € 163.20")
        await pilot.press("down")
        assert "blocked until 03/11/2026 00:00" in str(screen.query_one("#what-if-detail", Static).content)
        assert screen.query_one(MessageLine).text == "4 of 6 transactions would have been refused or reported."

        await pilot.press("right_square_bracket")  # 4 months: 15 August counts too
        await ui.settle(pilot)
        assert busy[-2:] == ["Replaying 3 months…", "Replaying 4 months…"]  # after the login's "Checking…"
        assert screen.query_one("#what-if-months", Input).value == "4"
        assert totals(screen)["Transactions"] == ["7", "7"]
        assert totals(screen)["Refused"] == ["0 · € 0.00", "4 · € 440.64"]
        assert rows(screen)[0][:5] == ["15/08/26 09:00", "Diesel", "100", "163.20", "refused"]

        screen.query_one("#what-if-months", Input).value = "1"  # typed: 26/10 onwards, the same November
        screen.query_one("#what-if-months", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        assert str(screen.query_one("#what-if-period").content).startswith("from 26/10/2026")
        assert totals(screen)["Refused"] == ["0 · € 0.00", "3 · € 277.44"]
        await pilot.press("left_square_bracket")  # not below one month
        await ui.settle(pilot)
        assert screen.query_one("#what-if-months", Input).value == "1"
        screen.query_one("#what-if-months", Input).value = "30"  # typed out of range: the store says so
        screen.query_one("#what-if-months", Input).focus()
        await pilot.press("enter")
        await ui.settle(pilot)
        line = screen.query_one(MessageLine)
        assert line.kind == "error" and line.text == "Replay between 1 and 24 months of transactions."
        assert rows(screen) == [] and totals(screen) == {}
        assert screen.focused is screen.query_one("#what-if-months", Input)
        await pilot.press("right_square_bracket")  # ] works in the months field too: 24 months at most
        await ui.settle(pilot)
        assert screen.query_one("#what-if-months", Input).value == "24"
        assert totals(screen)["Transactions"] == ["7", "7"]

        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is form  # everything typed is still there
        assert form.query_one("#f-limits-diesel-amount", Input).value == "150"
        assert form.query_one("#f-limits-car_wash-action", CycleField).value is LimitAction.NOTIFY
        assert form.dirty
    assert stored(demo_db, card_id) == before


async def test_what_if_with_invalid_values_shows_the_problems_and_keeps_them(demo_db, ui):
    card_id = known_history(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        form = await open_change_form(pilot, ui, card_id)
        form.query_one("#f-limits-diesel-amount", Input).value = "1.2.3"
        form.query_one("#f-controls-hours_from", Input).value = "18:00"
        form.query_one("#f-controls-hours_to", Input).value = "06:00"
        await pilot.press("f8")
        await ui.settle(pilot)
        assert app.screen is form  # no replay on values that could not be saved
        line = form.query_one(MessageLine)
        assert line.kind == "error" and line.text.startswith("2 problems to fix; the first: Diesel: the amount")
        assert "not a number" in str(form.query_one("#e-limits-diesel", Static).content)
        assert "end after they start" in str(form.query_one("#e-controls-hours_to", Static).content)
        assert form.query_one("#f-limits-diesel-amount", Input).value == "1.2.3"
        assert form.query_one("#f-controls-hours_from", Input).value == "18:00"
        assert form.focused is form.query_one("#f-limits-diesel-amount", Input)

        form.query_one("#f-limits-diesel-amount", Input).value = "150"  # fixed: the replay runs
        form.query_one("#f-controls-hours_from", Input).value = "06:00"
        form.query_one("#f-controls-hours_to", Input).value = "18:00"
        await pilot.press("f8")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen)
        # 06:00-18:00: 03/11 18:00 is still allowed (to the minute), so only the limit refuses; nothing reported.
        assert totals(screen) == {"Transactions": ["6", "6"], "Refused": ["0 · € 0.00", "3 · € 277.44"],
                                  "Reported": ["0 · € 0.00", "0 · € 0.00"]}


async def test_what_if_on_a_new_card_says_there_is_no_history(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        form = CardFormScreen(product_type=ProductType.FLEET_CARD)
        app.push_screen(form)
        await ui.settle(pilot)
        shown = {b.binding.id for b in form.active_bindings.values() if b.binding.show}
        assert "card_form.what_if" not in shown  # the footer keeps its room for what a new card can do
        await pilot.press("f8")
        await ui.settle(pilot)
        assert app.screen is form
        assert form.query_one(MessageLine).text.startswith("A new card has no transactions yet")


async def test_what_if_is_in_the_command_palette_of_the_card_form(demo_db, ui):
    card_id = known_history(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        form = await open_change_form(pilot, ui, card_id)
        [command] = [c for c in app.get_system_commands(form) if c.title == "What-if"]
        change_the_form(form)
        command.callback()
        await ui.settle(pilot)
        assert isinstance(app.screen, WhatIfScreen)
        assert totals(app.screen)["Refused"][1] == "3 · € 277.44"


def fill_template(dialog) -> None:
    """The same change as the card form's, as a template: diesel 150 a day, car wash 20 per transaction."""
    dialog.query_one("#f-limits-diesel-allowed", Checkbox).value = True
    dialog.query_one("#f-limits-diesel-amount", Input).value = "150"
    dialog.query_one("#f-limits-car_wash-allowed", Checkbox).value = True
    dialog.query_one("#f-limits-car_wash-amount", Input).value = "20"
    dialog.query_one("#f-limits-car_wash-period", CycleField).value = LimitPeriod.TRANSACTION
    dialog.query_one("#f-limits-car_wash-action", CycleField).value = LimitAction.NOTIFY


async def open_template(pilot, ui, ids) -> TemplateDialog:
    from textual.widgets import RadioSet

    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.push_screen(BulkActionsScreen(ids))
    await ui.settle(pilot)
    pilot.app.screen.query_one("#bulk-action", RadioSet).focus()
    await pilot.press("right", "right", "right", "right", "enter")  # apply template: its dialog opens
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, TemplateDialog)
    return pilot.app.screen


async def test_bulk_template_what_if_per_card_then_one_cards_detail(demo_db, ui):
    card_id = known_history(demo_db)
    other = second_card(demo_db)
    before = stored(demo_db, card_id), stored(demo_db, other)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        dialog = await open_template(pilot, ui, [card_id, other])
        fill_template(dialog)
        await pilot.press("f8")
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, WhatIfScreen) and screen.bulk
        with demo_db.session() as s:
            plates = [s.get(Card, card_id).license_plate, s.get(Card, other).license_plate]
        assert rows(screen) == [
            [plates[0], "6", "3", "277.44", "1", "24.20"],
            [plates[1], "0", "0", "0.00", "0", "0.00"],
        ]
        assert totals(screen) == {"Transactions": ["6", "6"], "Refused": ["0 · € 0.00", "3 · € 277.44"],
                                  "Reported": ["0 · € 0.00", "1 · € 24.20"]}
        assert screen.query_one(MessageLine).text == "Replayed on 2 cards. Enter: a card's transactions."

        await pilot.press("enter")  # the highlighted card's transactions
        await ui.settle(pilot)
        detail = app.screen
        assert isinstance(detail, WhatIfScreen) and not detail.bulk
        assert [row[4] for row in rows(detail)] == ["refused", "refused", "refused", "reported"]
        assert totals(detail)["Refused"] == ["0 · € 0.00", "3 · € 277.44"]
        await pilot.press("escape", "escape")
        await ui.settle(pilot)
        assert app.screen is dialog  # the template as typed, not used yet
        assert dialog.query_one("#f-limits-car_wash-amount", Input).value == "20"

        await pilot.press("ctrl+y")  # used: the bulk screen replays it too (F8)
        await ui.settle(pilot)
        bulk = app.screen
        assert isinstance(bulk, BulkActionsScreen)
        await pilot.press("f8")
        await ui.settle(pilot)
        assert rows(app.screen)[0][1:] == ["6", "3", "277.44", "1", "24.20"]
    assert (stored(demo_db, card_id), stored(demo_db, other)) == before


async def test_bulk_what_if_says_when_it_replays_only_the_first_cards(demo_db, ui, monkeypatch):
    import tui.screens.what_if

    monkeypatch.setattr(tui.screens.what_if, "MAX_CARDS", 1)
    card_id = known_history(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        dialog = await open_template(pilot, ui, [card_id, second_card(demo_db)])
        fill_template(dialog)
        await pilot.press("f8")
        await ui.settle(pilot)
        screen = app.screen
        assert len(rows(screen)) == 1
        line = screen.query_one(MessageLine)
        assert line.kind == "warning"
        assert line.text.startswith("Replayed on the first 1 of the 2 marked cards only.")


async def test_bulk_template_with_problems_shows_them_instead_of_a_replay(demo_db, ui):
    card_id = known_history(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        dialog = await open_template(pilot, ui, [card_id])
        dialog.query_one("#f-limits-diesel-amount", Input).value = "150"  # diesel not ticked
        await pilot.press("f8")
        await ui.settle(pilot)
        assert app.screen is dialog
        assert "not allowed" in str(dialog.query_one("#e-limits-diesel", Static).content)


async def test_what_if_refused_without_the_right_to_manage_cards(demo_db, ui):
    card_id = known_history(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        params = BulkParams(limits=(LimitSpec(Product.DIESEL, amount=None),))
        app.push_screen(WhatIfScreen(params, card_id=card_id, label="x"))
        await ui.settle(pilot)
        line = app.screen.query_one(MessageLine)
        assert line.kind == "error" and line.text == (
            "You do not have the right “Manage cards and OBUs”. Ask an administrator to grant it.")
        assert rows(app.screen) == [] and totals(app.screen) == {}


async def test_what_if_refuses_a_card_of_another_customer_number_on_its_line(demo_db, ui):
    """depot may act for the first customer number only: a card of the second is refused on its own line."""
    card_id = known_history(demo_db)
    with demo_db.session() as s:
        foreign = s.exec(select(Card.id).where(Card.customer_number_id == 2).order_by(Card.id)).first()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "depot", "Depot#2026")
        params = BulkParams(limits=(LimitSpec(Product.DIESEL, amount=None),))
        app.push_screen(WhatIfScreen(params, selection=[card_id, foreign]))
        await ui.settle(pilot)
        screen = app.screen
        assert rows(screen)[1][1:] == ["—", "—", "", "", ""]
        assert "could not be replayed" in screen.query_one(MessageLine).text
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.pause()
        assert str(screen.query_one("#what-if-detail", Static).content).endswith(
            "You may not act for this customer number.")


def test_every_what_if_binding_has_an_id():
    import inspect

    from textual.binding import Binding

    import tui.screens.what_if

    for _name, cls in inspect.getmembers(tui.screens.what_if, inspect.isclass):
        if cls.__module__ == tui.screens.what_if.__name__:
            for binding in cls.__dict__.get("BINDINGS", []):
                assert isinstance(binding, Binding) and binding.id, (cls.__name__, binding)


def test_a_volume_total_reads_the_same_in_the_anomalies_and_the_replay():
    """The anomalies' details and the what-if sentences show a volume one way (3 decimals, the language's
    decimal mark), whether the store wrote "51.5" (older anomalies) or "51.500"."""
    from types import SimpleNamespace

    from store.i18n import use_language
    from store.models import AnomalyRule
    from tui.screens.anomalies import details_text
    from tui.screens.what_if import finding_text

    for written in ("51.5", "51.500"):
        details = {"product": "diesel", "period": "day", "limit": "50", "quantity": "41.5", "total": written}
        finding = SimpleNamespace(rule=AnomalyRule.LIMIT_VOLUME, details=details)
        assert details_text(details, AnomalyRule.LIMIT_VOLUME) == (
            "product: diesel · period: day · limit: 50.000 · quantity: 41.500 · total: 51.500")
        assert finding_text(finding).endswith("limit 50.000 l exceeded: 51.500 l")
        with use_language("nl"):
            assert "total: 51,500" in details_text(details, AnomalyRule.LIMIT_VOLUME)
            assert finding_text(finding).endswith("50,000 l overschreden: 51,500 l")
    tank = {"quantity": "81.2", "tank_capacity_l": "80"}
    assert details_text(tank, AnomalyRule.ABOVE_TANK_CAPACITY) == "quantity: 81.200 · tank capacity l: 80.000"
    assert finding_text(SimpleNamespace(rule=AnomalyRule.ABOVE_TANK_CAPACITY, details=tank)) == (
        "81.200 l is more than the tank capacity of 80.000 l")
    # An amount limit's values are amounts, not volumes: left as the store wrote them.
    assert details_text({"limit": "300.00"}, AnomalyRule.LIMIT_AMOUNT) == "limit: 300.00"
