"""My invoices (Fiche 11): re-authentication on every entry, Search invoices, the properties window and the
download of the PDF with its signature, Verify a downloaded pair, Billing data files (TID), Reconciliation.

- Every screen opened from the *My invoices* menu group asks the user name and password again first
  (`ReauthDialog`), and the one-time code of a user with two-factor sign-in, every time: nothing is remembered
  between entries, nothing is read before the check, and Esc goes back to the menu. A wrong password or code
  counts toward the lockout like a failed login; the attempt that locks the account logs the user out. A code
  already used (at the login, say) is refused: the next one is needed.
- **Search invoices** (`InvoicesScreen`): the invoices of the active customer number (F3 switches it), newest
  first, filtered by status, invoice number, issue dates and amount (incl. VAT). Enter opens the properties
  window (`InvoicePropertiesDialog`): number, dates, period, amounts, status, the two file names and the
  SHA-256 of the PDF, a reminder to keep both files, and a folder to download to (default
  `exports.invoice_files.default_download_folder()`). The first download of an original makes it a duplicate.
- `v` verifies a downloaded pair (`VerifyDialog`), `t` shows the billing data files (`BillingDataDialog`), `r`
  reconciles the highlighted invoice with the period's transactions (`ReconciliationScreen`).
- **Billing data files (TID)** (`BillingFilesScreen`): the same list, Enter opens the billing data files.

Everything is read and changed through `store.services.invoices`; files are written by `exports`.
"""
from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, Select, Static

from tui.i18n import N_, _, format_number, ngettext, pgettext
from tui.screens.my_requests import parse_day
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

log = logging.getLogger(__name__)

CSS = "../styles/invoices.tcss"
ALL = "all"
STATUS_LABELS = {"original": N_("Original"), "duplicate": N_("Duplicate")}
KEEP_BOTH = N_("Keep both files, the PDF and its signature (.p7s): together they are your invoice, to show the "
               "authorities when asked.")
COLUMNS = (
    ("number", N_("Invoice"), 11),
    ("issued", N_("Issued"), 10),
    ("period", N_("Period"), 7),
    ("incl", N_("Incl. VAT"), 11),
    ("status", N_("Status"), 9),
    ("downloaded", N_("Downloaded"), 10),
)


def money(amount: Decimal | None) -> str:
    return "" if amount is None else format_number(amount, 2)


def status_text(status) -> str:
    value = getattr(status, "value", str(status))
    return _(STATUS_LABELS.get(value, value))


def size_text(size: int | None) -> str:
    if size is None:
        return _("not available yet")
    if size < 1024:
        return _("{size} bytes").format(size=size)
    return _("{size} kB").format(size=format_number(size / 1024, 1))


def parse_amount(text: str) -> Decimal | None:
    """"1.234,50", "1234.5", "1 234" → Decimal; None for an empty field; ValueError else."""
    text = text.strip().replace(" ", "").replace("€", "")
    if not text:
        return None
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
    else:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or value < 0:
        raise ValueError(text)
    return value


def theme_color(app, name: str, fallback: str) -> str:
    try:
        return app.theme_variables.get(name) or fallback
    except Exception:  # noqa: BLE001 - no theme yet
        return fallback


# --- re-authentication -------------------------------------------------------------------------------------

