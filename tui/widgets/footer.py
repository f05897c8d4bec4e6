"""The footer of every screen: Textual's, compact, with the key descriptions translated as they are shown, and
the session keys only where there is room.

The descriptions of BINDINGS are class attributes, defined at import time before anyone logged in, so they
are marked with `N_()` (English msgids) and translated here, in the language in force when the footer is
composed. Textual recomposes the footer whenever the bindings change, and the app recomposes the screens
after a change of language: the footer follows the language at once.

At 80 columns a screen's own keys, then F1 Help, Customer no., Log out and Quit, then Ctrl+P did not fit: the
last ones were cut off ("^l Lo"). The session keys (Customer no., Log out, Quit) work on every screen and are
listed by F1 help and the command palette; the footer shows them only on the screens that set
`FOOTER_SESSION_KEYS = True` (the home and login screens), so that a screen's own keys and F1 Help stay whole.
tests/tui/test_tui_footer.py checks every main-menu screen at 80×24.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey, FooterLabel

from tui.i18n import _

# The app's bindings (tui/app.py) left out of the footer of the other screens; they still work everywhere.
SESSION_ACTIONS = frozenset({"switch_customer", "logout", "quit"})


class Footer(TextualFooter):
    def __init__(self, *, compact: bool = True, **kwargs) -> None:
        super().__init__(compact=compact, **kwargs)

    def compose(self) -> ComposeResult:
        show_session_keys = getattr(self.screen, "FOOTER_SESSION_KEYS", False)
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                if not show_session_keys and widget.action in SESSION_ACTIONS:
                    continue
                widget.description = _(widget.description)
                if isinstance(widget.tooltip, str) and widget.tooltip:
                    widget.tooltip = _(widget.tooltip)
            elif isinstance(widget, FooterLabel):
                widget.update(_(str(widget.content)))
            yield widget
