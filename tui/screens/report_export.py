"""Monthly reports → Data export (xls): any monthly report of the active customer number, over a chosen period,
to an Excel file.

The user picks the report (only those their rights allow), the first and last month and the file; Enter
(Ctrl+S) exports in a thread worker with a progress bar; Esc cancels a running export (no file is left: the
writer works in a temporary file renamed into place when complete) or goes back. One row per card (or
division) and month, see exports/report_xlsx.py. The report screens open it with Ctrl+E.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, ProgressBar, RadioButton, RadioSet

from tui.i18n import N_, _
from tui.screens.export_dialog import path_problem
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

REPORTS = (
    ("followup", N_("Follow-up per card/OBU"), "reports.card_followup"),
    ("consumption", N_("Consumption follow-up"), "reports.consumption"),
    ("budget", N_("Budget follow-up"), "reports.budget"),
)


def default_report_path(report: str, period, number: str) -> Path:
    return Path.home() / f"cardsonline-{report}-{number}-{period.first:%Y%m}-{period.last:%Y%m}.xlsx"


class ReportExportScreen(Screen[None]):
    CSS_PATH = "../styles/reports.tcss"
    AUTO_FOCUS = "#export-report"
    TITLE = N_("Data export")
    HELP = N_("Writes a monthly report of the active customer number to an Excel file: one row per card (or "
              "division) and month, amounts and volumes as numbers. Choose the report, the months and the file, "
              "then press Enter in a field or Ctrl+S. Esc cancels a running export; no file is left behind.")
    BINDINGS = [
        Binding("escape", "cancel", N_("Back/Cancel"), id="report_export_cancel"),
        Binding("ctrl+s", "start", N_("Export"), id="report_export_start", priority=True),
    ]

    class Progress(Message):
        def __init__(self, done: int) -> None:
            super().__init__()
            self.done = done

    class Finished(Message):
        def __init__(self, path: Path | None, rows: int, cancelled: bool = False, problem: str | None = None):
            super().__init__()
            self.path = path
            self.rows = rows
            self.cancelled = cancelled
            self.problem = problem

    def __init__(self, report: str | None = None, period=None) -> None:
        super().__init__()
        self.initial_report = report
        self.period = period
        self.running = False
        self.cancel_requested = threading.Event()

    def allowed(self) -> list[tuple[str, str]]:
        rights = self.app.session.rights if self.app.session else frozenset()
        return [(key, label) for key, label, right in REPORTS if right in rights]

    def compose(self) -> ComposeResult:
        from store.queries.reports import MonthRange

        if self.period is None:
            today = self.app.session.local(self.app.db.clock.now()).date()
            self.period = MonthRange.last_months(today, 6)
        allowed = self.allowed()
        chosen = self.initial_report if any(k == self.initial_report for k, _l in allowed) else (
            allowed[0][0] if allowed else None)
        number = self.app.active_customer_number
        yield SessionHeader()
        with Vertical(id="export-form"):
            yield Label(_("Report:"))
            with RadioSet(id="export-report"):
                for key, label in allowed:
                    yield RadioButton(_(label), value=key == chosen, name=key)
            yield Label(_("First and last month (YYYY-MM):"))
            yield Input(f"{self.period.first:%Y-%m}", id="export-from")
            yield Input(f"{self.period.last:%Y-%m}", id="export-to")
            yield Label(_("File:"))
            yield Input(str(default_report_path(chosen or "report", self.period, number.number if number else "")),
                        id="export-path")
            yield ProgressBar(id="export-progress", show_eta=False, total=None)
            yield MessageLine(id="export-message")
            yield Label(_("Enter or Ctrl+S: export · Esc: back (cancels a running export)"), classes="dialog-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False  # shown while an export runs
        if not self.allowed():
            self.query_one(MessageLine).show_error(_("You have no report to export: ask an administrator for the "
                                                     "right to a monthly report."))
        elif self.app.active_customer_number is not None:
            self.check(self.chosen_report(), self.app.active_customer_number.id, self.period)

    @work(thread=True, exclusive=True, group="report-export-check", exit_on_error=False)
    def check(self, report: str, number_id: int, period) -> None:
        """Ask the store at once whether this user may export (the right is checked there, not only here)."""
        from store.queries.reports import export_report_rows
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                export_report_rows(session, app.session.actor, report, number_id, period)
        except DomainError as error:
            self.post_message(self.Finished(None, 0, problem=error.message))
        except Exception:
            log.exception("Report export check failed")

    def chosen_report(self) -> str | None:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.name if pressed is not None else None

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        from store.queries.reports import MonthRange
        from store.services.errors import DomainError

        number = self.app.active_customer_number
        path = self.query_one("#export-path", Input)
        try:
            period = MonthRange.parse(self.query_one("#export-from", Input).value,
                                      self.query_one("#export-to", Input).value)
        except DomainError:
            period = self.period
        if Path(path.value).name.startswith("cardsonline-"):  # still the suggested name: follow the choice
            path.value = str(default_report_path(event.pressed.name, period, number.number if number else ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        from store.queries.reports import MonthRange
        from store.services.errors import DomainError

        if self.running:
            return
        line = self.query_one(MessageLine)
        report = self.chosen_report()
        number = self.app.active_customer_number
        if report is None or number is None:
            line.show_error(_("Choose a report first."))
            return
        try:
            period = MonthRange.parse(self.query_one("#export-from", Input).value,
                                      self.query_one("#export-to", Input).value)
        except DomainError as error:
            line.show_error(error.message)
            return
        text = self.query_one("#export-path", Input).value
        problem = path_problem(text)
        if problem:
            line.show_error(problem)
            return
        self.running = True
        self.cancel_requested.clear()
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        line.show_busy(_("Exporting… Esc cancels."))
        self.export(report, number.id, number.number, period, Path(text.strip()).expanduser())

    @work(thread=True, exclusive=True, group="report-export", exit_on_error=False)
    def export(self, report: str, number_id: int, number: str, period, path: Path) -> None:
        from exports.fleet_xlsx import ExportCancelled
        from exports.report_xlsx import write_report_xlsx
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                result = write_report_xlsx(session, app.session.actor, report, [(number_id, number)], period, path,
                                           progress=lambda done, _total: self.post_message(self.Progress(done)),
                                           cancelled=self.cancel_requested.is_set)
        except ExportCancelled:
            self.post_message(self.Finished(None, 0, cancelled=True))
        except DomainError as error:
            self.post_message(self.Finished(None, 0, problem=error.message))
        except OSError as error:
            self.post_message(self.Finished(None, 0, problem=_("The file could not be written: {problem}").format(
                problem=error.strerror or str(error))))
        except Exception:
            log.exception("Report export failed")
            self.post_message(self.Finished(None, 0, problem=_("The export failed. Try again in a moment.")))
        else:
            self.post_message(self.Finished(result.path, result.rows))

    def on_report_export_screen_progress(self, message: Progress) -> None:
        self.query_one(ProgressBar).update(total=None, progress=message.done)

    def on_report_export_screen_finished(self, message: Finished) -> None:
        self.running = False
        line = self.query_one(MessageLine)
        bar = self.query_one(ProgressBar)
        bar.display = False
        if message.cancelled:
            line.show_info(_("The export was cancelled; no file was written."))
        elif message.problem:
            line.show_error(message.problem)
        else:
            line.show_success(_("{rows} rows exported to {path}.").format(rows=message.rows, path=message.path))

    def action_cancel(self) -> None:
        if self.running:
            self.cancel_requested.set()
            self.query_one(MessageLine).show_busy(_("Cancelling…"))
        else:
            self.app.pop_screen()
