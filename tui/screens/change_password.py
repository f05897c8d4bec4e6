"""My account -> Change my password (Fiche 01)."""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from tui.i18n import N_, _
from tui.screens.base import FormScreen
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

FIELDS = ("current", "new", "confirmation")


def policy_text() -> str:
    """The rules of Fiche 01, as the store checks them (store.services.passwords.policy_violations)."""
    from store.services.passwords import HISTORY_DEPTH, MIN_LENGTH

    return "\n".join((
        _("Your new password must:"),
        _("• have at least {count} characters").format(count=MIN_LENGTH),
        _("• contain at least 1 letter, 1 digit and 1 special character (such as # ! ? @ %)"),
        _("• differ from your user name"),
        _("• differ from your previous {count} passwords").format(count=HISTORY_DEPTH),
    ))


class ChangePasswordScreen(FormScreen):
    CSS_PATH = "../styles/change_password.tcss"
    AUTO_FOCUS = "#current"
    FORM_FIELDS = FIELDS
    BINDINGS = [Binding("escape", "back", N_("Back"), id="back")]
    TITLE = N_("Change my password")
    HELP = N_("Type your current password, then the new one twice. Every rule the new password breaks is "
              "listed; what you typed stays so you can correct it.")
    HELP_KEYS = (
        (N_("Tab / Shift+Tab"), N_("Move between the fields")),
        (N_("Enter"), N_("Next field; in the last field: change the password")),
    )

    class Changed(Message):
        pass

    class Refused(Message):
        def __init__(self, problems: list[str], field: str | None) -> None:
            super().__init__()
            self.problems = problems
            self.field = field

    def __init__(self) -> None:
        super().__init__()
        self.saving = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="password-body"):
            with VerticalScroll(id="password-form", classes="panel"):
                yield Label(_("Change my password"), classes="panel-title")
                yield Label(_("Current password"), classes="field-label")
                yield Input(id="current", password=True)
                yield Label(_("New password"), classes="field-label")
                yield Input(id="new", password=True)
                yield Label(_("New password again"), classes="field-label")
                yield Input(id="confirmation", password=True)
                with Horizontal(classes="buttons"):
                    yield Button(_("Change password"), id="save", variant="primary")
                    yield Button(_("Cancel"), id="cancel")
            with VerticalScroll(id="password-side", classes="panel"):
                yield Static(policy_text(), id="password-policy", markup=False)
                yield MessageLine(id="password-message")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.submit()
        elif event.button.id == "cancel":
            self.action_back()

    def action_back(self) -> None:
        if not self.saving:
            self.app.pop_screen()

    def _set_saving(self, saving: bool) -> None:
        self.saving = saving
        for widget in self.query("#password-form Input, #password-form Button"):
            widget.disabled = saving

    def submit(self) -> None:
        if self.saving:
            return
        values = [self.query_one(f"#{name}", Input).value for name in FIELDS]
        self._set_saving(True)
        self.query_one(MessageLine).show_busy(_("Changing your password…"))
        self.save(*values)

    @work(thread=True, exclusive=True, group="change-password", exit_on_error=False)
    def save(self, current: str, new: str, confirmation: str) -> None:
        """Runs in a thread: checking and hashing passwords is slow on purpose."""
        from store.services.errors import DomainError
        from tui.session import change_password

        try:
            change_password(self.app.db, self.app.session, current, new, confirmation)
        except DomainError as exc:
            self.post_message(self.Refused(list(exc.problems), exc.field))
        except Exception:
            log.exception("Password change failed")
            self.post_message(self.Refused([_("The password could not be changed right now. Try again in a "
                                              "moment.")], None))
        else:
            self.post_message(self.Changed())

    def on_change_password_screen_refused(self, message: Refused) -> None:
        self._set_saving(False)
        self.query_one(MessageLine).show_error(*message.problems)
        field = message.field if message.field in FIELDS else "new"
        self.query_one(f"#{field}", Input).focus()

    def on_change_password_screen_changed(self, message: Changed) -> None:
        self._set_saving(False)
        self.app.notify(_("Your password has been changed."), title=_("Change my password"))
        self.app.pop_screen()
