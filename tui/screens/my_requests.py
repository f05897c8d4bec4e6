"""My cards and OBUs -> My requests (Fiche 03 step 8): every order to the issuer and how far it is.

Pages with the store's keyset query (`store.queries.cards.list_requests`, newest first): the next page is read
when the cursor reaches the end. Filters: status, kind, and a date range typed as dd/mm/yyyy.
"""
from __future__ import annotations

import json
import logging
from datetime import date, datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, Select, Static

from tui.i18n import N_, _, pgettext
from tui.i18n.labels import NP_, tr
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

PAGE = 50
ALL = "all"
STATUS_LABELS = (
    ("submitted", N_("Submitted")),
    ("waiting for document", N_("Waiting for document")),
    ("in production", N_("In production")),
    ("shipped", N_("Shipped")),
    ("done", N_("Done")),
    ("rejected", N_("Rejected")),
)
KIND_LABELS = (
    ("create", N_("New card")),
    ("copy", NP_("request kind", "Copy")),
    ("change", NP_("request kind", "Change")),
    ("duplicate", N_("Duplicate")),
    ("pin reissue", N_("PIN reissue")),
    ("toll conditions", N_("Toll conditions")),
    ("renewal", N_("Renewal")),
    ("delete", NP_("request kind", "Delete")),
    ("driver code reissue", N_("Driver code reissue")),
)
COLUMNS = (
    ("date", N_("Date"), 16),
    ("kind", N_("Kind"), 12),
    ("status", N_("Status"), 20),
    ("card", N_("Card / plate"), 18),
    ("reason", N_("Reason"), 40),
)


def label_of(pairs: tuple[tuple[str, str], ...], value: str) -> str:
    return tr(dict(pairs).get(value, value))


def parse_day(text: str) -> date | None:
    """A dd/mm/yyyy date (also d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy); None for an empty field; ValueError else."""
    text = text.strip()
    if not text:
        return None
    for separator in ("-", "."):
        text = text.replace(separator, "/")
    return datetime.strptime(text, "%d/%m/%Y").date()


