"""The footer of every screen: Textual's, with the key descriptions translated as they are shown.

The descriptions of BINDINGS are class attributes, defined at import time before anyone logged in, so they
are marked with `N_()` (English msgids) and translated here, in the language in force when the footer is
composed. Textual recomposes the footer whenever the bindings change, and the app recomposes the screens
after a change of language: the footer follows the language at once.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey, FooterLabel

from tui.i18n import _


class Footer(TextualFooter):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.description = _(widget.description)
                if isinstance(widget.tooltip, str) and widget.tooltip:
                    widget.tooltip = _(widget.tooltip)
            elif isinstance(widget, FooterLabel):
                widget.update(_(str(widget.content)))
            yield widget
