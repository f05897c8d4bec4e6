"""The home screen: the main menu of Fiche 02 and a summary of the session."""
from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label

from tui.i18n import N_, _, format_datetime
from tui.menu import visible_menu
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.main_menu import MainMenu

KIOSK_MENU_ROWS = 18  # the main menu's lines at 80×24: 24, less header, footer, the panel's border and title


class HomeScreen(Screen[None]):
    FOOTER_SESSION_KEYS = True  # tui/widgets/footer.py: Customer no., Log out and Quit shown here
    CSS_PATH = "../styles/home.tcss"
    AUTO_FOCUS = "MainMenu"
    TITLE = N_("Main menu")
    HELP = N_("The main menu lists the parts of the portal your rights and your company's options give you. "
              "Open one with Enter or its number.")
    HELP_KEYS = (
        (N_("↑ ↓ Enter"), N_("Open the highlighted item")),
        (N_("1–9"), N_("Open the item with that number at once")),
        (N_("Letters"), N_("Jump to the next item whose name starts with them")),
    )

    def compose(self) -> ComposeResult:
        app = self.app
        user_session = app.session
        yield SessionHeader()
        with Horizontal(id="home-body"):
            with Vertical(id="home-menu", classes="panel"):
                yield Label(_("Main menu"), classes="panel-title")
                groups = visible_menu(user_session.rights, app.menu)
                # A kiosk's few items become large targets when they fit in the panel at 80×24.
                roomy = app.kiosk and MainMenu.rows(groups, roomy=True) <= KIOSK_MENU_ROWS
                yield MainMenu(groups, id="main-menu", roomy=roomy)
            with Vertical(id="home-summary", classes="panel"):
                yield Label(_("Your session"), classes="panel-title")
                with Grid(id="summary-grid"):
                    for key, label, value in self.summary_rows():
                        yield Label(label, classes="summary-label", markup=False)
                        yield Label(value, id=f"summary-{key}", classes="summary-value", markup=False)
                yield Label(self.hint(), id="home-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._show_customer_number, init=False)

    def _format(self, moment: datetime | None) -> str:
        if moment is None:
            return _("none recorded")
        return format_datetime(self.app.session.local(moment))

    def customer_number_text(self) -> str:
        number = self.app.active_customer_number
        return "" if number is None else _("{number} {name}").format(number=number.number, name=number.name)

    def summary_rows(self) -> list[tuple[str, str, str]]:
        s = self.app.session
        rows = [
            ("user", _("User"), _("{name} ({username})").format(name=s.display_name, username=s.username)),
            ("customer", _("Customer"), s.customer_name),
            ("customer-number", _("Customer no."), self.customer_number_text()),
        ]
        if s.is_multipass:
            rows.append(("customer-numbers", _("Multipass"), _("{count} numbers, {key} to switch").format(
                count=len(s.customer_numbers), key=self.app.key_for("switch_customer"))))
        rows += [
            ("login", _("Logged in"), self._format(s.login_at)),
            ("previous-login", _("Previous login"), self._format(s.previous_login_at)),
            ("timezone", _("Time zone"), s.customer_timezone),
        ]
        return rows

    def hint(self) -> str:
        return _("Open an item with Enter or its number; {help} shows every key.").format(
            help=self.app.key_for("help"))

    def _show_customer_number(self, _value: object = None) -> None:
        if self.app.session is None:
            return
        self.query_one("#summary-customer-number", Label).update(self.customer_number_text())

    def on_main_menu_item_chosen(self, message: MainMenu.ItemChosen) -> None:
        message.stop()
        self.app.open_menu_item(message.item)
