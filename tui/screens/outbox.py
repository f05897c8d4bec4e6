"""My account -> Outbox (administrators: the right to manage users): every e-mail the portal wrote.

The mails are readable here whether or not a mail server is configured (CARDSONLINE_SMTP_URL): the list pages
from `store.services.outbox.list_outbox` (keyset, newest first; the next page is read when the cursor reaches
the end), filtered by status; the highlighted mail's addressee, delivery state and body show below the list.
Nothing here sends, edits or deletes a mail.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label, Select, Static

from tui.i18n import N_, _, format_number, ngettext
from tui.i18n.labels import NP_, tr
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

PAGE = 50
ALL = "all"
STATUS_LABELS = (
    ("pending", N_("Pending")),
    ("sent", N_("Sent")),
    ("failed", N_("Failed")),
)
COLUMNS = (
    ("date", N_("Date"), 16),
    ("status", N_("Status"), 8),
    ("to", NP_("e-mail recipient", "To"), 24),
    ("subject", N_("Subject"), 22),
)


def status_label(value: str) -> str:
    return _(dict(STATUS_LABELS).get(value, value))


class OutboxScreen(Screen[None]):
    CSS_PATH = "../styles/outbox.tcss"
    AUTO_FOCUS = "#outbox-table"
    TITLE = N_("Outbox")
    HELP = N_("Every e-mail the portal wrote to your company's users (invitations, profile changes, requests "
              "done, renewal notices…), newest first, with whether it was sent. The text of the highlighted "
              "mail shows below the list. Mails are sent in the background when a mail server is set up; "
              "a mail the server refused for good is marked Failed with the server's answer.")
    HELP_KEYS = (
        (N_("↑ / ↓"), N_("Highlight a mail: its text shows below the list")),
        (N_("Tab / Shift+Tab"), N_("Move between the status filter, the list and the mail's text")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("f5", "refresh", N_("Refresh"), id="outbox_refresh"),
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

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.more = False
        self.fetching = False
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="outbox-filters"):
            yield Select([(_("All mails"), ALL)] + [(_(label), value) for value, label in STATUS_LABELS],
                         value=ALL, allow_blank=False, id="outbox-status")
            yield Label("", id="outbox-count", markup=False)
        table = DataTable(id="outbox-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(tr(label), key=key, width=width)
        yield table
        with VerticalScroll(id="outbox-mail", classes="panel", can_focus=True):
            yield Static("", id="outbox-mail-text", markup=False)
        yield MessageLine(id="outbox-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#outbox-mail").border_title = _("Mail")
        self.reload()

    def status_filter(self) -> str | None:
        value = self.query_one("#outbox-status", Select).value
        return None if value == ALL else str(value)

    def reload(self) -> None:
        if self.app.session is None:
            return
        self.query_one(MessageLine).clear()
        self.generation += 1
        self.fetching = True
        self.fetch(self.generation, self.status_filter(), None)

    def load_more(self) -> None:
        if self.fetching or not self.more or not self.rows:
            return
        self.fetching = True
        self.fetch(self.generation, self.status_filter(), self.rows[-1].id)

    @work(thread=True, group="outbox", exit_on_error=False)
    def fetch(self, generation: int, status: str | None, after_id: int | None) -> None:
        from store.models import OutboxStatus
        from store.services.errors import DomainError
        from store.services.outbox import count_outbox, list_outbox

        app = self.app
        try:
            with app.db.session() as session:
                wanted = OutboxStatus(status) if status else None
                rows = list_outbox(session, app.session.actor, wanted, after_id=after_id, limit=PAGE + 1)
                total = count_outbox(session, app.session.actor, wanted) if after_id is None else None
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], after_id is not None, None, exc.message))
        except Exception:
            log.exception("Outbox failed")
            self.post_message(self.Loaded(generation, [], after_id is not None, None,
                                          _("The outbox could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, after_id is not None, total))

    def on_outbox_screen_loaded(self, message: Loaded) -> None:
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
            text = ngettext("{count} mail", "{count} mails", message.total)
            self.query_one("#outbox-count", Label).update(text.format(count=format_number(message.total)))
        for row in message.rows[:PAGE]:
            self.rows.append(row)
            table.add_row(*self.cells(row), key=str(row.id))
        if not self.rows:
            self.show_mail(None)
            if not message.problem:
                self.query_one(MessageLine).show_info(_("No mail with this status."))
        elif not message.append:
            self.show_mail(self.rows[0])

    def cells(self, row) -> list[str]:
        return [f"{self.app.session.local(row.created_at):%d/%m/%Y %H:%M}", status_label(row.status.value),
                row.to_address, row.subject]

    def mail_text(self, row) -> str:
        local = self.app.session.local
        if row.status.value == "sent":
            state = _("Sent on {moment}.").format(moment=f"{local(row.sent_at):%d/%m/%Y %H:%M}" if row.sent_at
                                                   else "—")
        elif row.status.value == "failed":
            state = ngettext("Failed after {attempts} attempt: {error}", "Failed after {attempts} attempts: {error}",
                             row.attempts).format(attempts=row.attempts, error=row.last_error or "—")
        elif row.attempts:
            state = ngettext("Pending: {attempts} attempt so far, next at {moment}. Last answer: {error}",
                             "Pending: {attempts} attempts so far, next at {moment}. Last answer: {error}",
                             row.attempts).format(
                attempts=row.attempts, error=row.last_error or "—",
                moment=f"{local(row.next_attempt_at):%d/%m/%Y %H:%M}" if row.next_attempt_at else "—")
        else:
            state = _("Pending: not sent yet.")
        to = f"{row.to_address} ({row.username})" if row.username else row.to_address
        lines = [
            _("To: {to}").format(to=to),
            _("Subject: {subject}").format(subject=row.subject),
            _("Language: {language}").format(language=row.language),
            state,
            "",
            row.body,
        ]
        return "\n".join(lines)

    def show_mail(self, row) -> None:
        self.query_one("#outbox-mail-text", Static).update(self.mail_text(row) if row is not None else "")
        self.query_one("#outbox-mail", VerticalScroll).scroll_home(animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.rows):
            self.show_mail(self.rows[event.cursor_row])
        if event.cursor_row >= len(self.rows) - 1:
            self.load_more()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
