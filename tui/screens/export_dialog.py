"""Manage cards and OBUs -> Export to Excel (Fiche 06 *Download as Excel*): the current filter, every match.

The dialog asks the file path, then streams `fleet_export_rows` of the search's filter through
`write_fleet_xlsx` in a thread worker: a progress bar, Esc cancels (no file is left: the writer works in a
temporary file renamed into place only when complete), and at the end the list tells the path and the count.
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
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar

from tui.i18n import N_, _, ngettext
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)


def default_path(today) -> Path:
    return Path.home() / f"cardsonline-fleet-{today:%Y%m%d}.xlsx"


def path_problem(text: str) -> str | None:
    """Why `text` is no file path to export to, or None."""
    text = text.strip()
    if not text:
        return _("Type the path of the file to write, e.g. ~/fleet.xlsx.")
    path = Path(text).expanduser()
    if path.suffix.lower() != ".xlsx":
        return _("The file name must end in .xlsx, e.g. {name}.").format(name=path.with_suffix(".xlsx").name)
    if path.is_dir():
        return _("{path} is a folder: add a file name ending in .xlsx.").format(path=path)
    if not path.parent.is_dir():
        return _("The folder {folder} does not exist.").format(folder=path.parent)
    return None


class ExportDialog(ModalScreen["str | None"]):
    """Dismisses with the success text (path and row count), "" when cancelled, or None when closed unused."""

    CSS_PATH = ["../styles/card_actions.tcss", "../styles/card_list.tcss"]
    AUTO_FOCUS = "#export-path"
    TITLE = N_("Export to Excel")
    HELP = N_("Every card and OBU that matches the current search and filters is written to an Excel file, not "
              "only the rows on screen. Esc cancels a running export; no file is left behind.")
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), id="export_cancel"),
    ]

    class Progress(Message):
        def __init__(self, done: int, total: int | None) -> None:
            super().__init__()
            self.done = done
            self.total = total

    class Finished(Message):
        def __init__(self, path: Path | None, rows: int, cancelled: bool = False, problem: str | None = None) -> None:
            super().__init__()
            self.path = path
            self.rows = rows
            self.cancelled = cancelled
            self.problem = problem

    def __init__(self, card_filter) -> None:
        super().__init__()
        self.card_filter = card_filter  # a CardFilter already limited to the screen's customer number
        self.running = False
        self.cancel_requested = threading.Event()

    def compose(self) -> ComposeResult:
        today = self.app.db.clock.now().date()
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label(_("Export to Excel"), classes="dialog-title")
            yield Label(_("Every card and OBU matching the current filter. File:"), markup=False)
            yield Input(str(default_path(today)), id="export-path")
            yield ProgressBar(id="export-progress", show_eta=False)
            yield MessageLine(id="export-message")
            yield Label(_("Enter: export · Esc: cancel"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.running:
            return
        line = self.query_one(MessageLine)
        problem = path_problem(event.value)
        if problem:
            line.show_error(problem)
            return
        self.running = True
        self.query_one("#export-path", Input).disabled = True
        line.show_busy(_("Exporting… Esc cancels."))
        self.export(Path(event.value.strip()).expanduser())

    @work(thread=True, exclusive=True, group="fleet-export", exit_on_error=False)
    def export(self, path: Path) -> None:
        from exports.fleet_xlsx import ExportCancelled, write_fleet_xlsx
        from store.queries.fleet_export import count_fleet, fleet_export_rows
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                actor = app.session.actor
                total = count_fleet(session, actor, self.card_filter)
                self.post_message(self.Progress(0, total))
                result = write_fleet_xlsx(
                    fleet_export_rows(session, actor, self.card_filter), path, total=total,
                    progress=lambda done, total: self.post_message(self.Progress(done, total)),
                    cancelled=self.cancel_requested.is_set)
        except ExportCancelled:
            self.post_message(self.Finished(None, 0, cancelled=True))
        except DomainError as exc:
            self.post_message(self.Finished(None, 0, problem=exc.message))
        except OSError as exc:
            self.post_message(self.Finished(None, 0, problem=_("The file could not be written: {problem}").format(
                problem=exc.strerror or str(exc))))
        except Exception:
            log.exception("Fleet export failed")
            self.post_message(self.Finished(None, 0, problem=_("The export failed. Try again in a moment.")))
        else:
            self.post_message(self.Finished(result.path, result.rows))

    def on_export_dialog_progress(self, message: Progress) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_export_dialog_finished(self, message: Finished) -> None:
        self.running = False
        if message.cancelled:
            self.dismiss("")
            return
        if message.problem:
            self.query_one("#export-path", Input).disabled = False
            self.query_one(MessageLine).show_error(message.problem)
            self.query_one("#export-path", Input).focus()
            return
        text = ngettext("{rows} card exported to {path}.", "{rows} cards exported to {path}.", message.rows)
        self.dismiss(text.format(rows=message.rows, path=message.path))

    def action_cancel(self) -> None:
        if self.running:
            self.cancel_requested.set()
            self.query_one(MessageLine).show_busy(_("Cancelling…"))
        else:
            self.dismiss(None)
