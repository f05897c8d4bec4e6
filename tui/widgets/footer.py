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

Dutch and French descriptions are longer than English ones: when a screen's keys would reach under the command
palette's key (^p, docked right), the footer leaves that key out (^p still works and F1 help lists it), and a
few descriptions have a shorter form for the footer (`FOOTER_FORMS`, context "footer"); F1 help and the
palette show the full one. tests/tui/test_tui_footer.py checks every main-menu screen at 80×24 in en, nl, fr.
"""
from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey, FooterLabel

from tui.i18n import _, pgettext
from tui.i18n.labels import NP_

# The app's bindings (tui/app.py) left out of the footer of the other screens; they still work everywhere.
SESSION_ACTIONS = frozenset({"switch_customer", "logout", "quit"})

# Key descriptions with a shorter form in the footer of a language that needs it (the same text where it does
# not): the screens with the most keys, in Dutch and French, still fit 80 columns.
FOOTER_CONTEXT = "footer"
FOOTER_FORMS = frozenset(message for _context, message in (
    NP_("footer", "Mark all"),
    NP_("footer", "New user"),
    NP_("footer", "Reissue"),
    NP_("footer", "Unblock"),
))


def footer_description(description: str) -> str:
    """A key's description as the footer shows it, in the language in force."""
    return pgettext(FOOTER_CONTEXT, description) if description in FOOTER_FORMS else _(description)


def _key_width(key: FooterKey) -> int:
    """The columns a compact footer key takes: key, space, description, and the space after it."""
    return cell_len(key.key_display) + (1 + cell_len(key.description) if key.description else 0) + 1


class Footer(TextualFooter):
    def __init__(self, *, compact: bool = True, **kwargs) -> None:
        super().__init__(compact=compact, **kwargs)

    _composed_width = 0

    def compose(self) -> ComposeResult:
        show_session_keys = getattr(self.screen, "FOOTER_SESSION_KEYS", False)
        widgets = []
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                if not show_session_keys and widget.action in SESSION_ACTIONS:
                    continue
                widget.description = footer_description(widget.description)
                if isinstance(widget.tooltip, str) and widget.tooltip:
                    widget.tooltip = _(widget.tooltip)
            elif isinstance(widget, FooterLabel):
                widget.update(_(str(widget.content)))
            widgets.append(widget)
        self._composed_width = self.app.size.width
        palette = [w for w in widgets if isinstance(w, FooterKey) and w.has_class("-command-palette")]
        keys = [w for w in widgets if w not in palette]
        if palette and all(isinstance(w, FooterKey) for w in keys):
            # The palette's key takes its text, its left border and a column at the right edge.
            room = self._composed_width - (cell_len(palette[0].key_display) + 1 + cell_len(palette[0].description)) - 2
            if sum(_key_width(key) for key in keys) > room + 1:  # the last key's trailing space may go under it
                widgets.remove(palette[0])  # the screen's keys need its room; F1 help lists ^p
        yield from widgets

    def on_resize(self, event: events.Resize) -> None:
        if self._composed_width and event.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)  # whether the palette's key fits depends on the width
