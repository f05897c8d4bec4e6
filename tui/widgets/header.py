"""The one-line header: the app title on the left; who is logged in and the active customer number on the right.

No clock: screens must look the same on every run (snapshots).
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from tui.i18n import _


class SessionHeader(Horizontal):
    """Reads `app.session` and follows `app.active_customer_number`."""

    DEFAULT_CSS = """
    SessionHeader {
        dock: top;
        height: 1;
        width: 1fr;
    }
    SessionHeader > #header-title { width: auto; }
    SessionHeader > #header-session { width: 1fr; text-align: right; }
    """

    def compose(self) -> ComposeResult:
        yield Label(_("Cards Online"), id="header-title", markup=False)
        yield Label("", id="header-session", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._show_session, init=True)

    def session_text(self) -> str:
        user_session = getattr(self.app, "session", None)
        if user_session is None:
            return ""
        number = getattr(self.app, "active_customer_number", None)
        if number is None:
            return _("{name} ({username})").format(name=user_session.display_name, username=user_session.username)
        return _("{name} ({username}) · customer no. {number}").format(
            name=user_session.display_name, username=user_session.username, number=number.number
        )

    def _show_session(self, _value: object = None) -> None:
        self.query_one("#header-session", Label).update(self.session_text())
