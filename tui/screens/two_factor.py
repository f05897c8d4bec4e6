"""Two-factor sign-in (RFC 6238 one-time codes): the code asked at login, and My account -> Two-factor sign-in.

The secret is made by the store (`store.services.users.new_totp_secret`), shown as a provisioning URI (for an
authenticator app: paste it or make a QR code of it) and as base32 text to type in; it is stored only once a
first code confirms it.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from tui.i18n import N_, _
from tui.screens.base import FormScreen
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)


def grouped(secret: str) -> str:
    """The base32 secret in groups of 4, easier to type."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def setup_text(secret: str, username: str) -> str:
    from store.services.users import provisioning_uri

    return "\n".join((
        _("1. In your authenticator app, add an account with this key (time-based):"),
        "   " + grouped(secret),
        _("   or use this link (e.g. turned into a QR code):"),
        "   " + provisioning_uri(secret, username),
        _("2. Type the 6-digit code the app shows to confirm."),
    ))


class SecondFactorScreen(FormScreen):
    """After the password: the one-time code, or (when an administrator requires it) its set-up first.

    Dismissed with the UserSession when the login completes, None when cancelled.
    """

    CSS_PATH = "../styles/two_factor.tcss"
    AUTO_FOCUS = "#code"
    FORM_FIELDS = ("code",)
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="cancel")]
    TITLE = N_("Two-factor sign-in")
    HELP = N_("Type the 6-digit code your authenticator app shows for Cards Online. Wrong codes count as failed "
              "logins.")

    class Done(Message):
        def __init__(self, outcome: object, error: str | None) -> None:
            super().__init__()
            self.outcome = outcome
            self.error = error

    def __init__(self, pending) -> None:
        super().__init__()
        self.pending = pending
        self.secret: str | None = None
        self.checking = False
        if pending.setup:
            from store.services.users import new_totp_secret

            self.secret = new_totp_secret()

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with VerticalScroll(id="second-factor-box", classes="panel"):
            yield Label(_("Two-factor sign-in"), classes="panel-title")
            if self.secret:
                yield Static(_("Your administrator requires two-factor sign-in. Set it up now:"), markup=False)
                yield Static(setup_text(self.secret, self.pending.username), id="second-factor-setup",
                             markup=False)
            else:
                yield Static(_("Type the 6-digit code your authenticator app shows for Cards Online."), markup=False)
            yield Label(_("Code"), classes="field-label")
            yield Input(id="code", max_length=7, restrict=r"[0-9 ]*")
            with Horizontal(classes="buttons"):
                yield Button(_("Log in"), id="verify", variant="primary")
                yield Button(_("Cancel"), id="cancel")
            yield MessageLine(id="second-factor-message")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "verify":
            self.submit()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if not self.checking:
            self.dismiss(None)

    def submit(self) -> None:
        if self.checking:
            return
        code = self.query_one("#code", Input).value.replace(" ", "")
        if not code:
            self.query_one(MessageLine).show_error(_("Type the 6-digit code."))
            return
        self.checking = True
        self.query_one(MessageLine).show_busy(_("Checking…"))
        self.check(code)

    @work(thread=True, exclusive=True, group="second-factor", exit_on_error=False)
    def check(self, code: str) -> None:
        from store.services.errors import DomainError
        from tui.session import finish_second_factor

        try:
            session = finish_second_factor(self.app.db, self.pending, code, self.secret, self.app.login_policy)
        except DomainError as exc:
            self.post_message(self.Done(None, exc.message))
        except Exception:
            log.exception("Second factor could not be checked")
            self.post_message(self.Done(None, _("The code could not be checked right now. Try again in a moment.")))
        else:
            self.post_message(self.Done(session, None))

    def on_second_factor_screen_done(self, message: Done) -> None:
        self.checking = False
        if message.error:
            self.query_one(MessageLine).show_error(message.error)
            code = self.query_one("#code", Input)
            code.clear()
            self.focus_now(code)
        else:
            self.dismiss(message.outcome)


