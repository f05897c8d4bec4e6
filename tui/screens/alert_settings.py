"""My account -> Customer alert settings (Fiche 11 "Instellingen klantenwaarschuwingen"): the users of the
customer who get an e-mail with a link when a new invoice is available, moved from the left list (users) to
the right one (recipients) with the dual list.

An administrator's setting (it decides about other users' mail): the right to administer users. Reads and
saves through `store.services.notifications` in thread workers; Ctrl+S saves.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label

from tui.i18n import N_, _, ngettext
from tui.widgets.dual_list import DualList
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)


class AlertSettingsScreen(Screen[None]):
    CSS_PATH = "../styles/alert_settings.tcss"
    TITLE = N_("Customer alert settings")
    HELP = N_("Choose the users who get an e-mail with a link to the portal each time a new invoice is "
              "available: move them from the left list to the right one. Ctrl+S saves.")
    HELP_KEYS = (
        (N_("→ / Enter"), N_("In the left list: make the highlighted user a recipient")),
        (N_("← / Enter"), N_("In the right list: remove the highlighted recipient")),
        (N_("Ctrl+→ / Ctrl+←"), N_("Move every shown user")),
        (N_("Tab"), N_("Filter → users → recipients")),
        (N_("Ctrl+S"), N_("Save")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Save"), id="alerts_save"),
    ]

    class Loaded(Message):
        def __init__(self, alerts, problem: str | None = None, saved: bool = False) -> None:
            super().__init__()
            self.alerts = alerts
            self.problem = problem
            self.saved = saved

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.saved_selection: list[str] | None = None

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        yield Label(_("Who gets an e-mail with a link when a new invoice is available?"), id="alerts-title")
        yield Vertical(id="alerts-body")
        yield MessageLine(id="alerts-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.busy = True
        self.load()

    @work(thread=True, exclusive=True, group="alerts", exit_on_error=False)
    def load(self) -> None:
        from store.services.errors import DomainError
        from store.services.notifications import get_invoice_alerts

        app = self.app
        try:
            with app.db.session() as session:
                alerts = get_invoice_alerts(session, app.session.actor)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message))
        except Exception:
            log.exception("Reading the customer alert settings failed")
            self.post_message(self.Loaded(None, _("The alert settings could not be read right now. Try again in a "
                                                  "moment.")))
        else:
            self.post_message(self.Loaded(alerts))

    async def on_alert_settings_screen_loaded(self, message: Loaded) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
        if message.alerts is None:
            return
        selected = [str(user_id) for user_id in message.alerts.recipients]
        self.saved_selection = selected
        existing = self.query(DualList)
        if existing:
            existing.first().selected = selected
        else:
            options = [(str(c.user_id), c.label) for c in message.alerts.candidates]
            dual = DualList(options, selected, available_label=_("Users"), granted_label=_("Invoice recipients"),
                            id="alert-recipients")
            await self.query_one("#alerts-body").mount(dual)
            self.query_one("#dual-available").focus()
        if message.saved:
            count = len(selected)
            line.show_success(ngettext("Saved: {count} user gets the new-invoice e-mail.",
                                       "Saved: {count} users get the new-invoice e-mail.", count).format(count=count))

    def on_dual_list_changed(self, event: DualList.Changed) -> None:
        event.stop()
        if event.selected != self.saved_selection:
            self.query_one(MessageLine).show_info(_("Not saved yet: Ctrl+S saves."))
        else:
            self.query_one(MessageLine).clear()

    def action_save(self) -> None:
        duals = self.query(DualList)
        if self.busy or not duals:
            return
        self.busy = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.save([int(value) for value in duals.first().selected])

    @work(thread=True, group="alerts-save", exit_on_error=False)
    def save(self, user_ids: list[int]) -> None:
        from store.services.errors import DomainError
        from store.services.notifications import set_invoice_alerts

        app = self.app
        try:
            with app.db.session() as session:
                alerts = set_invoice_alerts(session, app.session.actor, app.db.clock.now(), user_ids)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message, saved=True))
        except Exception:
            log.exception("Saving the customer alert settings failed")
            self.post_message(self.Loaded(None, _("The alert settings could not be saved right now; nothing was "
                                                  "changed. Try again in a moment."), saved=True))
        else:
            self.post_message(self.Loaded(alerts, saved=True))

    def action_back(self) -> None:
        self.app.pop_screen()
