"""First login with an invitation (Fiche 10): the invited user types NAME, FIRST NAME and phone exactly as the
administrator entered them, then chooses a password under the Fiche 01 policy.

Dismissed with the user name once the password is set (the login screen fills it in), None when cancelled.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from tui.i18n import N_, _
from tui.screens.base import FormScreen
from tui.screens.change_password import policy_text
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CHALLENGE = ("first-username", "first-last-name", "first-first-name", "first-phone")
PASSWORD = ("first-new", "first-confirmation")


class FirstLoginScreen(FormScreen):
    CSS_PATH = "../styles/first_login.tcss"
    AUTO_FOCUS = "#first-username"
    FORM_FIELDS = CHALLENGE + PASSWORD
    BINDINGS = [Binding("escape", "back", N_("Back"), id="back")]
    TITLE = N_("First login")
    HELP = N_("Your administrator created your user and you received an invitation e-mail with your user name. "
              "Type your NAME, FIRST NAME and phone number exactly as your administrator entered them (capitals, "
              "spelling). After three wrong attempts the invitation is locked until your administrator sends it "
              "again. Then choose your password.")

    class Outcome(Message):
        def __init__(self, step: str, ticket: object = None, problems: list[str] | None = None,
                     field: str | None = None) -> None:
            super().__init__()
            self.step, self.ticket, self.problems, self.field = step, ticket, problems or [], field

    def __init__(self, username: str = "") -> None:
        super().__init__()
        self.username = username
        self.ticket = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="first-body"):
            with VerticalScroll(id="first-form", classes="panel"):
                yield Label(_("First login with an invitation"), classes="panel-title")
                yield Label(_("User name (from the invitation)"), classes="field-label")
                yield Input(self.username, id="first-username", max_length=60)
                yield Label(_("NAME"), classes="field-label")
                yield Input(id="first-last-name", max_length=80)
                yield Label(_("FIRST NAME"), classes="field-label")
                yield Input(id="first-first-name", max_length=80)
                yield Label(_("Phone"), classes="field-label")
                yield Input(id="first-phone", max_length=10)
                yield Label(_("New password"), classes="field-label -password")
                yield Input(id="first-new", password=True, classes="-password")
                yield Label(_("New password again"), classes="field-label -password")
                yield Input(id="first-confirmation", password=True, classes="-password")
                with Horizontal(classes="buttons"):
                    yield Button(_("Continue"), id="first-submit", variant="primary")
                    yield Button(_("Cancel"), id="first-cancel")
            with VerticalScroll(id="first-side", classes="panel"):
                yield Static(_("Type NAME, FIRST NAME and phone number exactly as your administrator entered them: "
                               "in capitals, same spelling, phone without spaces."), id="first-intro", markup=False)
                yield Static(policy_text(), id="first-policy", markup=False)
                yield MessageLine(id="first-message")
        yield Footer()

    def on_mount(self) -> None:
        self._show_step()
        if self.username:
            self.focus_now(self.query_one("#first-last-name", Input))

    def _show_step(self) -> None:
        challenge = self.ticket is None
        for widget in self.query(".-password"):
            widget.display = not challenge
        self.query_one("#first-policy").display = not challenge
        self.query_one("#first-intro").display = challenge
        for name in CHALLENGE:
            self.query_one(f"#{name}", Input).disabled = not challenge
        self.query_one("#first-submit", Button).label = _("Continue") if challenge else _("Set my password")

    def field_entered(self, field: Input) -> None:
        names = CHALLENGE if self.ticket is None else PASSWORD
        if field.id in names and names.index(field.id) + 1 < len(names):
            self.focus_now(self.query_one(f"#{names[names.index(field.id) + 1]}", Input))
        else:
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "first-submit":
            self.submit()
        else:
            self.action_back()

    def action_back(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def submit(self) -> None:
        if self.busy:
            return
        message = self.query_one(MessageLine)
        if self.ticket is None:
            values = [self.query_one(f"#{name}", Input).value for name in CHALLENGE]
            if not all(v.strip() for v in values):
                message.show_error(_("Fill in your user name, NAME, FIRST NAME and phone number."))
                return
            self.busy = True
            message.show_busy(_("Checking…"))
            self.check(*values)
        else:
            new, confirmation = (self.query_one(f"#{name}", Input).value for name in PASSWORD)
            self.busy = True
            message.show_busy(_("Setting your password…"))
            self.set_password(new, confirmation)

    @work(thread=True, exclusive=True, group="first-login", exit_on_error=False)
    def check(self, username: str, last_name: str, first_name: str, phone: str) -> None:
        from store.services.errors import DomainError
        from store.services.users import first_login_challenge

        db = self.app.db
        try:
            db.ensure_schema()
            with db.session() as session:
                ticket = first_login_challenge(session, db.clock.now(), username, last_name, first_name, phone)
        except DomainError as exc:
            self.post_message(self.Outcome("challenge", problems=[exc.message]))
        except Exception:
            log.exception("First login could not be checked")
            self.post_message(self.Outcome("challenge", problems=[_("Your details could not be checked right now. "
                                                                    "Try again in a moment.")]))
        else:
            self.post_message(self.Outcome("challenge", ticket=ticket))

    @work(thread=True, exclusive=True, group="first-login", exit_on_error=False)
    def set_password(self, new: str, confirmation: str) -> None:
        from store.services.errors import DomainError
        from store.services.users import complete_first_login

        db = self.app.db
        try:
            with db.session() as session:
                complete_first_login(session, db.clock.now(), self.ticket, new, confirmation)
        except DomainError as exc:
            self.post_message(self.Outcome("password", problems=list(exc.problems), field=exc.field))
        except Exception:
            log.exception("First password could not be set")
            self.post_message(self.Outcome("password", problems=[_("Your password could not be set right now. Try "
                                                                   "again in a moment.")]))
        else:
            self.post_message(self.Outcome("done"))

    def on_first_login_screen_outcome(self, outcome: Outcome) -> None:
        self.busy = False
        message = self.query_one(MessageLine)
        if outcome.step == "done":
            self.dismiss(self.ticket.username)
            return
        if outcome.problems:
            message.show_error(*outcome.problems)
            if outcome.step == "password":
                target = "first-confirmation" if outcome.field == "confirmation" else "first-new"
                if "no longer valid" in " ".join(outcome.problems):
                    self.ticket = None
                    self._show_step()
                    target = "first-last-name"
                self.focus_now(self.query_one(f"#{target}", Input))
            return
        self.ticket = outcome.ticket
        self._show_step()
        message.show_success(_("Thank you, {username}. Now choose your password.").format(
            username=self.ticket.username))
        self.focus_now(self.query_one("#first-new", Input))
