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

# How help texts and the footer write keys, as Textual names them.
_KEY_WORDS = {"esc": "escape", "del": "delete", "ins": "insert", "pgup": "pageup", "pgdn": "pagedown",
              "↑": "up", "↓": "down", "←": "left", "→": "right", "⏎": "enter", "⇥": "tab"}


def key_names(text: str) -> frozenset[str]:
    """The keys a help line's key text names, as Textual's key names: "Ctrl+S" and "^s" -> {"ctrl+s"},
    "↑ / ↓" -> {"up", "down"}, "v c o" -> {"v", "c", "o"}, "Esc" -> {"escape"}, "/" -> {"slash"}. Words that
    are no key ("Typing", "and") give names no binding has."""
    from textual.keys import _character_to_key

    words = text.split()
    if len(words) > 1:  # "↑ / ↓", "Tab / Shift+Tab": there the slash separates keys
        words = [word for word in words if word != "/"]
    names = set()
    for word in words:
        if word.startswith("^") and len(word) > 1:
            word = "ctrl+" + word[1:]
        *modifiers, key = word.split("+") if len(word) > 1 else [word]
        key = _KEY_WORDS.get(key.lower(), key)
        if len(key) == 1:
            key = key.lower() if key.isalnum() else _character_to_key(key)
        names.add("+".join([m.lower() for m in modifiers] + [key.lower()]))
    return frozenset(names)


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
