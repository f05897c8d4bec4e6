"""F1: a short help for the screen below: what it is for and its keys."""
from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.i18n import N_, _

HELP_CHROME = 6  # lines of the dialog around the scrolling part


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", N_("Close"), id="close")]
    HELP = N_("Shows what the screen below is for and the keys it answers to.")

    def __init__(self, title: str, text: str, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.help_title = title
        self.help_text = text
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label(_("Help: {screen}").format(screen=self.help_title), classes="dialog-title", markup=False)
            # Scrolls (↑ ↓ PgUp PgDn) when the text and keys are taller than the terminal, e.g. at 80×24.
            with VerticalScroll(id="help-body"):
                if self.help_text:
                    yield Static(self.help_text, id="help-text", markup=False)
                with Grid(id="help-keys"):
                    for key, description in self.keys:
                        yield Label(key, classes="help-key", markup=False)
                        yield Label(description, classes="help-description", markup=False)
            yield Label(_("Press Esc to close this help."), classes="dialog-hint")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # The dialog's border (2), title and its margin (2), hint and its margin (2) stay visible.
        self.query_one("#help-body", VerticalScroll).styles.max_height = max(3, self.size.height - HELP_CHROME)

    def action_close(self) -> None:
        self.dismiss(None)
