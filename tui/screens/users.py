"""My account -> Users (Fiche 10): search users, act on them, and create or change a user.

The search shows the customer's users (name, e-mail, right, status); the keys in the footer act on the
highlighted one, each after a confirmation, and show the store's answer. The form (create, change) picks
rights with the DualList (available left, granted right) and customer numbers with a checklist.
"""
from __future__ import annotations

from datetime import date, datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Input, Label, Select, SelectionList

from store.services.labels import RIGHT_LABELS as STORE_RIGHT_LABELS
from tui.i18n import N_, _, ngettext
from tui.screens.base import FormScreen
from tui.widgets.dual_list import DualList
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

# The applications of Fiche 02 (and user administration), as the rights list shows them: the store's table,
# which the refusal messages use too, keyed by the rights' plain values.
RIGHT_LABELS: dict[str, str] = {right.value: label for right, label in STORE_RIGHT_LABELS.items()}
STATUS_LABELS = {"invited": N_("Invited"), "active": N_("Active"), "deactivated": N_("Deactivated")}
ALL = "*"


def right_options() -> list[tuple[str, str]]:
    from store.models import Right

    return [(r.value, _(RIGHT_LABELS.get(r.value, r.value))) for r in Right]


def parse_date(text: str) -> date | None:
    """dd/mm/yyyy (or yyyy-mm-dd); empty is None; ValueError when it is not a date."""
    text = text.strip()
    if not text:
        return None
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(text)


def show_date(value: date | None) -> str:
    return f"{value:%d/%m/%Y}" if value else ""


class UpperInput(Input):
    """An input that shows (and keeps) what is typed or pasted in capitals: NAME, FIRST NAME (Fiche 10)."""

    def insert_text_at_cursor(self, text: str) -> None:
        super().insert_text_at_cursor(text.upper())


def status_text(row) -> str:
    text = _(STATUS_LABELS.get(row.status.value, row.status.value))
    if row.invitation_locked:
        text = _("Invitation locked")
    elif row.locked:
        text = _("Locked out")
    return text


