"""My account -> Audit trail: who did what and when, with the values before and after (read only).

Filters: user, object, action (lists of what occurs in the trail) and a date range typed as dd/mm/yyyy
(days in the customer's time zone). The list pages with the store's keyset query (newest first); the
highlighted event's fields show as `field: before → after` below it. Ctrl+E writes the filtered trail to
Excel in a worker (a progress bar; Esc cancels and leaves no file) and tells the path. Nothing here edits or
deletes an event.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, ProgressBar, Select, Static

from tui.i18n import N_, _, format_number, ngettext, pgettext
from tui.screens.export_dialog import path_problem
from tui.screens.my_requests import parse_day
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

PAGE = 50
ALL = "all"
COLUMNS = (
    ("date", N_("Date"), 16),
    ("user", N_("User"), 12),
    ("object", N_("Object"), 16),
    ("action", N_("Action"), 22),
)


def default_audit_path(now) -> Path:
    return Path.home() / f"cardsonline-audit-{now:%Y%m%d-%H%M}.xlsx"


class AuditExportDialog(ModalScreen["str | None"]):
    """Asks the file, writes the filtered trail; dismisses with the success text, "" when cancelled while
    running, or None when closed unused."""

    CSS_PATH = "../styles/audit_trail.tcss"
    AUTO_FOCUS = "#export-path"
    TITLE = N_("Export the audit trail")
    HELP = N_("Every event that matches the current filters is written to an Excel file, not only the rows on "
              "screen. Esc cancels a running export; no file is left behind.")
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="audit_export_cancel")]

    class Progress(Message):
        def __init__(self, done: int, total: int | None) -> None:
            super().__init__()
            self.done = done
            self.total = total

    class Finished(Message):
        def __init__(self, path: Path | None, rows: int, cancelled: bool = False, problem: str | None = None):
            super().__init__()
            self.path = path
            self.rows = rows
            self.cancelled = cancelled
            self.problem = problem

    def __init__(self, audit_filter) -> None:
        super().__init__()
        self.audit_filter = audit_filter
        self.running = False
        self.cancel_requested = threading.Event()

    def compose(self) -> ComposeResult:
        now = self.app.session.local(self.app.db.clock.now())
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label(_("Export the audit trail"), classes="dialog-title")
            yield Label(_("Every event matching the current filters. File:"), markup=False)
            yield Input(str(default_audit_path(now)), id="export-path")
            yield ProgressBar(id="export-progress", show_eta=False)
            yield MessageLine(id="export-message")
            yield Label(_("Enter: export · Esc: cancel"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.running:
            return
        problem = path_problem(event.value)
        if problem:
            self.query_one(MessageLine).show_error(problem)
            return
        self.running = True
        self.query_one("#export-path", Input).disabled = True
        self.query_one(ProgressBar).display = True
        self.query_one(MessageLine).show_busy(_("Exporting… Esc cancels."))
        self.export(Path(event.value.strip()).expanduser())

    @work(thread=True, exclusive=True, group="audit-export", exit_on_error=False)
    def export(self, path: Path) -> None:
        from exports.audit_xlsx import ExportCancelled, write_audit_xlsx
        from store.queries.audit import count_audit, iter_audit
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                actor = app.session.actor
                total = count_audit(session, actor, self.audit_filter)
                self.post_message(self.Progress(0, total))
                result = write_audit_xlsx(
                    iter_audit(session, actor, self.audit_filter), path, app.session.zone, total=total,
                    progress=lambda done, of: self.post_message(self.Progress(done, of)),
                    cancelled=self.cancel_requested.is_set)
        except ExportCancelled:
            self.post_message(self.Finished(None, 0, cancelled=True))
        except DomainError as exc:
            self.post_message(self.Finished(None, 0, problem=exc.message))
        except OSError as exc:
            self.post_message(self.Finished(None, 0, problem=_("The file could not be written: {problem}").format(
                problem=exc.strerror or str(exc))))
        except Exception:
            log.exception("Audit export failed")
            self.post_message(self.Finished(None, 0, problem=_("The export failed. Try again in a moment.")))
        else:
            self.post_message(self.Finished(result.path, result.rows))

    def on_audit_export_dialog_progress(self, message: Progress) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_audit_export_dialog_finished(self, message: Finished) -> None:
        self.running = False
        if message.cancelled:
            self.dismiss("")
            return
        if message.problem:
            field = self.query_one("#export-path", Input)
            field.disabled = False
            self.query_one(ProgressBar).display = False
            self.query_one(MessageLine).show_error(message.problem)
            field.focus()
            return
        text = ngettext("{rows} event exported to {path}.", "{rows} events exported to {path}.", message.rows)
        self.dismiss(text.format(rows=format_number(message.rows), path=message.path))

    def action_cancel(self) -> None:
        if self.running:
            self.cancel_requested.set()
            self.query_one(MessageLine).show_busy(_("Cancelling…"))
        else:
            self.dismiss(None)


class AuditTrailScreen(Screen[None]):
    CSS_PATH = "../styles/audit_trail.tcss"
    AUTO_FOCUS = "#audit-table"
    TITLE = N_("Audit trail")
    HELP = N_("Who did what and when in your company's portal, with the values before and after each change, "
              "newest first; the issuer's work on your cards is listed too. Filter by user, object, action or "
              "date (dd/mm/yyyy). The trail cannot be changed. Ctrl+E exports the filtered trail to Excel.")
    HELP_KEYS = (
        (N_("↑ / ↓"), N_("Highlight an event: its values before and after show below the list")),
        (N_("Enter"), N_("In a date: apply the filters")),
        (N_("Ctrl+E"), N_("Export every matching event to Excel")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f5", "refresh", N_("Refresh"), id="audit_refresh"),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="audit_clear"),
        Binding("ctrl+e", "export", N_("Export"), id="audit_export", priority=True),
    ]

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, append: bool, total: int | None,
                     problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.append = append
            self.total = total
            self.problem = problem

    class ChoicesLoaded(Message):
        def __init__(self, users: list[str], objects: list[str], actions: list[str]) -> None:
            super().__init__()
            self.users = users
            self.objects = objects
            self.actions = actions

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.more = False
        self.fetching = False
        self.generation = 0
        self._dates_shown: tuple[str, str] = ("", "")

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="audit-filters"):
            yield Select([(pgettext("audit filter", "Users"), ALL)], value=ALL, allow_blank=False, id="audit-user")
            yield Select([(_("Objects"), ALL)], value=ALL, allow_blank=False, id="audit-object")
            yield Select([(_("Actions"), ALL)], value=ALL, allow_blank=False, id="audit-action")
            yield Input(placeholder=_("From date"), id="audit-from", max_length=10)
            yield Input(placeholder=_("To date"), id="audit-to", max_length=10)
        table = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(_(label), key=key, width=width)
        yield table
        with VerticalScroll(id="audit-change", classes="panel", can_focus=True):
            yield Static("", id="audit-change-text", markup=False)
        yield MessageLine(id="audit-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#audit-change").border_title = _("Before → after")
        self.load_choices()
        self.reload()

    # Filters -----------------------------------------------------------------------------------

    @work(thread=True, group="audit-choices", exit_on_error=False)
    def load_choices(self) -> None:
        from store.queries.audit import audit_choices
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                self.post_message(self.ChoicesLoaded(*audit_choices(session, app.session.actor)))
        except DomainError:
            pass  # the list itself shows the refusal
        except Exception:
            log.exception("Audit trail filter choices failed")

    def on_audit_trail_screen_choices_loaded(self, message: ChoicesLoaded) -> None:
        for field, everything, values in (("audit-user", pgettext("audit filter", "Users"), message.users),
                                          ("audit-object", _("Objects"), message.objects),
                                          ("audit-action", _("Actions"), message.actions)):
            select = self.query_one(f"#{field}", Select)
            current = select.value
            with self.prevent(Select.Changed):
                select.set_options([(everything, ALL)] + [(value, value) for value in values])
                select.value = current if current == ALL or current in values else ALL

    def audit_filter(self):
        """The filters as an AuditFilter, or None after showing which date is not valid."""
        from store.queries.audit import AuditFilter

        problems, days = [], {}
        for field, name in (("audit-from", _("From")), ("audit-to", pgettext("date bound", "To"))):
            text = self.query_one(f"#{field}", Input).value
            try:
                days[field] = parse_day(text)
            except ValueError:
                problems.append(_("{field}: “{text}” is not a date; type it as dd/mm/yyyy, e.g. 26/11/2026.")
                                .format(field=name, text=text))
        if not problems and days["audit-from"] and days["audit-to"] and days["audit-from"] > days["audit-to"]:
            problems.append(_("The From date is after the To date."))
        if problems:
            self.query_one(MessageLine).show_error(*problems)
            return None

        def chosen(field: str) -> str | None:
            value = self.query_one(f"#{field}", Select).value
            return None if value == ALL else str(value)

        return AuditFilter(user=chosen("audit-user"), object_type=chosen("audit-object"),
                           action=chosen("audit-action"), date_from=days["audit-from"], date_to=days["audit-to"])

    # The list ----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.app.session is None:
            return
        audit_filter = self.audit_filter()
        if audit_filter is None:
            return
        self.query_one(MessageLine).clear()
        self._dates_shown = tuple(self.query_one(f"#{f}", Input).value.strip() for f in ("audit-from", "audit-to"))
        self.generation += 1
        self.fetching = True
        self.fetch(self.generation, audit_filter, None)

    def load_more(self) -> None:
        if self.fetching or not self.more or not self.rows:
            return
        audit_filter = self.audit_filter()
        if audit_filter is None:
            return
        self.fetching = True
        self.fetch(self.generation, audit_filter, self.rows[-1].id)

    @work(thread=True, group="audit", exit_on_error=False)
    def fetch(self, generation: int, audit_filter, after_id: int | None) -> None:
        from store.queries.audit import count_audit, search_audit
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows = search_audit(session, app.session.actor, audit_filter, after_id=after_id, limit=PAGE + 1)
                total = count_audit(session, app.session.actor, audit_filter) if after_id is None else None
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], after_id is not None, None, exc.message))
        except Exception:
            log.exception("Audit trail failed")
            self.post_message(self.Loaded(generation, [], after_id is not None, None,
                                          _("The audit trail could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, after_id is not None, total))

    def on_audit_trail_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return
        self.fetching = False
        table = self.query_one(DataTable)
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        self.more = len(message.rows) > PAGE
        if not message.append:
            self.rows = []
            table.clear()
        if message.total is not None:
            text = ngettext("{count} event", "{count} events", message.total)
            self.query_one("#audit-change").border_subtitle = text.format(count=format_number(message.total))
        for row in message.rows[:PAGE]:
            self.rows.append(row)
            table.add_row(*self.cells(row), key=str(row.id))
        if not self.rows:
            self.show_change(None)
            if not message.problem:
                self.query_one(MessageLine).show_info(_("No event matches these filters."))
        elif not message.append:
            self.show_change(self.rows[0])

    def cells(self, row) -> list[str]:
        target = f"{row.object_type} {row.object_id}" if row.object_id else row.object_type
        return [f"{self.app.session.local(row.occurred_at):%d/%m/%Y %H:%M}", row.user, target, row.action]

    def change_text(self, row) -> str:
        from store.queries.audit import change_lines

        head = _("{moment} · {user} · {target} · {action}").format(
            moment=f"{self.app.session.local(row.occurred_at):%d/%m/%Y %H:%M:%S}", user=row.user,
            target=f"{row.object_type} {row.object_id or ''}".strip(), action=row.action)
        lines = change_lines(row)
        if not lines:
            return f"{head}\n{_('No values recorded for this event.')}"
        width = min(max(len(field) for field, _b, _a in lines), 22)
        empty = _("(none)")
        body = [f"{field:<{width}}  {before or empty} → {after or empty}" for field, before, after in lines]
        return "\n".join([head, *body])

    def show_change(self, row) -> None:
        self.query_one("#audit-change-text", Static).update(self.change_text(row) if row is not None else "")
        self.query_one("#audit-change", VerticalScroll).scroll_home(animate=False)

    # Events and actions ------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.rows):
            self.show_change(self.rows[event.cursor_row])
        if event.cursor_row >= len(self.rows) - 1:
            self.load_more()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        fields = tuple(self.query_one(f"#{f}", Input).value.strip() for f in ("audit-from", "audit-to"))
        if fields != self._dates_shown:
            self.reload()

    def action_refresh(self) -> None:
        self.load_choices()
        self.reload()

    def action_clear_filters(self) -> None:
        for field in ("audit-from", "audit-to"):
            self.query_one(f"#{field}", Input).value = ""
        with self.prevent(Select.Changed):
            for field in ("audit-user", "audit-object", "audit-action"):
                self.query_one(f"#{field}", Select).value = ALL
        self.reload()

    def action_export(self) -> None:
        audit_filter = self.audit_filter()
        if audit_filter is None:
            return
        line = self.query_one(MessageLine)

        def closed(outcome: str | None) -> None:
            if outcome:
                line.show_success(outcome)
            elif outcome == "":
                line.show_info(_("The export was cancelled: no file was written."))

        self.app.push_screen(AuditExportDialog(audit_filter), closed)

    def action_back(self) -> None:
        self.app.pop_screen()