class RequestDetails(ModalScreen[None]):
    CSS_PATH = "../styles/my_requests.tcss"
    BINDINGS = [Binding("escape", "close", N_("Close"), id="close")]
    TITLE = N_("Request details")

    def __init__(self, lines: list[tuple[str, str]], title: str) -> None:
        super().__init__()
        self.lines = lines
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="request-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll(id="request-body", can_focus=True):
                yield Static("\n".join(f"{label:<18}{value}" for label, value in self.lines),
                             id="request-text", markup=False)
            yield Label(_("Esc: close"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#request-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class MyRequestsScreen(Screen[None]):
    CSS_PATH = "../styles/my_requests.tcss"
    AUTO_FOCUS = "#requests-table"
    TITLE = N_("My requests")
    HELP = N_("Every order sent to the issuer (new cards, copies, changes, duplicates, PIN reissues…), newest "
              "first, with how far it is. Filter by status, kind or date (dd/mm/yyyy); Enter shows a request's "
              "details.")
    HELP_KEYS = (
        (N_("Enter"), N_("In the list: the request's details; in a date: apply the filters")),
        (N_("Tab / Shift+Tab"), N_("Move between the filters and the list")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f5", "refresh", N_("Refresh"), id="requests_refresh"),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="requests_clear"),
    ]

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, append: bool, problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.append = append
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.more = False
        self.fetching = False
        self.generation = 0
        self._dates_shown: tuple[str, str] = ("", "")

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="requests-filters"):
            yield Select([(_("All statuses"), ALL)] + [(_(label), value) for value, label in STATUS_LABELS],
                         value=ALL, allow_blank=False, id="requests-status")
            yield Select([(_("All kinds"), ALL)] + [(tr(label), value) for value, label in KIND_LABELS],
                         value=ALL, allow_blank=False, id="requests-kind")
            yield Input(placeholder=_("From dd/mm/yyyy"), id="requests-from", max_length=10)
            yield Input(placeholder=_("To dd/mm/yyyy"), id="requests-to", max_length=10)
        table = DataTable(id="requests-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(_(label), key=key, width=width)
        yield table
        yield MessageLine(id="requests-message")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", lambda _n=None: self.reload(), init=False)
        self.reload()

    def filters(self) -> dict | None:
        """The filters, or None after showing which date is not valid."""
        problems, days = [], {}
        for field, name in (("requests-from", _("From")), ("requests-to", pgettext("date bound", "To"))):
            text = self.query_one(f"#{field}", Input).value
            try:
                days[field] = parse_day(text)
            except ValueError:
                problems.append(_("{field}: “{text}” is not a date; type it as dd/mm/yyyy, e.g. 26/11/2026.")
                                .format(field=name, text=text))
        if not problems and days["requests-from"] and days["requests-to"] \
                and days["requests-from"] > days["requests-to"]:
            problems.append(_("The From date is after the To date."))
        if problems:
            self.query_one(MessageLine).show_error(*problems)
            return None
        status = self.query_one("#requests-status", Select).value
        kind = self.query_one("#requests-kind", Select).value
        return {"status": None if status == ALL else status, "kind": None if kind == ALL else kind,
                "date_from": days["requests-from"], "date_to": days["requests-to"]}

    def reload(self) -> None:
        if self.app.session is None:
            return
        filters = self.filters()
        if filters is None:
            return
        self.query_one(MessageLine).clear()
        self._dates_shown = tuple(self.query_one(f"#{f}", Input).value.strip()
                                  for f in ("requests-from", "requests-to"))
        self.generation += 1
        self.fetching = True
        self.fetch(self.generation, filters, None)

    def load_more(self) -> None:
        if self.fetching or not self.more or not self.rows:
            return
        filters = self.filters()
        if filters is None:
            return
        self.fetching = True
        self.fetch(self.generation, filters, self.rows[-1].id)

    @work(thread=True, group="requests", exit_on_error=False)
    def fetch(self, generation: int, filters: dict, after_id: int | None) -> None:
        from store.models import RequestKind, RequestStatus
        from store.queries.cards import list_requests
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows = list_requests(
                    session, app.session.actor,
                    status=RequestStatus(filters["status"]) if filters["status"] else None,
                    kind=RequestKind(filters["kind"]) if filters["kind"] else None,
                    date_from=filters["date_from"], date_to=filters["date_to"], limit=PAGE + 1, after_id=after_id)
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], after_id is not None, exc.message))
        except Exception:
            log.exception("My requests failed")
            self.post_message(self.Loaded(generation, [], after_id is not None,
                                          _("Your requests could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, after_id is not None))

    def on_my_requests_screen_loaded(self, message: Loaded) -> None:
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
        for row in message.rows[:PAGE]:
            self.rows.append(row)
            table.add_row(*self.cells(row), key=str(row.id))
        if not self.rows and not message.problem:
            self.query_one(MessageLine).show_info(_("No request matches these filters."))

    def cells(self, row) -> list[str]:
        return [
            f"{self.app.session.local(row.created_at):%d/%m/%Y %H:%M}",
            label_of(KIND_LABELS, row.kind.value),
            label_of(STATUS_LABELS, row.status.value),
            row.card_number or row.license_plate or row.embossed_name or "—",
            _(row.reason) if row.reason else "",  # a stored reason the catalog knows shows translated
        ]

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        # Leaving a date field applies it, unless it is what the list already shows.
        fields = tuple(self.query_one(f"#{f}", Input).value.strip() for f in ("requests-from", "requests-to"))
        if fields != self._dates_shown:
            self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - 1:
            self.load_more()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.rows):
            self.show_details(self.rows[event.cursor_row])

    def show_details(self, row) -> None:
        local = self.app.session.local
        lines = [
            (_("Request"), str(row.id)),
            (_("Kind"), label_of(KIND_LABELS, row.kind.value)),
            (_("Status"), label_of(STATUS_LABELS, row.status.value)),
            (_("Customer no."), row.customer_number),
            (_("Card"), row.card_number or "—"),
            (_("Plate / name"), row.license_plate or row.embossed_name or "—"),
            (_("Sent"), f"{local(row.created_at):%d/%m/%Y %H:%M}"),
            (_("Updated"), f"{local(row.updated_at):%d/%m/%Y %H:%M}" if row.updated_at else "—"),
            (_("Fee"), _("€ {fee}").format(fee=row.fee) if row.fee is not None else _("none")),
            (_("Reason"), _(row.reason) if row.reason else "—"),
        ]
        for key, value in (row.details or {}).items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            lines.append((str(key).replace("_", " ").capitalize(), shown))
        self.app.push_screen(RequestDetails(lines, _("Request {id}").format(id=row.id)))

    def action_refresh(self) -> None:
        self.reload()

    def action_clear_filters(self) -> None:
        for field in ("requests-from", "requests-to"):
            self.query_one(f"#{field}", Input).value = ""
        with self.prevent(Select.Changed):
            self.query_one("#requests-status", Select).value = ALL
            self.query_one("#requests-kind", Select).value = ALL
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