class UsersScreen(Screen[None]):
    """My account -> Users: search and act."""

    CSS_PATH = "../styles/users.tcss"
    TITLE = N_("Users")
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="users.back"),
        Binding("ctrl+n", "create", N_("New user"), id="users.create"),
        Binding("ctrl+e", "change", N_("Change"), id="users.change"),
        Binding("ctrl+r", "resend", N_("Resend invitation"), id="users.resend", show=False),
        Binding("ctrl+u", "unlock", N_("Unlock"), id="users.unlock"),
        Binding("ctrl+d", "deactivate", N_("Deactivate"), id="users.deactivate"),
        Binding("ctrl+t", "require_2fa", N_("Require 2FA"), id="users.require_2fa", show=False),
    ]
    HELP = N_("Search the users of your company by name, e-mail, right or status. On the highlighted user: "
              "Ctrl+E changes rights, validity or customer numbers; Ctrl+R sends the invitation again (and unlocks "
              "it); Ctrl+U lifts a lock-out; Ctrl+D deactivates; Ctrl+T requires (or no longer requires) two-factor "
              "sign-in. Ctrl+N creates a user. Every change is confirmed first and mailed to the user.")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="users-search"):
            yield Input(id="users-name", placeholder=_("Name or user name"), compact=True)
            yield Input(id="users-email", placeholder=_("E-mail"), compact=True)
            yield Select([(_("Any right"), ALL)] + [(label, value) for value, label in right_options()],
                         value=ALL, allow_blank=False, id="users-right", compact=True)
            yield Select([(_("Any status"), ALL)] + [(_(label), value) for value, label in STATUS_LABELS.items()],
                         value=ALL, allow_blank=False, id="users-status", compact=True)
        yield DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
        yield MessageLine(id="users-message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(_("User name"), _("Name"), _("E-mail"), _("Status"), _("Rights"), _("2FA"), _("Until"))
        self.search()
        table.focus()

    # Search -----------------------------------------------------------------------------------

    def search(self, keep: int | None = None) -> None:
        from store.services import users
        from store.services.errors import DomainError

        right = self.query_one("#users-right", Select).value
        status = self.query_one("#users-status", Select).value
        table = self.query_one(DataTable)
        try:
            with self.app.db.session() as session:
                # One more than shown: whether more users match than the screen lists.
                shown = users.USER_SEARCH_LIMIT
                self.rows = users.search_users(session, self.app.session.actor, self.app.db.clock.now(),
                                               name=self.query_one("#users-name", Input).value,
                                               email=self.query_one("#users-email", Input).value,
                                               right=None if right == ALL else right,
                                               status=None if status == ALL else status, limit=shown + 1)
        except DomainError as exc:  # no right to administer users: the service says so, nothing is listed
            self.rows = []
            table.clear()
            self.query_one(MessageLine).show_error(exc.message)
            return
        more = len(self.rows) > shown
        del self.rows[shown:]
        table.clear()
        for row in self.rows:
            two_factor = _("required") if row.two_factor_required else (_("on") if row.two_factor_on else "")
            table.add_row(row.username, row.display_name, row.email, status_text(row), str(len(row.rights)),
                          two_factor, show_date(row.valid_until), key=str(row.id))
        if keep is not None:
            for index, row in enumerate(self.rows):
                if row.id == keep:
                    table.move_cursor(row=index)
        if not self.rows:
            self.query_one(MessageLine).show_info(_("No user matches these criteria."))
        elif more:
            self.query_one(MessageLine).show_warning(ngettext(
                "More users match than the {count} shown: narrow the search by name, e-mail, right or status.",
                "More users match than the {count} shown: narrow the search by name, e-mail, right or status.",
                shown).format(count=shown))

    @on(Input.Submitted, "#users-search Input")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(MessageLine).clear()
        self.search()
        self.query_one(DataTable).focus()

    @on(Select.Changed, "#users-search Select")
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.is_mounted:
            self.query_one(MessageLine).clear()
            self.search()

    def current(self):
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            self.query_one(MessageLine).show_error(_("There is no user to act on: search first."))
            return None
        return self.rows[table.cursor_row]

    # Actions ----------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_create(self) -> None:
        self.app.push_screen(UserFormScreen(), self._form_closed)

    def action_change(self) -> None:
        row = self.current()
        if row is not None:
            self.app.push_screen(UserFormScreen(row), self._form_closed)

    def _form_closed(self, message: str | None) -> None:
        self.search()
        if message:
            self.query_one(MessageLine).show_success(message)

    def _confirm_then(self, title: str, text: str, yes: str, call, done: str) -> None:
        from tui.screens.card_form import ConfirmDialog

        row = self.current()
        if row is None:
            return

        def answered(ok: bool | None) -> None:
            if not ok:
                return
            from store.services.errors import DomainError

            try:
                with self.app.db.session() as session:
                    call(session, self.app.session.actor, self.app.db.clock.now(), row.id)
            except DomainError as exc:
                self.query_one(MessageLine).show_error(exc.message)
                return
            self.search(keep=row.id)
            self.query_one(MessageLine).show_success(done.format(name=row.display_name, email=row.email))

        self.app.push_screen(ConfirmDialog(title, text.format(name=row.display_name, email=row.email), yes, _("No")),
                             answered)

    def action_resend(self) -> None:
        from store.services.users import resend_invitation

        self._confirm_then(_("Resend invitation"),
                           _("Send the invitation again to {name} ({email})? This also unlocks the invitation."),
                           _("Send"), resend_invitation, _("Invitation sent again to {email}."))

    def action_unlock(self) -> None:
        from store.services.users import unlock_user

        self._confirm_then(_("Unlock"), _("Unlock {name} so they can log in again?"), _("Unlock"), unlock_user,
                           _("{name} is unlocked; they were told by e-mail."))

    def action_deactivate(self) -> None:
        from store.services.users import deactivate_user

        self._confirm_then(_("Deactivate"), _("Deactivate {name}? They can no longer log in."), _("Deactivate"),
                           deactivate_user, _("{name} is deactivated; they were told by e-mail."))

    def action_require_2fa(self) -> None:
        from store.services.users import require_two_factor

        row = self.current()
        if row is None:
            return
        required = not row.two_factor_required

        def call(session, actor, now, user_id):
            return require_two_factor(session, actor, now, user_id, required)

        if required:
            self._confirm_then(_("Require two-factor sign-in"),
                               _("Require two-factor sign-in for {name}? They set it up at their next login."),
                               _("Require"), call, _("Two-factor sign-in is now required for {name}."))
        else:
            self._confirm_then(_("Two-factor sign-in optional"),
                               _("Stop requiring two-factor sign-in for {name}?"), _("Stop requiring"), call,
                               _("Two-factor sign-in is no longer required for {name}."))


class UserFormScreen(FormScreen):
    """Create a user (row None) or change one's rights, validity and customer numbers.

    Dismissed with the success message, or None when left without saving.
    """

    CSS_PATH = "../styles/users.tcss"
    TITLE = N_("User")
    FORM_FIELDS = ("user-last-name", "user-first-name", "user-email", "user-phone", "user-username",
                   "user-valid-from", "user-valid-until")
    BINDINGS = [
        Binding("escape", "cancel", N_("Back"), id="user_form.back"),
        Binding("ctrl+s", "save", N_("Validate"), id="user_form.save"),
    ]
    HELP = N_("NAME and FIRST NAME are kept in capitals: the new user types them exactly like this at their first "
              "login, with the phone number (10 characters, no spaces). Move rights with → and ← (Ctrl+→ / Ctrl+← "
              "for all) between Available and Granted; tick the customer numbers with Space. Ctrl+S validates: the "
              "user gets an invitation e-mail at once.")

    def __init__(self, row=None) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        row = self.row
        yield SessionHeader()
        with VerticalScroll(id="user-form"):
            yield Label(_("Create a user") if row is None else _("Change {name} ({username})").format(
                name=row.display_name, username=row.username), classes="panel-title")
            with Grid(id="user-fields"):
                yield Label(_("NAME*"))
                yield UpperInput(row.last_name if row else "", id="user-last-name", max_length=80, compact=True)
                yield Label(_("FIRST NAME*"))
                yield UpperInput(row.first_name if row else "", id="user-first-name", max_length=80, compact=True)
                yield Label(_("E-mail*"))
                yield Input(row.email if row else "", id="user-email", max_length=200, compact=True)
                yield Label(_("Phone*"))
                yield Input(row.phone if row else "", id="user-phone", max_length=10, compact=True,
                            placeholder="0470123456")
                yield Label(_("User name"))
                yield Input(row.username if row else "", id="user-username", max_length=60, compact=True,
                            placeholder=_("(from the names)"))
                yield Label(_("Language"))
                yield Select([("Nederlands", "nl"), ("Français", "fr"), ("English", "en")],
                             value=row.language if row else Select.NULL, prompt=_("(customer's)"),
                             id="user-language", compact=True)
                yield Label(_("Valid from"))
                yield Input(show_date(row.valid_from) if row else "", id="user-valid-from", compact=True,
                            placeholder=_("dd/mm/yyyy"))
                yield Label(_("Valid until"))
                yield Input(show_date(row.valid_until) if row else "", id="user-valid-until", compact=True,
                            placeholder=_("dd/mm/yyyy"))
            yield Label(_("Rights: the applications the user may use"), classes="field-label")
            yield DualList(right_options(), [r.value for r in row.rights] if row else (),
                           available_label=_("Available"), granted_label=_("Granted"), id="user-rights")
            yield Label(_("Customer numbers the user may act for"), classes="field-label")
            yield SelectionList[int](*self._number_options(), id="user-numbers")
            with Horizontal(classes="buttons"):
                yield Button(_("Validate (Ctrl+S)"), id="user-save", variant="primary", compact=True)
                yield Button(_("Cancel"), id="user-cancel", compact=True)
        yield MessageLine(id="user-message")  # outside the scroll: always in sight
        yield Footer()

    def _number_options(self):
        numbers = self.app.session.customer_numbers
        chosen = set(self.row.customer_number_ids) if self.row else (
            {numbers[0].id} if len(numbers) == 1 else set())
        return [(f"{n.number}  {n.name}", n.id, n.id in chosen) for n in numbers]

    def on_mount(self) -> None:
        if self.row is not None:
            for name in ("last-name", "first-name", "email", "phone", "username", "language"):
                self.query_one(f"#user-{name}").disabled = True
            self.query_one("#user-rights").focus()
        else:
            self.query_one("#user-last-name").focus()

    def field_entered(self, field: Input) -> None:
        """Enter walks the fields; from the last one to the rights list (Ctrl+S validates)."""
        index = self.FORM_FIELDS.index(field.id)
        for name in self.FORM_FIELDS[index + 1:]:
            widget = self.query_one(f"#{name}", Input)
            if not widget.disabled:
                self.focus_now(widget)
                return
        self.set_focus(self.query_one("#dual-filter", Input))

    def submit(self) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "user-save":
            event.stop()
            self.action_save()
        elif event.button.id == "user-cancel":
            event.stop()
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        from tui.screens.card_form import ConfirmDialog

        message = self.query_one(MessageLine)
        try:
            valid_from = parse_date(self.query_one("#user-valid-from", Input).value)
            valid_until = parse_date(self.query_one("#user-valid-until", Input).value)
        except ValueError as exc:
            message.show_error(_("'{text}' is not a date: write it as dd/mm/yyyy.").format(text=exc.args[0]))
            return
        rights = self.query_one(DualList).selected
        numbers = self.query_one(SelectionList).selected
        if self.row is not None:
            self._save(valid_from, valid_until, rights, numbers)
            return
        name = " ".join((self.query_one("#user-first-name", Input).value.strip(),
                         self.query_one("#user-last-name", Input).value.strip())).strip()
        text = ngettext("Create {name} with {count} right and send the invitation to {email}?",
                        "Create {name} with {count} rights and send the invitation to {email}?", len(rights)).format(
            name=name or "?", count=len(rights), email=self.query_one("#user-email", Input).value.strip() or "?")

        def answered(ok: bool | None) -> None:
            if ok:
                self._save(valid_from, valid_until, rights, numbers)

        self.app.push_screen(ConfirmDialog(_("Create a user"), text, _("Create"), _("No")), answered)

    def _save(self, valid_from, valid_until, rights, numbers) -> None:
        from store.services.errors import DomainError
        from store.services.users import create_user, update_user

        message = self.query_one(MessageLine)
        language = self.query_one("#user-language", Select).value
        try:
            with self.app.db.session() as session:
                now = self.app.db.clock.now()
                actor = self.app.session.actor
                if self.row is None:
                    row = create_user(
                        session, actor, now, last_name=self.query_one("#user-last-name", Input).value,
                        first_name=self.query_one("#user-first-name", Input).value,
                        email=self.query_one("#user-email", Input).value,
                        phone=self.query_one("#user-phone", Input).value, rights=rights,
                        customer_number_ids=numbers, valid_from=valid_from, valid_until=valid_until,
                        language=None if language == Select.NULL else language,
                        username=self.query_one("#user-username", Input).value)
                    done = _("{name} is created as '{username}'; the invitation is on its way to {email}.").format(
                        name=row.display_name, username=row.username, email=row.email)
                else:
                    row = update_user(session, actor, now, self.row.id, rights=rights, customer_number_ids=numbers,
                                      valid_from=valid_from, valid_until=valid_until, version=self.row.version)
                    done = _("{name} is changed; they were told by e-mail.").format(name=row.display_name)
        except DomainError as exc:
            message.show_error(*exc.problems)
            field = {"last_name": "#user-last-name", "first_name": "#user-first-name", "email": "#user-email",
                     "phone": "#user-phone", "username": "#user-username", "valid_from": "#user-valid-from",
                     "valid_until": "#user-valid-until", "rights": "#user-rights",
                     "customer_numbers": "#user-numbers"}.get(exc.field or "")
            if field and not self.query_one(field).disabled:
                self.query_one(field).focus()
            return
        self.app.notify(done, title=_("Users"))
        self.dismiss(done)
