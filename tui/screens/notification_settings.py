"""My account -> Notification settings (Fiche 02 "Meldingen instellen", Fiche 12): which alerts the logged-in
user receives by e-mail — anomalies (every kind, or some kinds of anomaly rule), requests done, renewal notices.

Reads and saves through `store.services.notifications` in thread workers; Ctrl+S saves.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, Label, Static

from tui.i18n import N_, _
from tui.i18n.labels import anomaly_rules
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

def rule_id(value: str) -> str:
    return "anomaly-" + value.replace(" ", "-")


class NotificationSettingsScreen(Screen[None]):
    CSS_PATH = "../styles/notification_settings.tcss"
    AUTO_FOCUS = "#anomaly-all"
    TITLE = N_("Notification settings")
    HELP = N_("Choose which alerts you receive by e-mail: anomalies (every kind, or only some kinds), the "
              "issuer's answer to your requests, and the renewal notices of your cards. These settings are yours "
              "alone; Ctrl+S saves them.")
    HELP_KEYS = (
        (N_("Space / Enter"), N_("Tick or untick the highlighted box")),
        (N_("Tab / Shift+Tab"), N_("Move between the boxes")),
        (N_("Ctrl+S"), N_("Save")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Save"), id="notifications_save"),
    ]

    class Loaded(Message):
        def __init__(self, preferences, problem: str | None = None, saved: bool = False) -> None:
            super().__init__()
            self.preferences = preferences
            self.problem = problem
            self.saved = saved

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self._updating = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="notifications-body"):
            with VerticalScroll(id="notifications-anomalies"):
                yield Label(_("Anomalies"), classes="section-title")
                yield Checkbox(_("Every kind of anomaly"), id="anomaly-all", compact=True)
                for value, label in anomaly_rules():  # from the enum: a new rule is offered too
                    yield Checkbox(_(label), id=rule_id(value), compact=True, classes="anomaly-rule")
            with Vertical(id="notifications-other"):
                yield Label(_("Other alerts"), classes="section-title")
                yield Checkbox(_("My requests are done"), id="requests-done", compact=True)
                yield Checkbox(_("Renewal notices"), id="renewal-notices", compact=True)
                yield Static(_("Requests done: the issuer produced, shipped or refused something you ordered.\n"
                               "Renewal notices: your cards expire in 3 months and will be renewed."),
                             id="notifications-explained", markup=False)
        yield MessageLine(id="notifications-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_enabled(False)
        self.load()

    def set_enabled(self, enabled: bool) -> None:
        for box in self.query(Checkbox):
            box.disabled = not enabled

    @work(thread=True, exclusive=True, group="notifications", exit_on_error=False)
    def load(self) -> None:
        from store.services.errors import DomainError
        from store.services.notifications import get_notification_settings

        app = self.app
        try:
            with app.db.session() as session:
                preferences = get_notification_settings(session, app.session.actor)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message))
        except Exception:
            log.exception("Reading the notification settings failed")
            self.post_message(self.Loaded(None, _("Your notification settings could not be read right now. Try "
                                                  "again in a moment.")))
        else:
            self.post_message(self.Loaded(preferences))

    def on_notification_settings_screen_loaded(self, message: Loaded) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            if message.preferences is None and not message.saved:
                return
        if message.preferences is not None:
            self.show(message.preferences)
        self.set_enabled(True)
        if self.focused is None:
            self.query_one("#anomaly-all", Checkbox).focus()
        if message.saved and not message.problem:
            line.show_success(_("Your notification settings are saved."))

    def show(self, preferences) -> None:
        chosen = {rule.value for rule in preferences.anomaly_rules}
        self._updating = True
        try:
            with self.prevent(Checkbox.Changed):
                self.query_one("#anomaly-all", Checkbox).value = preferences.all_anomalies
                for value, _label in anomaly_rules():
                    self.query_one(f"#{rule_id(value)}", Checkbox).value = value in chosen
                self.query_one("#requests-done", Checkbox).value = preferences.requests_done
                self.query_one("#renewal-notices", Checkbox).value = preferences.renewal_notices
        finally:
            self._updating = False

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if self._updating:
            return
        self.query_one(MessageLine).clear()
        rules = list(self.query(".anomaly-rule").results(Checkbox))
        self._updating = True
        try:
            with self.prevent(Checkbox.Changed):
                if event.checkbox.id == "anomaly-all":
                    for box in rules:  # "every kind" ticks or unticks them all
                        box.value = event.value
                elif event.checkbox.has_class("anomaly-rule"):
                    self.query_one("#anomaly-all", Checkbox).value = all(box.value for box in rules)
        finally:
            self._updating = False

    def preferences(self):
        from store.models import AnomalyRule
        from store.services.notifications import NotificationPreferences

        rules = frozenset(AnomalyRule(value) for value, _label in anomaly_rules()
                          if self.query_one(f"#{rule_id(value)}", Checkbox).value)
        return NotificationPreferences(anomaly_rules=rules,
                                       requests_done=self.query_one("#requests-done", Checkbox).value,
                                       renewal_notices=self.query_one("#renewal-notices", Checkbox).value)

    def action_save(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.save(self.preferences())

    @work(thread=True, group="notifications-save", exit_on_error=False)
    def save(self, preferences) -> None:
        from store.services.errors import DomainError
        from store.services.notifications import set_notification_settings

        app = self.app
        try:
            with app.db.session() as session:
                saved = set_notification_settings(session, app.session.actor, app.db.clock.now(), preferences)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message, saved=True))
        except Exception:
            log.exception("Saving the notification settings failed")
            self.post_message(self.Loaded(None, _("Your notification settings could not be saved right now; "
                                                  "nothing was changed. Try again in a moment."), saved=True))
        else:
            self.post_message(self.Loaded(saved, saved=True))

    def action_back(self) -> None:
        self.app.pop_screen()
