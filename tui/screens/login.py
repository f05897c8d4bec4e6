"""Log in with user name and password (Fiche 01)."""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label

from tui.i18n import N_, _
from tui.screens.base import FormScreen
from tui.session import UserSession
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

WARM_UP_DELAY = 0.3  # seconds after mount before the store is loaded in the background


class LoginScreen(FormScreen):
    FOOTER_SESSION_KEYS = True  # tui/widgets/footer.py: Quit shown here
    AUTO_FOCUS = "#username"
    FORM_FIELDS = ("username", "password")
    TITLE = N_("Log in")
    BINDINGS = [Binding("f2", "first_login", N_("First login (invitation)"), id="first_login")]
    HELP = N_("Type your user name and password, then press Enter. Repeated failed attempts lock the account "
              "for a while.")
    HELP_KEYS = (
        (N_("Tab / Shift+Tab"), N_("Move between the fields")),
        (N_("Enter"), N_("Log in")),
        (N_("F2"), N_("First login with an invitation: prove who you are, then choose your password")),
    )

    class Succeeded(Message):
        def __init__(self, session: UserSession) -> None:
            super().__init__()
            self.session = session

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class DemoLogins(Message):
        def __init__(self, logins: tuple[tuple[str, str], ...]) -> None:
            super().__init__()
            self.logins = logins

    def __init__(self, notice: str | None = None, notice_is_warning: bool = False) -> None:
        super().__init__()
        self.notice = notice
        self.notice_is_warning = notice_is_warning
        self.checking = False
        self.warm_up_started = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Center(id="login-center"):
            with Vertical(id="login-box"):
                yield Label(_("Log in to Cards Online"), id="login-title")
                yield Label(_("User name"), classes="field-label")
                yield Input(id="username", placeholder=_("user name"), max_length=60)
                yield Label(_("Password"), classes="field-label")
                yield Input(id="password", placeholder=_("password"), password=True)
                yield Button(_("Log in"), id="login", variant="primary")
                yield MessageLine(id="login-message")
        yield Label("", id="demo-logins", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._show_notice()
        # Shortly after the first paint: the check imports the store (about a second of import work that
        # holds the GIL), which must not delay the screen or the first keys typed.
        self.set_timer(WARM_UP_DELAY, self.warm_up)

    def _show_notice(self) -> None:
        message = self.query_one(MessageLine)
        if self.notice:
            (message.show_warning if self.notice_is_warning else message.show_info)(self.notice)
        else:
            message.clear()

    def reset(self, notice: str | None = None, notice_is_warning: bool = False) -> None:
        """Back to an empty form after a logout, with an optional notice (e.g. the idle logout)."""
        self.notice = notice
        self.notice_is_warning = notice_is_warning
        self._set_checking(False)
        for field in self.query("#login-box Input").results(Input):
            field.clear()
        self._show_notice()
        self.focus_now(self.query_one("#username", Input))

    # Demo hint ---------------------------------------------------------------------------------

    def warm_up(self) -> None:
        self.warm_up_started = True
        self.load_demo_logins()

    @work(thread=True, group="demo-logins", exit_on_error=False)
    def load_demo_logins(self) -> None:
        from tui.session import demo_logins

        try:
            logins = demo_logins(self.app.db)
        except Exception:  # a hint only: never block the login for it
            log.exception("Could not tell whether the database holds the demo")
            return
        if logins:
            self.post_message(self.DemoLogins(logins))

    def on_login_screen_demo_logins(self, message: DemoLogins) -> None:
        label = self.query_one("#demo-logins", Label)
        label.update(_("Demo logins: {logins}").format(logins=" · ".join(f"{u} / {p}" for u, p in message.logins)))
        label.add_class("-shown")

    # Login -------------------------------------------------------------------------------------

    def field_entered(self, field: Input) -> None:
        password = self.query_one("#password", Input)
        if field.id == "username" and not password.value:
            self.focus_now(password)
        else:
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login":
            event.stop()
            self.submit()

    def action_first_login(self) -> None:
        """The invited user's first login (Fiche 10), then back here with the user name filled in."""
        if self.checking:
            return
        from tui.screens.first_login import FirstLoginScreen

        def done(username: str | None) -> None:
            if username:
                self.query_one("#username", Input).value = username
                self.query_one(MessageLine).show_success(
                    _("Your password is set. Log in with your user name and new password."))
                self.focus_now(self.query_one("#password", Input))

        self.app.push_screen(FirstLoginScreen(self.query_one("#username", Input).value.strip()), done)

    def submit(self) -> None:
        if self.checking:
            return
        username = self.query_one("#username", Input)
        password = self.query_one("#password", Input)
        message = self.query_one(MessageLine)
        if not username.value.strip():
            message.show_error(_("Type your user name."))
            self.focus_now(username)
            return
        if not password.value:
            message.show_error(_("Type your password."))
            self.focus_now(password)
            return
        self._set_checking(True)
        message.show_busy(_("Checking…"))
        self.check_credentials(username.value, password.value)

    def _set_checking(self, checking: bool) -> None:
        self.checking = checking
        for widget in self.query("#login-box Input, #login-box Button"):
            widget.disabled = checking

    @work(thread=True, exclusive=True, group="login", exit_on_error=False)
    def check_credentials(self, username: str, password: str) -> None:
        """Runs in a thread: argon2 is slow on purpose and the screen must stay responsive."""
        from tui.session import import_store, open_session

        import_store()  # not at the same time as the warm-up's thread
        from store.services.errors import DomainError

        try:
            session = open_session(self.app.db, username, password, self.app.login_policy)
        except DomainError as exc:
            self.post_message(self.Failed(exc.message))
        except Exception:
            log.exception("Login could not be checked")
            self.post_message(self.Failed(_("The login could not be checked right now. Try again in a moment "
                                            "or ask your administrator.")))
        else:
            self.post_message(self.Succeeded(session))

    def on_login_screen_failed(self, message: Failed) -> None:
        self._set_checking(False)
        self.query_one(MessageLine).show_error(message.message)
        password = self.query_one("#password", Input)
        password.clear()
        password.focus()

    def on_login_screen_succeeded(self, message: Succeeded) -> None:
        from tui.session import PendingSecondFactor

        self._set_checking(False)
        self.query_one("#password", Input).clear()
        if isinstance(message.session, PendingSecondFactor):
            # Two-factor sign-in: the one-time code (or its set-up) before the session starts.
            from tui.screens.two_factor import SecondFactorScreen

            def done(outcome) -> None:
                if outcome is None:
                    self.query_one(MessageLine).show_info(_("Login cancelled."))
                    self.focus_now(self.query_one("#password", Input))
                elif isinstance(outcome, str):
                    self.query_one(MessageLine).show_error(outcome)
                    self.focus_now(self.query_one("#password", Input))
                else:
                    self.app.start_session(outcome)

            self.app.push_screen(SecondFactorScreen(message.session), done)
            return
        self.app.start_session(message.session)
