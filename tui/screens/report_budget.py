"""Monthly reports → Budget follow-up: monthly budgets per fleet division and per card against the actual spend.

Every division of the customer number is listed, each followed by its cards that have a budget in the period.
The figures are the period's sums, excluding VAT; a line whose spend went over the budget in a month shows in
the theme's error colour with how many months were over. B sets (or, with an empty amount, clears) the budget
of the highlighted division or card, or of another card typed in the dialog, for a month or a run of months.
C shows budget against actual month by month for the highlighted line.
"""
from __future__ import annotations

import logging
from datetime import date

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tui.i18n import N_, _
from tui.screens.report_common import ReportScreen, money, month_label, over_style, right, styled, theme_rgb
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)


class BudgetDialog(ModalScreen["str | None"]):
    """Sets or clears a monthly budget through store.services.budgets; dismisses with the confirmation text."""

    CSS_PATH = "../styles/reports.tcss"
    AUTO_FOCUS = "#budget-amount"
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="budget_cancel")]

    class Saved(Message):
        def __init__(self, text: str | None, problem: str | None = None, field: str | None = None) -> None:
            super().__init__()
            self.text = text
            self.problem = problem
            self.field = field

    def __init__(self, number_id: int, target_label: str, division_id: int | None, card_id: int | None,
                 month: date, amount=None) -> None:
        super().__init__()
        self.number_id = number_id
        self.target_label = target_label
        self.division_id = division_id
        self.card_id = card_id
        self.month = month
        self.amount = amount
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="budget-dialog", classes="dialog"):
            yield Label(_("Monthly budget (EUR, excl. VAT)"), classes="dialog-title")
            yield Label(_("For: {target}. Or another card (number or plate):").format(target=self.target_label),
                        markup=False)
            yield Input("", id="budget-card", placeholder=_("card number or plate (optional)"))
            yield Label(_("Month and, for a run of months, the last one (YYYY-MM):"))
            yield Input(f"{self.month:%Y-%m}", id="budget-month")
            yield Input("", id="budget-until", placeholder=_("last month (optional)"))
            yield Label(_("Amount (empty: clear the budget):"))
            yield Input("" if self.amount is None else f"{self.amount:.2f}", id="budget-amount")
            yield MessageLine(id="budget-message")
            yield Label(_("Enter: save · Esc: cancel"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.saving:
            return
        values = {name: self.query_one(f"#budget-{name}", Input).value.strip()
                  for name in ("card", "month", "until", "amount")}
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.save(values)

    @work(thread=True, exclusive=True, group="budget-save", exit_on_error=False)
    def save(self, values: dict) -> None:
        from store.queries.reports import parse_month
        from store.services.budgets import clear_budget, find_budget_card, set_budget
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                actor, now = app.session.actor, app.db.clock.now()
                division_id, card_id, label = self.division_id, self.card_id, self.target_label
                if values["card"]:
                    card_id, label = find_budget_card(session, actor, self.number_id, values["card"])
                    division_id = None
                month = parse_month(values["month"])
                until = parse_month(values["until"]) if values["until"] else None
                span = f"{month:%m/%Y}" + (f"–{until:%m/%Y}" if until and until != month else "")
                if values["amount"]:
                    set_budget(session, actor, now, self.number_id, month, values["amount"],
                               division_id=division_id, card_id=card_id, until=until)
                    text = _("Budget of {target} for {months} saved.").format(target=label, months=span)
                else:
                    removed = clear_budget(session, actor, now, self.number_id, month, division_id=division_id,
                                           card_id=card_id, until=until)
                    text = (_("Budget of {target} for {months} cleared.") if removed else
                            _("{target} had no budget for {months}.")).format(target=label, months=span)
        except DomainError as error:
            self.post_message(self.Saved(None, error.message, error.field))
        except Exception:
            log.exception("Saving a budget failed")
            self.post_message(self.Saved(None, _("The budget could not be saved right now. Try again in a moment.")))
        else:
            self.post_message(self.Saved(text))

    def on_budget_dialog_saved(self, message: Saved) -> None:
        self.saving = False
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
            field = {"amount": "#budget-amount", "month": "#budget-month", "until": "#budget-until",
                     "card": "#budget-card"}.get(message.field or "")
            if field:
                self.query_one(field, Input).focus()
            return
        self.dismiss(message.text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class BudgetReportScreen(ReportScreen):
    TITLE = N_("Budget follow-up")
    HELP = N_("Your monthly budgets per fleet division and per card against what was actually spent (fuel, "
              "services and toll, excluding VAT). Budget and Actual are the sums over the period; Left is the "
              "budget minus the spend of the months that have a budget. Lines over budget in a month are "
              "highlighted, with how many months were over. B sets or clears a budget; C shows budget against "
              "actual month by month.")
    HELP_KEYS = ReportScreen.HELP_KEYS + ((N_("B"), N_("Set or clear the budget of the highlighted line")),)
    REPORT = "budget"
    VIEWS = (("budget", N_("Divisions and cards")),)
    BINDINGS = [Binding("b", "set_budget", N_("Budget"), id="report_set_budget")]

    def columns(self, view: str) -> list[tuple[str, str, int]]:
        return [("name", N_("Division / card"), 24), ("budget", N_("Budget"), 11), ("actual", N_("Actual"), 11),
                ("diff", N_("Left"), 11), ("over", N_("Over"), 5)]

    def fetch_rows(self, session, actor, number_id, period, view, after):
        from store.queries.reports import budget_followup

        return budget_followup(session, actor, number_id, period), False

    def cells(self, view, row):
        style = over_style(self.app) if row.over else None
        shown = row.label if row.kind == "division" else f"  {row.license_plate or row.card_number or row.label}"
        name = Text(shown, style=style or "")
        over = f"{row.over_months}/{len(row.months)}" if row.over else ""
        return (name, right(money(row.budget) if row.budget is not None else "—"), styled(money(row.actual), style),
                styled(money(row.left), style), styled(over, style))

    def explain(self, view, row) -> str:
        # Whole sentences for a division and for a card (its division named), none assembled from pieces.
        if row.over:
            months = ", ".join(f"{m.month:%m/%Y}" for m in row.months if m.over)
            if row.kind == "division":
                return _("{name} (division): over budget in {months}.").format(name=row.label, months=months)
            return _("{name} (card in {division}): over budget in {months}.").format(
                name=row.label, division=row.division, months=months)
        if row.budget is None:
            if row.kind == "division":
                return _("{name} (division): no budget in this period. B sets one.").format(name=row.label)
            return _("{name} (card in {division}): no budget in this period. B sets one.").format(
                name=row.label, division=row.division)
        if row.kind == "division":
            return _("{name} (division): within budget.").format(name=row.label)
        return _("{name} (card in {division}): within budget.").format(name=row.label, division=row.division)

    def chart(self, plt, view, row) -> None:
        if row is None:
            return
        plt.title(_("Budget and actual excl. VAT (EUR), {name}").format(name=row.label))
        labels = [month_label(m.month) for m in row.months]
        budget = [float(m.budget or 0) for m in row.months]
        actual = [float(m.actual) for m in row.months]
        plt.multiple_bar(labels, [budget, actual], labels=[_("budget"), _("actual")],
                         color=[theme_rgb(self.app, "primary", "blue"), theme_rgb(self.app, "error", "red")])

    def action_set_budget(self) -> None:
        row = self.current_row()
        number = self.app.active_customer_number
        if number is None or self.period is None:
            return
        month = self.period.last
        if row is None:
            self.query_one(MessageLine).show_error(_("There is no division to set a budget for."))
            return
        current = row.month(month)

        def done(text: str | None) -> None:
            if text:
                self.notice = text
                self.reload()

        self.app.push_screen(BudgetDialog(
            number.id, row.label, row.division_id if row.kind == "division" else None, row.card_id, month,
            current.budget if current is not None else None), done)
