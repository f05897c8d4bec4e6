"""F1: a short help for the screen below: what it is for and its keys."""
from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.i18n import N_, _


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
            if self.help_text:
                yield Static(self.help_text, id="help-text", markup=False)
            with Grid(id="help-keys"):
                for key, description in self.keys:
                    yield Label(key, classes="help-key", markup=False)
                    yield Label(description, classes="help-description", markup=False)
            yield Label(_("Press Esc to close this help."), classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