class TwoFactorScreen(FormScreen):
    """My account -> Two-factor sign-in: turn it on (scan, confirm a code) or off (a code)."""

    CSS_PATH = "../styles/two_factor.tcss"
    FORM_FIELDS = ("code",)
    BINDINGS = [Binding("escape", "back", N_("Back"), id="back")]
    TITLE = N_("Two-factor sign-in")
    HELP = N_("With two-factor sign-in the login asks, after your password, a 6-digit code from an authenticator "
              "app on your phone. To turn it on, add the key shown to the app and confirm with a first code. To "
              "turn it off, type a current code. An administrator can require it.")

    def __init__(self) -> None:
        super().__init__()
        self.secret: str | None = None
        self.on_ = False
        self.required = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with VerticalScroll(id="two-factor-box", classes="panel"):
            yield Label(_("Two-factor sign-in"), classes="panel-title")
            yield Static("", id="two-factor-status", markup=False)
            yield Static("", id="two-factor-setup", markup=False)
            with Vertical(id="two-factor-code"):
                yield Label(_("Code"), classes="field-label")
                yield Input(id="code", max_length=7, restrict=r"[0-9 ]*")
            with Horizontal(classes="buttons"):
                yield Button(_("Turn on"), id="turn-on", variant="primary")
                yield Button(_("Confirm code"), id="confirm", variant="primary")
                yield Button(_("Turn off"), id="turn-off", variant="error")
                yield Button(_("Back"), id="back")
            yield MessageLine(id="two-factor-message")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        from store.services.users import two_factor_status

        with self.app.db.session() as session:
            self.on_, self.required = two_factor_status(session, self.app.session.actor)
        self.show_state()

    def show_state(self) -> None:
        if self.on_:
            status = _("Two-factor sign-in is on: the login asks a code from your authenticator app.")
            if self.required:
                status += "\n" + _("Your administrator requires it: it cannot be turned off.")
        elif self.secret:
            status = _("Two-factor sign-in is being set up; it is on once you confirm a code.")
        else:
            status = _("Two-factor sign-in is off.")
            if self.required:
                status += "\n" + _("Your administrator requires it: set it up now or at your next login.")
        self.query_one("#two-factor-status", Static).update(status)
        setup = self.query_one("#two-factor-setup", Static)
        setup.update(setup_text(self.secret, self.app.session.username) if self.secret and not self.on_ else "")
        setup.display = bool(self.secret and not self.on_)
        self.query_one("#turn-on", Button).display = not self.on_ and not self.secret
        self.query_one("#confirm", Button).display = bool(self.secret) and not self.on_
        self.query_one("#turn-off", Button).display = self.on_ and not self.required
        self.query_one("#two-factor-code").display = bool(self.secret and not self.on_) or (
            self.on_ and not self.required)
        focus = "#code" if self.query_one("#two-factor-code").display else (
            "#turn-on" if not self.on_ else "#back")
        self.set_focus(self.query_one(focus))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"turn-on": self.start_setup, "confirm": self.submit, "turn-off": self.submit,
         "back": self.action_back}[event.button.id]()

    def action_back(self) -> None:
        self.app.pop_screen()

    def start_setup(self) -> None:
        from store.services.users import new_totp_secret

        self.secret = new_totp_secret()
        self.query_one(MessageLine).clear()
        self.show_state()

    def submit(self) -> None:
        from store.services.errors import DomainError
        from store.services.users import disable_two_factor, enable_two_factor

        code_input = self.query_one("#code", Input)
        code = code_input.value.replace(" ", "")
        message = self.query_one(MessageLine)
        if not code:
            message.show_error(_("Type the 6-digit code your authenticator app shows."))
            return
        try:
            with self.app.db.session() as session:
                if self.on_:
                    disable_two_factor(session, self.app.session.actor, self.app.db.clock.now(), code)
                else:
                    enable_two_factor(session, self.app.session.actor, self.app.db.clock.now(), self.secret, code)
        except DomainError as exc:
            message.show_error(exc.message)
            code_input.clear()
            return
        turned_on = not self.on_
        self.secret = None
        code_input.clear()
        self.load()
        message.show_success(_("Two-factor sign-in is on.") if turned_on else _("Two-factor sign-in is off."))