class ReauthDialog(ModalScreen[bool]):
    """User name and password again, and the one-time code for a user with two-factor sign-in; dismisses True
    once the store accepted them, False on Esc."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#reauth-username"
    TITLE = N_("My invoices: confirm it is you")
    HELP = N_("For security, your user name and password are asked every time you enter My invoices, and with "
              "two-factor sign-in the code your authenticator app shows (each code works only once). A wrong "
              "password or code counts as a failed login: too many in a row lock your account.")
    BINDINGS = [
        Binding("escape", "cancel", N_("Back"), id="invoices_reauth_cancel"),
        # Priority, as on the login screen: keys typed in a burst ("user⏎password⏎", a password manager's
        # auto-type) land in the right field, since Enter is handled in the order the keys arrived.
        Binding("enter", "form_enter", show=False, priority=True, id="invoices_reauth_enter"),
    ]

    class Checked(Message):
        def __init__(self, problem: str | None, locked: bool = False, field_name: str | None = None) -> None:
            super().__init__()
            self.problem, self.locked, self.field_name = problem, locked, field_name

    def __init__(self) -> None:
        super().__init__()
        self.checking = False
        self.needs_code = False

    def compose(self) -> ComposeResult:
        self.needs_code = self._two_factor_on()
        with Vertical(id="reauth-dialog", classes="dialog"):
            yield Label(_("My invoices"), classes="dialog-title")
            yield Static(self._note(), id="reauth-note", markup=False, classes="dialog-note")
            yield Label(_("User name"), classes="field-label")
            yield Input(id="reauth-username")
            yield Label(_("Password"), classes="field-label")
            yield Input(id="reauth-password", password=True)
            with Vertical(id="reauth-code-box"):
                yield Label(_("Code from your authenticator app"), classes="field-label")
                yield Input(id="reauth-code", max_length=7, restrict=r"[0-9 ]*")
            yield MessageLine(id="reauth-message")
            yield Label(_("Enter: continue · Esc: back to the menu"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.show_code_field()

    def show_code_field(self) -> None:
        self.query_one("#reauth-code-box").display = self.needs_code
        self.query_one("#reauth-dialog").set_class(self.needs_code, "-code")
        self.query_one("#reauth-note", Static).update(self._note())

    def _two_factor_on(self) -> bool:
        """Whether to ask the code at once (a quick read of the user's own row). Should it change meanwhile, the
        store says so (CodeNeeded) and the field shows then."""
        from store.services.users import two_factor_status

        try:
            with self.app.db.session() as session:
                return two_factor_status(session, self.app.session.actor)[0]
        except Exception:  # noqa: BLE001 - the check itself asks for the code when it is needed
            log.exception("Two-factor status could not be read")
            return False

    def _note(self) -> str:
        if self.needs_code:
            return _("For security, these are asked every time you enter My invoices.")
        return _("For security, type your user name and password again each time you enter My invoices.")

    def action_form_enter(self) -> None:
        if self.focused is self.query_one("#reauth-username", Input):
            self.set_focus(self.query_one("#reauth-password", Input))
        elif self.focused is self.query_one("#reauth-password", Input) and self.needs_code:
            self.set_focus(self.query_one("#reauth-code", Input))
        else:
            self.submit()

    def submit(self) -> None:
        if self.checking:
            return
        username = self.query_one("#reauth-username", Input).value
        password = self.query_one("#reauth-password", Input).value
        code = self.query_one("#reauth-code", Input).value.replace(" ", "") if self.needs_code else ""
        if not username.strip() or not password or (self.needs_code and not code):
            self.query_one(MessageLine).show_error(
                _("Type your user name, your password and the 6-digit code.") if self.needs_code
                else _("Type your user name and your password."))
            return
        self.checking = True
        self.query_one(MessageLine).show_busy(_("Checking…"))
        self.check(username, password, code)

    @work(thread=True, exclusive=True, group="invoices-reauth", exit_on_error=False)
    def check(self, username: str, password: str, code: str = "") -> None:
        """Runs in a thread: checking a password is slow on purpose (argon2)."""
        from store.services.auth import LoginPolicy
        from store.services.errors import DomainError
        from store.services.invoices import AccountLocked, reauthenticate

        app = self.app
        try:
            with app.db.session() as session:
                reauthenticate(session, app.session.actor, username, password, app.db.clock.now(),
                               app.login_policy or LoginPolicy(), code=code or None)
        except AccountLocked as exc:
            self.post_message(self.Checked(exc.message, locked=True))
        except DomainError as exc:
            self.post_message(self.Checked(exc.message, field_name=exc.field))
        except Exception:
            log.exception("Re-authentication failed")
            self.post_message(self.Checked(_("Your password could not be checked right now. Try again in a "
                                             "moment.")))
        else:
            self.post_message(self.Checked(None))

    def on_reauth_dialog_checked(self, message: Checked) -> None:
        self.checking = False
        if message.problem is None:
            self.dismiss(True)
            return
        if message.locked:
            self.app.logout(notice=message.problem, warning=True)
            return
        self.query_one(MessageLine).show_error(message.problem)
        if message.field_name == "code":
            # A wrong or used code (the password was right), or two-factor sign-in turned on meanwhile.
            if not self.needs_code:
                self.needs_code = True
                self.show_code_field()
            code = self.query_one("#reauth-code", Input)
            code.value = ""
            self.set_focus(code)
            return
        password = self.query_one("#reauth-password", Input)
        password.value = ""
        self.set_focus(password)

    def action_cancel(self) -> None:
        if not self.checking:
            self.dismiss(False)


class InvoiceGroupScreen(Screen[None]):
    """A screen of the *My invoices* group: shows nothing and reads nothing until the user re-authenticated
    (asked on every entry; Esc goes back)."""

    def __init__(self) -> None:
        super().__init__()
        self.unlocked = False

    def on_mount(self) -> None:
        self.add_class("-locked")
        self.app.push_screen(ReauthDialog(), self._reauthenticated)

    def _reauthenticated(self, ok: bool | None) -> None:
        if not ok:
            if self.app.screen is self:
                self.app.pop_screen()
            return
        self.unlocked = True
        self.remove_class("-locked")
        self.unlocked_mount()

    def unlocked_mount(self) -> None:
        """The re-authentication passed: start reading."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.unlocked and action not in ("back", "help"):
            return False
        return True


# --- Search invoices ---------------------------------------------------------------------------------------

class InvoicesScreen(InvoiceGroupScreen):
    CSS_PATH = CSS
    TITLE = N_("Search invoices")
    MODE = "download"
    HELP = N_("The invoices of the active customer number (F3 switches it), newest first. Filter by status "
              "(original or duplicate), invoice number, issue dates (dd/mm/yyyy) and amount including VAT. "
              "Enter shows an invoice's properties and downloads it: the PDF and its signature (.p7s) together. "
              "The first download of an original makes it a duplicate; duplicates can be downloaded without "
              "limit.")
    HELP_KEYS = (
        (N_("Enter"), N_("Properties and download of the highlighted invoice")),
        (N_("/"), N_("Filter by invoice number")),
        (N_("Ctrl+R"), N_("Clear the filters")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("v", "verify", N_("Verify"), id="invoices_verify"),
        Binding("t", "data_files", N_("TID"), id="invoices_data_files"),
        Binding("r", "reconcile", N_("Reconcile"), id="invoices_reconcile"),
        Binding("slash", "search", N_("Filter"), id="invoices_search", show=False),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="invoices_clear", show=False),
        Binding("f5", "refresh", N_("Refresh"), id="invoices_refresh", show=False),
    ]

    class Counted(Message):
        def __init__(self, generation: int, count: int | None, problem: str | None = None) -> None:
            super().__init__()
            self.generation, self.count, self.problem = generation, count, problem

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.last_pair: tuple[Path, Path] | None = None  # the last downloaded files, for Verify
        self._shown = None

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Vertical(id="invoices-body"):
            with Horizontal(id="invoices-filters", classes="invoices-bar"):
                yield Select([(_("Any status"), ALL), (_("Original"), "original"), (_("Duplicate"), "duplicate")],
                             value=ALL, allow_blank=False, id="invoices-status", compact=True)
                yield Input(placeholder=_("Invoice no."), id="invoices-number", compact=True, max_length=20)
                yield Input(placeholder=_("From"), id="invoices-from", compact=True, max_length=10)
                yield Input(placeholder=pgettext("date bound", "To"), id="invoices-to", compact=True, max_length=10)
                yield Input(placeholder=_("€ min"), id="invoices-min", compact=True, max_length=14)
                yield Input(placeholder=_("€ max"), id="invoices-max", compact=True, max_length=14)
            yield Label("", id="invoices-count", classes="invoices-count", markup=False)
            table = PagedTable(id="invoices-table", classes="invoices-table",
                               failure=_("The invoices could not be read right now. Try again in a moment."))
            for key, label, width in COLUMNS:
                table.add_column(_(label), key=key, width=width)
            yield table
            yield Static("", id="invoices-detail", classes="invoices-detail", markup=False)
            yield MessageLine(id="invoices-message")
        yield Footer(compact=True)

    def list_right(self):
        """The right this screen's list needs (its menu item's)."""
        from store.models import Right

        return Right.INVOICE_DOWNLOAD if self.MODE == "download" else Right.INVOICE_DATA_FILES

    def unlocked_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.query_one(PagedTable).focus()
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.query_one(MessageLine).clear()
        self.reload()

    # The filters -------------------------------------------------------------------------------------

    def current_filter(self):
        """The filter of the fields; raises ValueError naming the field that is not understood."""
        from store.models import InvoiceStatus
        from store.services.invoices import InvoiceFilter

        def day(field_id: str, name: str) -> date | None:
            text = self.query_one(field_id, Input).value
            try:
                return parse_day(text)
            except ValueError:
                raise ValueError(_("{name}: “{text}” is not a date; type it as dd/mm/yyyy, e.g. 26/11/2026.")
                                 .format(name=name, text=text)) from None

        def amount(field_id: str, name: str) -> Decimal | None:
            text = self.query_one(field_id, Input).value
            try:
                return parse_amount(text)
            except ValueError:
                raise ValueError(_("{name}: “{text}” is not an amount; type it like 1250.00.")
                                 .format(name=name, text=text)) from None

        number = self.app.active_customer_number
        status = self.query_one("#invoices-status", Select).value
        return InvoiceFilter(
            customer_number_id=number.id if number else None,
            status=None if status in (ALL, Select.BLANK) else InvoiceStatus(status),
            number=self.query_one("#invoices-number", Input).value,
            date_from=day("#invoices-from", _("From")), date_to=day("#invoices-to", pgettext("date bound", "To")),
            amount_min=amount("#invoices-min", _("Lowest amount")),
            amount_max=amount("#invoices-max", _("Highest amount")))

    def reload(self) -> None:
        if not self.unlocked or self.app.session is None:
            return
        try:
            where = self.current_filter()
        except ValueError as problem:
            self.query_one(MessageLine).show_error(str(problem))
            return
        self._shown = where
        self.generation += 1
        self.query_one("#invoices-count", Label).update(_("Counting…"))
        self.query_one("#invoices-detail", Static).update("")
        actor, right = self.app.session.actor, self.list_right()

        def fetch(session, after, limit):
            from store.services.invoices import search_invoices

            return search_invoices(session, actor, where, after=after, limit=limit, right=right)

        self.query_one(PagedTable).show(fetch, self.cells)
        self.count(self.generation, where)

    @work(thread=True, group="invoices-count", exit_on_error=False)
    def count(self, generation: int, where) -> None:
        from store.services.errors import DomainError
        from store.services.invoices import count_invoices

        app = self.app
        try:
            with app.db.session() as session:
                total = count_invoices(session, app.session.actor, where, right=self.list_right())
        except DomainError as exc:
            self.post_message(self.Counted(generation, None, exc.message))
        except Exception:
            log.exception("Counting invoices failed")
            self.post_message(self.Counted(generation, None, _("The invoices could not be counted right now.")))
        else:
            self.post_message(self.Counted(generation, total))

    def on_invoices_screen_counted(self, message: Counted) -> None:
        if message.generation != self.generation:
            return
        label = self.query_one("#invoices-count", Label)
        if message.problem:
            label.update("")
            return
        number = self.app.active_customer_number
        label.update(ngettext("{count} invoice for customer no. {number}", "{count} invoices for customer no. {number}",
                              message.count).format(count=format_number(message.count),
                                                    number=number.number if number else ""))

    def on_paged_table_loaded(self, message: PagedTable.Loaded) -> None:
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        if message.first:
            if not message.rows:
                line.show_info(_("No invoice matches these criteria."))
            elif line.kind in ("info", "error"):
                line.clear()
        self.show_detail(message.table.current)

    def cells(self, row) -> list:
        status = Text(status_text(row.status))
        if row.status.value == "original":
            status.stylize("bold")
        downloaded = (f"{self.app.session.local(row.first_downloaded_at):%d/%m/%Y}"
                      if row.first_downloaded_at else "")
        return [row.number, f"{row.issue_date:%d/%m/%Y}", f"{row.period_start:%m/%Y}",
                Text(money(row.total_incl_vat), justify="right"), status, downloaded]

    def show_detail(self, row) -> None:
        detail = self.query_one("#invoices-detail", Static)
        if row is None:
            detail.update("")
            return
        first = _("Period {start} – {end} · excl. VAT € {excl} · VAT € {vat}").format(
            start=f"{row.period_start:%d/%m/%Y}", end=f"{row.period_end:%d/%m/%Y}", excl=money(row.total_excl_vat),
            vat=money(row.total_vat))
        if not row.has_files:
            second = _("The signed PDF is not available yet.")
        elif row.status.value == "original":
            second = _("Original: never downloaded. The first download makes it a duplicate.")
        else:
            second = _("Duplicate: can be downloaded again without limit.")
        detail.update(f"{first}\n{second}")

    def on_data_table_row_highlighted(self, event) -> None:
        self.show_detail(self.query_one(PagedTable).current)

    def on_data_table_row_selected(self, event) -> None:
        event.stop()
        self.open_current()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()
        self.query_one(PagedTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.is_mounted and self.unlocked and self._shown is not None:
            self.reload()

    # Actions -----------------------------------------------------------------------------------------

    def current_row(self):
        row = self.query_one(PagedTable).current
        if row is None:
            self.query_one(MessageLine).show_info(_("No invoice is highlighted."))
        return row

    def open_current(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.push_screen(InvoicePropertiesDialog(row.id), self._downloaded)

    def _downloaded(self, result) -> None:
        if result:
            self.last_pair = result
            self.query_one(PagedTable).reload()

    def action_verify(self) -> None:
        self.app.push_screen(VerifyDialog(self.last_pair[0] if self.last_pair else None))

    def action_data_files(self) -> None:
        row = self.current_row()
        if row is None:
            return
        if "invoices.data_files" not in self.app.session.rights:
            from tui.screens.users import RIGHT_LABELS

            self.query_one(MessageLine).show_error(
                _("You do not have the right “{right}”. Ask an administrator to grant it.").format(
                    right=_(RIGHT_LABELS["invoices.data_files"])))
            return
        self.app.push_screen(BillingDataDialog(row.id, row.number))

    def action_reconcile(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.push_screen(ReconciliationScreen(row.id))

    def action_search(self) -> None:
        self.query_one("#invoices-number", Input).focus()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed):
            for field_id in ("#invoices-number", "#invoices-from", "#invoices-to", "#invoices-min", "#invoices-max"):
                self.query_one(field_id, Input).value = ""
            self.query_one("#invoices-status", Select).value = ALL
        self.query_one(MessageLine).clear()
        self.reload()

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()


class BillingFilesScreen(InvoicesScreen):
    """My invoices -> Billing data files (TID): the same list; Enter opens the highlighted invoice's files."""

    TITLE = N_("Billing data files (TID)")
    MODE = "data_files"
    HELP = N_("The billing data files (TID) of each invoice: its lines as a CSV file and an Excel file. "
              "Enter shows them and writes them to a folder you choose. Filters as in Search invoices.")
    HELP_KEYS = (
        (N_("Enter"), N_("The billing data files of the highlighted invoice")),
        (N_("/"), N_("Filter by invoice number")),
        (N_("Ctrl+R"), N_("Clear the filters")),
    )

    def open_current(self) -> None:
        self.action_data_files()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify" and "invoices.download" not in (self.app.session.rights if self.app.session else ()):
            return False
        return super().check_action(action, parameters)


# --- properties and download -------------------------------------------------------------------------------

class InvoicePropertiesDialog(ModalScreen["tuple[Path, Path] | None"]):
    """The properties window of Fiche 11: the invoice, its two files, and the download. Dismissed with the paths
    of the downloaded files, or None."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#download-folder"
    TITLE = N_("Invoice properties")
    HELP = N_("Check the invoice's properties, then download it: the PDF and its signature (.p7s) are written "
              "together to the folder, or neither when something fails. The first download of an original makes "
              "it a duplicate; duplicates can be downloaded without limit. Keep both files.")
    BINDINGS = [Binding("escape", "close", N_("Close"), id="invoice_properties_close")]

    class Loaded(Message):
        def __init__(self, details, problem: str | None = None) -> None:
            super().__init__()
            self.details, self.problem = details, problem

    class Done(Message):
        def __init__(self, paths: tuple[Path, Path] | None, first: bool = False, problem: str | None = None,
                     exists: list[Path] | None = None) -> None:
            super().__init__()
            self.paths, self.first, self.problem, self.exists = paths, first, problem, exists

    def __init__(self, invoice_id: int) -> None:
        super().__init__()
        self.invoice_id = invoice_id
        self.details = None
        self.busy = False
        self.confirm_overwrite: str | None = None  # the folder the user was warned about
        self.paths: tuple[Path, Path] | None = None

    def compose(self) -> ComposeResult:
        from exports.invoice_files import default_download_folder

        with Vertical(id="properties-dialog", classes="dialog"):
            yield Label(_("Invoice properties"), id="properties-title", classes="dialog-title", markup=False)
            yield Static(_("Reading…"), id="properties-text", markup=False)
            yield Static(_(KEEP_BOTH), id="properties-keep", markup=False)
            with Horizontal(id="download-bar"):
                yield Label(_("Folder"), classes="field-label")
                yield Input(str(default_download_folder()), id="download-folder")
            yield MessageLine(id="properties-message")
            yield Label(_("Enter: download the PDF and its signature · Esc: close"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, group="invoice-properties", exit_on_error=False)
    def load(self) -> None:
        from store.services.errors import DomainError
        from store.services.invoices import invoice_details

        app = self.app
        try:
            with app.db.session() as session:
                details = invoice_details(session, app.session.actor, self.invoice_id)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message))
        except Exception:
            log.exception("Reading an invoice failed")
            self.post_message(self.Loaded(None, _("The invoice could not be read right now. Try again in a "
                                                  "moment.")))
        else:
            self.post_message(self.Loaded(details))

    def properties_text(self, d) -> str:
        session = self.app.session
        if d.status.value == "original":
            status = _("Original: the first download makes it a duplicate")
        elif d.first_downloaded_at is not None:
            status = _("Duplicate: first downloaded {when} by {who}").format(
                when=f"{session.local(d.first_downloaded_at):%d/%m/%Y %H:%M}", who=d.first_downloaded_by or "?")
        else:
            status = _("Duplicate")
        rows = [
            (_("Customer"), f"{d.customer_number} {d.customer_name}"),
            (_("Issued"), _("{issued} · period {start} – {end}").format(
                issued=f"{d.issue_date:%d/%m/%Y}", start=f"{d.period_start:%d/%m/%Y}", end=f"{d.period_end:%d/%m/%Y}")),
            (_("Amount"), _("€ {incl} incl. VAT (excl. € {excl}, VAT € {vat})").format(
                incl=money(d.total_incl_vat), excl=money(d.total_excl_vat), vat=money(d.total_vat))),
            (_("Status"), status),
            (_("PDF"), f"{d.pdf_name} ({size_text(d.pdf_size)})"),
            (_("Signature"), f"{d.signature_name} ({size_text(d.signature_size)})"),
            (_("SHA-256"), d.pdf_sha256 or "—"),
        ]
        width = max(len(label) for label, _value in rows) + 1
        return "\n".join(f"{label:<{width}}{value}" for label, value in rows)

    def on_invoice_properties_dialog_loaded(self, message: Loaded) -> None:
        if message.problem:
            self.query_one("#properties-text", Static).update("")
            self.query_one(MessageLine).show_error(message.problem)
            return
        d = self.details = message.details
        self.query_one("#properties-title", Label).update(_("Invoice {number}").format(number=d.number))
        self.query_one("#properties-text", Static).update(self.properties_text(d))
        if not d.has_files:
            self.query_one(MessageLine).show_warning(_("The signed PDF of this invoice is not available yet: it "
                                                       "cannot be downloaded."))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.download()

    def download(self) -> None:
        if self.busy or self.details is None:
            return
        line = self.query_one(MessageLine)
        text = self.query_one("#download-folder", Input).value.strip()
        if not text:
            line.show_error(_("Type the folder to download to, e.g. ~/Downloads."))
            return
        folder = Path(text).expanduser()
        if not folder.is_dir():
            line.show_error(_("The folder {folder} does not exist.").format(folder=folder))
            return
        overwrite = self.confirm_overwrite == str(folder)
        self.busy = True
        line.show_busy(_("Downloading…"))
        self.run_download(folder, overwrite)

    @work(thread=True, exclusive=True, group="invoice-download", exit_on_error=False)
    def run_download(self, folder: Path, overwrite: bool) -> None:
        from exports.invoice_files import FilesExist, write_invoice_pair
        from store.services.errors import DomainError
        from store.services.invoices import record_download

        app = self.app
        try:
            with app.db.session() as session:
                result = record_download(session, app.session.actor, app.db.clock.now(), self.invoice_id,
                                         deliver=lambda invoice: write_invoice_pair(folder, invoice,
                                                                                    overwrite=overwrite))
        except FilesExist as exc:
            self.post_message(self.Done(None, exists=exc.paths))
        except DomainError as exc:
            self.post_message(self.Done(None, problem=exc.message))
        except OSError as exc:
            self.post_message(self.Done(None, problem=_("The files could not be written: {problem}. Nothing was "
                                                        "downloaded.").format(problem=exc.strerror or str(exc))))
        except Exception:
            log.exception("Invoice download failed")
            self.post_message(self.Done(None, problem=_("The download failed. Try again in a moment.")))
        else:
            self.post_message(self.Done(result.delivered, first=result.first))

    def on_invoice_properties_dialog_done(self, message: Done) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.exists:
            folder = str(message.exists[0].parent)
            self.confirm_overwrite = folder
            names = ", ".join(p.name for p in message.exists)
            line.show_warning(_("{names} already exists in this folder with other content. Enter again replaces "
                                "it; or type another folder.").format(names=names))
            return
        self.confirm_overwrite = None
        if message.problem:
            line.show_error(message.problem)
            return
        self.paths = message.paths
        pdf, p7s = message.paths
        line.show_success(_("Both files downloaded; keep them together:\n{pdf}\n{p7s}").format(pdf=pdf, p7s=p7s))
        self.load()  # the status and who downloaded it first

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(self.paths)


# --- verify ------------------------------------------------------------------------------------------------

def verification_text(result, missing_p7s: Path | None = None, local=None) -> tuple[bool, list[str]]:
    """(valid, the lines to show) for an exports.invoice_signing Verification. Without the .p7s
    (`missing_p7s`: where it was looked for) the pair is not complete, so it is not called valid. `local` shows
    the signing time in the user's zone."""
    if result.valid and missing_p7s is None:
        lines = [_("Valid: both signatures check out (the PDF's own and the .p7s).")]
        if result.signer:
            when = (local or (lambda moment: moment))(result.signed_at) if result.signed_at else None
            if when:
                lines.append(_("Signed by {signer} on {when}").format(signer=result.signer,
                                                                       when=f"{when:%d/%m/%Y %H:%M}"))
            else:
                lines.append(_("Signed by {signer}").format(signer=result.signer))
        return True, lines
    problems = list(result.problems)
    if missing_p7s is not None:
        if result.pdf_signature_ok and not problems:
            problems.append(_("The PDF's own signature is valid."))
        problems.append(_("No signature file at {path}: keep the .p7s beside the PDF, or type where it is.")
                        .format(path=missing_p7s))
    return False, problems or [_("The signature is not valid.")]


class VerifyDialog(ModalScreen[None]):
    """Verify a downloaded invoice: the PDF's own signature and the detached `.p7s` beside it."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#verify-pdf"
    TITLE = N_("Verify a downloaded invoice")
    HELP = N_("Choose the invoice's PDF; its signature file (.p7s) is looked for beside it unless you type "
              "another one. Both signatures are checked against the issuer's certificate: the result says valid, "
              "or what is wrong.")
    BINDINGS = [Binding("escape", "close", N_("Close"), id="invoice_verify_close")]

    class Verified(Message):
        def __init__(self, valid: bool, lines: list[str]) -> None:
            super().__init__()
            self.valid, self.lines = valid, lines

    def __init__(self, pdf: Path | None = None) -> None:
        super().__init__()
        self.pdf = pdf
        self.busy = False

    def compose(self) -> ComposeResult:
        from exports.invoice_files import default_download_folder

        with Vertical(id="verify-dialog", classes="dialog"):
            yield Label(_("Verify a downloaded invoice"), classes="dialog-title")
            yield Label(_("Invoice PDF"), classes="field-label")
            yield Input(str(self.pdf) if self.pdf else f"{default_download_folder()}/", id="verify-pdf")
            yield Label(_("Signature (.p7s); empty: the PDF's name + .p7s"), classes="field-label")
            yield Input("", id="verify-p7s")
            yield MessageLine(id="verify-message")
            yield Label(_("Enter: verify · Esc: close"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        line = self.query_one(MessageLine)
        pdf_text = self.query_one("#verify-pdf", Input).value.strip()
        pdf = Path(pdf_text).expanduser() if pdf_text else None
        if pdf is None or not pdf.is_file():
            line.show_error(_("Type the path of the invoice's PDF file."))
            self.set_focus(self.query_one("#verify-pdf", Input))
            return
        p7s_text = self.query_one("#verify-p7s", Input).value.strip()
        p7s = Path(p7s_text).expanduser() if p7s_text else pdf.with_name(pdf.name + ".p7s")
        self.busy = True
        line.show_busy(_("Verifying…"))
        self.verify(pdf, p7s)

    @work(thread=True, exclusive=True, group="invoice-verify", exit_on_error=False)
    def verify(self, pdf: Path, p7s: Path) -> None:
        from exports.invoice_signing import SigningKeyError, load_trust_roots, signing_config, verify_pair

        try:
            pdf_bytes = pdf.read_bytes()
            p7s_bytes = p7s.read_bytes() if p7s.is_file() else None
            roots = load_trust_roots(signing_config().ca_cert)
            result = verify_pair(pdf_bytes, p7s_bytes, roots)
        except SigningKeyError as exc:
            self.post_message(self.Verified(False, [str(exc)]))
            return
        except OSError as exc:
            self.post_message(self.Verified(False, [_("The file could not be read: {problem}").format(
                problem=exc.strerror or str(exc))]))
            return
        except Exception:
            log.exception("Verifying an invoice failed")
            self.post_message(self.Verified(False, [_("The files could not be verified.")]))
            return
        valid, lines = verification_text(result, p7s if p7s_bytes is None else None, self.app.session.local)
        self.post_message(self.Verified(valid, lines))

    def on_verify_dialog_verified(self, message: Verified) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.valid:
            line.show_success("\n".join(message.lines))
        else:
            line.show_error(*message.lines)

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(None)


# --- billing data files (TID) ------------------------------------------------------------------------------

class BillingDataDialog(ModalScreen[None]):
    """The billing data files of one invoice (its lines as CSV and Excel), written to a folder."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#tid-folder"
    TITLE = N_("Billing data files (TID)")
    HELP = N_("The lines of the invoice as data files: a CSV file and an Excel file. Both are written to the "
              "folder you choose, or neither when something fails.")
    BINDINGS = [Binding("escape", "close", N_("Close"), id="invoice_tid_close")]

    class Written(Message):
        def __init__(self, paths: tuple[Path, Path] | None, problem: str | None = None) -> None:
            super().__init__()
            self.paths, self.problem = paths, problem

    def __init__(self, invoice_id: int, number: str) -> None:
        super().__init__()
        self.invoice_id, self.number = invoice_id, number
        self.busy = False

    def compose(self) -> ComposeResult:
        from exports.invoice_files import default_download_folder

        with Vertical(id="tid-dialog", classes="dialog"):
            yield Label(_("Billing data files of invoice {number}").format(number=self.number),
                        classes="dialog-title", markup=False)
            yield Static(_("• {csv}: the invoice lines as CSV (UTF-8, ; between fields)\n"
                           "• {xlsx}: the same lines as an Excel sheet, with the totals").format(
                csv=self.file_name("csv"), xlsx=self.file_name("xlsx")), id="tid-files", markup=False)
            with Horizontal(id="tid-bar"):
                yield Label(_("Folder"), classes="field-label")
                yield Input(str(default_download_folder()), id="tid-folder")
            yield MessageLine(id="tid-message")
            yield Label(_("Enter: write both files · Esc: close"), classes="dialog-hint")

    def file_name(self, suffix: str) -> str:
        from exports.billing_data import billing_file_names

        return billing_file_names(self.number)[0 if suffix == "csv" else 1]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        folder = Path(event.value.strip()).expanduser()
        if not event.value.strip() or not folder.is_dir():
            self.query_one(MessageLine).show_error(_("The folder {folder} does not exist.").format(folder=folder))
            return
        self.busy = True
        self.query_one(MessageLine).show_busy(_("Writing the billing data files…"))
        self.write(folder)

    @work(thread=True, exclusive=True, group="invoice-tid", exit_on_error=False)
    def write(self, folder: Path) -> None:
        from store.services.errors import DomainError
        from store.services.invoices import invoice_for_files

        from exports.billing_data import write_billing_data

        app = self.app
        try:
            with app.db.session() as session:
                invoice_for_files(session, app.session.actor, self.invoice_id)  # the right and the number
                paths = write_billing_data(session, self.invoice_id, folder)
        except DomainError as exc:
            self.post_message(self.Written(None, exc.message))
        except OSError as exc:
            self.post_message(self.Written(None, _("The files could not be written: {problem}").format(
                problem=exc.strerror or str(exc))))
        except ValueError as exc:  # the invoice's lines do not add up (the issuer's problem, said as it is)
            self.post_message(self.Written(None, str(exc)))
        except Exception:
            log.exception("Writing billing data files failed")
            self.post_message(self.Written(None, _("The billing data files could not be written. Try again in a "
                                                   "moment.")))
        else:
            self.post_message(self.Written(tuple(paths)))

    def on_billing_data_dialog_written(self, message: Written) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        line.show_success(_("Written:\n{files}").format(files="\n".join(str(p) for p in message.paths)))

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(None)


# --- reconciliation ----------------------------------------------------------------------------------------

MATCH_LABELS = {
    "matched": N_("Matched"),
    "charge": N_("Fee"),
    "amount differs": N_("Amount differs"),
    "line without transaction": N_("No transaction"),
    "transaction not invoiced": N_("Not invoiced"),
    "on another invoice": N_("Other invoice"),
}


class ReconciliationScreen(Screen[None]):
    """An invoice's lines against the transactions of its period, per card. Opened from Search invoices (inside
    *My invoices*, after the re-authentication)."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#recon-cards"
    TITLE = N_("Reconciliation")
    HELP = N_("The invoice's lines against the fuel and toll transactions of its customer number in the invoice "
              "period (your company's time zone), per card. Differences are highlighted: a transaction that was "
              "not invoiced, a line without transaction, an amount that differs. A transaction that arrived "
              "after the invoice was made is on the next invoice: its line says which one. The upper list has "
              "one line per card; the lower one the highlighted card's lines.")
    HELP_KEYS = (
        (N_("↑ ↓"), N_("Choose a card; its lines show below")),
        (N_("Tab"), N_("Move between the cards and the card's lines")),
        (N_("a"), N_("Show every line of the card, or only the differences")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("a", "toggle_all", N_("All lines"), id="recon_all_lines"),
    ]

    class Loaded(Message):
        def __init__(self, result, problem: str | None = None) -> None:
            super().__init__()
            self.result, self.problem = result, problem

    def __init__(self, invoice_id: int) -> None:
        super().__init__()
        self.invoice_id = invoice_id
        self.result = None
        self.show_all = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        yield Label(_("Reading the invoice and its transactions…"), id="recon-title", classes="invoices-count",
                    markup=False)
        yield Static("", id="recon-totals", classes="recon-totals", markup=False)
        cards = DataTable(id="recon-cards", cursor_type="row", zebra_stripes=True, classes="recon-table")
        cards.add_column(_("Card/plate"), key="card", width=14)
        cards.add_column(_("Lines"), key="lines", width=5)
        cards.add_column(_("Invoiced"), key="invoiced", width=10)
        cards.add_column(_("Transact."), key="transacted", width=10)
        cards.add_column(_("Difference"), key="difference", width=10)
        cards.add_column(_("Issues"), key="issues", width=14)
        yield cards
        rows = DataTable(id="recon-rows", cursor_type="row", zebra_stripes=True, classes="recon-table")
        rows.add_column(_("Date"), key="date", width=5)
        rows.add_column(_("What"), key="what", width=14)
        rows.add_column(_("Line"), key="line", width=24)
        rows.add_column(_("Invoiced"), key="invoiced", width=9)
        rows.add_column(_("Transact."), key="transacted", width=9)
        yield rows
        yield MessageLine(id="recon-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, group="invoice-reconcile", exit_on_error=False)
    def load(self) -> None:
        from store.services.errors import DomainError
        from store.services.invoices import reconcile

        app = self.app
        try:
            with app.db.session() as session:
                result = reconcile(session, app.session.actor, self.invoice_id)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message))
        except Exception:
            log.exception("Reconciliation failed")
            self.post_message(self.Loaded(None, _("The reconciliation could not be made right now. Try again in "
                                                  "a moment.")))
        else:
            self.post_message(self.Loaded(result))

    def colors(self) -> dict[str, str]:
        return {"warning": theme_color(self.app, "warning", "yellow"),
                "error": theme_color(self.app, "error", "red")}

    def style_for(self, match_value: str) -> str:
        colors = self.colors()
        if match_value == "amount differs":
            return f"bold {colors['warning']}"
        if match_value in ("line without transaction", "transaction not invoiced"):
            return f"bold {colors['error']}"
        return ""

    def on_reconciliation_screen_loaded(self, message: Loaded) -> None:
        if message.problem:
            self.query_one("#recon-title", Label).update("")
            self.query_one(MessageLine).show_error(message.problem)
            return
        from store.services.invoices import Match

        r = self.result = message.result
        self.query_one("#recon-title", Label).update(_("Invoice {number} · customer no. {customer} · {start} – "
                                                       "{end}").format(
            number=r.number, customer=r.customer_number, start=f"{r.period_start:%d/%m/%Y}",
            end=f"{r.period_end:%d/%m/%Y}"))
        totals = Text()
        totals.append(_("Invoiced € {invoiced} · transactions € {transacted} · difference € {difference}").format(
            invoiced=money(r.invoiced), transacted=money(r.transacted), difference=money(r.difference)),
            style=self.style_for("amount differs") if r.difference else "")
        totals.append("\n")
        if r.differences:
            totals.append(_("{matched} matched · differences: {differs} amount, {line_only} without "
                            "transaction, {not_invoiced} not invoiced").format(
                matched=r.count(Match.MATCHED), differs=r.count(Match.AMOUNT_DIFFERS),
                line_only=r.count(Match.LINE_WITHOUT_TRANSACTION), not_invoiced=r.count(Match.NOT_INVOICED)),
                style=self.style_for("transaction not invoiced"))
        else:
            totals.append(_("All {count} transaction lines match their transactions.").format(
                count=r.count(Match.MATCHED)))
        if r.count(Match.CHARGE):
            totals.append("\n" + _("Fee lines: {count}, € {amount} (no transaction to match them with)").format(
                count=r.count(Match.CHARGE), amount=money(r.charges)))
        late = r.count(Match.OTHER_INVOICE)
        if late:
            totals.append("\n" + ngettext(
                "{count} transaction arrived late and is on another invoice: € {amount}",
                "{count} transactions arrived late and are on other invoices: € {amount}",
                late).format(count=late, amount=money(r.elsewhere)))
        self.query_one("#recon-totals", Static).update(totals)
        table = self.query_one("#recon-cards", DataTable)
        table.clear()
        for index, card in enumerate(r.cards):
            label = (card.license_plate or card.name or (f"…{card.card_number[-8:]}" if card.card_number else "")
                     if card.card_id is not None else _("No card"))
            issues = ngettext("{count} difference", "{count} differences", card.differences).format(
                count=card.differences) if card.differences else _("OK")
            style = self.style_for("transaction not invoiced") if card.differences else ""
            table.add_row(Text(label or "—", style=style), str(len(card.rows)),
                          Text(money(card.invoiced), justify="right"), Text(money(card.transacted), justify="right"),
                          Text(money(card.difference), justify="right", style=style if card.difference else ""),
                          Text(issues, style=style), key=str(index))
        self.show_rows()

    def current_card(self):
        if self.result is None or not self.result.cards:
            return None
        table = self.query_one("#recon-cards", DataTable)
        row = table.cursor_row
        return self.result.cards[row] if 0 <= row < len(self.result.cards) else None

    def show_rows(self) -> None:
        table = self.query_one("#recon-rows", DataTable)
        table.clear()
        card = self.current_card()
        if card is None:
            return
        shown = card.rows if self.show_all else [r for r in card.rows if r.match.value not in ("matched", "charge")]
        for index, row in enumerate(shown):
            style = self.style_for(row.match.value)
            when = f"{self.app.session.local(row.moment):%d/%m}" if row.moment else ""
            description = row.description
            if row.other_invoice_number:
                description = _("On invoice {number} of {month}: {description}").format(
                    number=row.other_invoice_number, month=f"{row.other_invoice_month:%m/%Y}",
                    description=row.description)
            table.add_row(when, Text(_(MATCH_LABELS[row.match.value]), style=style), description,
                          Text(money(row.invoiced), justify="right", style=style),
                          Text(money(row.transacted), justify="right", style=style), key=str(index))
        if not shown:
            table.add_row("", _("No difference"), _("a shows every line"), "", "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "recon-cards":
            self.show_rows()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.show_rows()

    def action_back(self) -> None:
        self.app.pop_screen()
