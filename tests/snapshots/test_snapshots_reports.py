"""The look of Monthly reports at 80×24 on the demo (fixed clock 26/11/2026), as `accounting`: follow-up per
card and by month, its spend chart, the consumption trend chart, budget follow-up with an over-budget division,
the budget dialog and the data export.

Update the baselines after a deliberate change: `.venv/bin/pytest tests/snapshots/test_snapshots_reports.py
--snapshot-update`, then look at the SVGs before committing them.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import select

from store.models import Budget, FleetDivision
from tui.app import CardsOnlineApp
from tui.menu import MENU

SIZE = (80, 24)


def _open(menu_id: str, snap_login, snap_settle, *keys: str):
    async def run_before(pilot):
        await snap_login(pilot, "accounting", "Books#2026")
        pilot.app.open_menu_item(next(i for i in MENU if i.id == menu_id))
        await snap_settle(pilot)
        for key in keys:
            await pilot.press(key)
            await snap_settle(pilot)

    return run_before


def test_followup_cards(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.card_followup", snap_login, snap_settle))


def test_followup_months(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.card_followup", snap_login, snap_settle, "v"))


def test_followup_spend_chart(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.card_followup", snap_login, snap_settle, "v", "c"))


def test_consumption_cards_trend_chart(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.consumption", snap_login, snap_settle, "down", "c"))


def _budgets(db) -> None:
    """The test's own budgets instead of the demo's: one division far within, one far over."""
    with db.session() as session:
        for budget in session.exec(select(Budget)).all():
            session.delete(budget)
        divisions = session.exec(select(FleetDivision).order_by(FleetDivision.name)).all()
        within, over = divisions[0], divisions[1]  # Distribution, Long haul
        session.add(Budget(customer_number_id=within.customer_number_id, division_id=within.id,
                           month=date(2026, 11, 1), amount=Decimal("900000.00")))
        session.add_all([Budget(customer_number_id=over.customer_number_id, division_id=over.id,
                                month=date(2026, month, 1), amount=Decimal("500.00")) for month in (9, 10, 11)])
        session.commit()


def test_budget_followup_over_budget(snap_compare, demo_db, snap_login, snap_settle):
    _budgets(demo_db)
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.budget", snap_login, snap_settle))


def test_budget_chart(snap_compare, demo_db, snap_login, snap_settle):
    _budgets(demo_db)
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.budget", snap_login, snap_settle, "down", "c"))


def test_budget_dialog(snap_compare, demo_db, snap_login, snap_settle):
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.budget", snap_login, snap_settle, "b"))


def test_data_export(snap_compare, demo_db, snap_login, snap_settle, monkeypatch):
    monkeypatch.setenv("HOME", "/home/demo")  # the suggested file name shows the home folder
    assert snap_compare(CardsOnlineApp(demo_db), terminal_size=SIZE,
                        run_before=_open("reports.export", snap_login, snap_settle))

