"""Monthly reports (pilot): follow-up per card/OBU, consumption, budget follow-up and data export at 80×24, on the
demo (fixed clock 26/11/2026, Europe/Brussels), logged in as `accounting` (the reports' rights)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from openpyxl import load_workbook
from sqlmodel import select
from textual.widgets import ContentSwitcher, DataTable, Input, RadioSet

from store.models import AuditEvent, Budget, FleetDivision
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.report_budget import BudgetDialog, BudgetReportScreen
from tui.screens.report_common import PeriodDialog
from tui.screens.report_consumption import ConsumptionReportScreen
from tui.screens.report_export import ReportExportScreen
from tui.screens.report_followup import FollowupReportScreen
from tui.widgets.message_line import MessageLine

ACCOUNTING = ("accounting", "Books#2026")


def menu_item(item_id):
    return next(item for item in MENU if item.id == item_id)


async def open_report(pilot, ui, item_id, user=ACCOUNTING):
    await ui.login(pilot, *user)
    pilot.app.open_menu_item(menu_item(item_id))
    await ui.settle(pilot)
    return pilot.app.screen


def first_cell(screen) -> str:
    return str(screen.query_one(DataTable).get_row_at(0)[0])


async def test_followup_months_then_cards_then_chart_and_period(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_report(pilot, ui, "reports.card_followup")
        assert isinstance(screen, FollowupReportScreen)
        assert screen.period.first == date(2026, 6, 1) and screen.period.last == date(2026, 11, 1)
        table = screen.query_one(DataTable)
        assert screen.view == "cards" and screen.rows and table.row_count == len(screen.rows)
        assert all(row.total.total.transactions for row in screen.rows)
        await pilot.press("c")  # the chart of the highlighted card
        await ui.settle(pilot)
        assert screen.query_one(ContentSwitcher).current == "report-chart"
        await pilot.press("c")
        assert screen.query_one(ContentSwitcher).current == "report-table"
        await pilot.press("v")  # months
        await ui.settle(pilot)
        assert table.row_count == 6 and first_cell(screen) == "06/26"
        assert sum(month.total.transactions for month in screen.rows) > 0
        await pilot.press("left_square_bracket")  # one month earlier
        await ui.settle(pilot)
        assert screen.period.first == date(2026, 5, 1) and first_cell(screen) == "05/26"
        await pilot.press("p")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PeriodDialog)
        dialog.query_one("#period-from", Input).value = "2026-10"
        dialog.query_one("#period-to", Input).value = "2026-09"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "before it starts" in " ".join(dialog.query_one(MessageLine).lines)
        dialog.query_one("#period-to", Input).value = "2026-11"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert app.screen is screen and screen.period.first == date(2026, 10, 1)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["10/26", "11/26"]


async def test_consumption_views_and_trend_chart(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_report(pilot, ui, "reports.consumption")
        assert isinstance(screen, ConsumptionReportScreen)
        assert screen.view == "cards" and screen.rows
        await pilot.press("v")
        await ui.settle(pilot)
        assert screen.view == "division"
        with demo_db.session() as session:
            names = set(session.exec(select(FleetDivision.name).where(FleetDivision.customer_number_id == 1)).all())
        assert {row.label for row in screen.rows} <= names and screen.rows
        await pilot.press("v")
        await ui.settle(pilot)
        assert screen.view == "vehicle_type" and screen.rows
        await pilot.press("c")
        await ui.settle(pilot)
        assert screen.query_one(ContentSwitcher).current == "report-chart"


async def test_set_then_clear_a_division_budget(demo_db, ui):
    with demo_db.session() as session:  # start from no budget at all (the demo sets some)
        for budget in session.exec(select(Budget)).all():
            session.delete(budget)
        session.commit()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_report(pilot, ui, "reports.budget")
        assert isinstance(screen, BudgetReportScreen)
        row = screen.rows[0]
        assert row.kind == "division" and row.budget is None
        await pilot.press("b")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BudgetDialog)
        assert dialog.query_one("#budget-month", Input).value == "2026-11"
        dialog.query_one("#budget-amount", Input).value = "-5"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "more than 0" in " ".join(dialog.query_one(MessageLine).lines)
        dialog.query_one("#budget-amount", Input).value = "10,00"  # a tiny budget: surely over
        await pilot.press("enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "saved" in " ".join(screen.query_one(MessageLine).lines)
        row = screen.rows[0]
        assert row.budget == Decimal("10.00") and row.month(date(2026, 11, 1)).over == (
            row.month(date(2026, 11, 1)).actual > Decimal("10.00"))
        with demo_db.session() as session:
            [budget] = session.exec(select(Budget)).all()
            assert (budget.division_id, budget.month, budget.amount) == (row.division_id, date(2026, 11, 1),
                                                                         Decimal("10.00"))
            assert session.exec(select(AuditEvent).where(AuditEvent.object_type == "budget")).first().action == "set"
        await pilot.press("b")
        await ui.settle(pilot)
        assert app.screen.query_one("#budget-amount", Input).value == "10.00"
        app.screen.query_one("#budget-amount", Input).value = ""
        await pilot.press("enter")
        await ui.settle(pilot)
        assert "cleared" in " ".join(screen.query_one(MessageLine).lines)
        assert screen.rows[0].budget is None


async def test_data_export_writes_the_chosen_report(demo_db, ui, tmp_path):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_report(pilot, ui, "reports.export")
        assert isinstance(screen, ReportExportScreen)
        buttons = {button.name for button in screen.query_one(RadioSet).query("RadioButton")}
        assert buttons == {"followup", "consumption", "budget"}
        assert screen.chosen_report() == "followup"
        target = tmp_path / "consumption.xlsx"
        screen.query_one(RadioSet).focus()
        await pilot.press("down", "enter")  # the second report: consumption
        await ui.settle(pilot)
        assert screen.chosen_report() == "consumption"
        screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert "exported" in " ".join(screen.query_one(MessageLine).lines)
        sheet = load_workbook(target).active
        assert sheet.title == "Consumption" and sheet["F1"].value == "Month"
        assert sheet.max_row > 1


async def test_ctrl_e_on_a_report_opens_the_export_with_that_report(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_report(pilot, ui, "reports.budget")
        await pilot.press("ctrl+e")
        await ui.settle(pilot)
        assert isinstance(app.screen, ReportExportScreen) and app.screen.chosen_report() == "budget"
        assert app.screen.period == screen.period
