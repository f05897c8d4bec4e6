"""The main menu (Fiche 02) as one keyboard-fast list.

Groups are headings (not selectable); items are numbered 1–9 in menu order. Keys: ↑ ↓ Home End and Enter;
a digit opens that item at once; typing letters jumps to the next item whose label starts with them.
"""
from __future__ import annotations

from collections.abc import Sequence
from time import monotonic

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.i18n import _
from tui.menu import MenuGroup, MenuItem

TYPE_AHEAD_RESET = 1.0  # seconds between keys before the typed prefix starts anew


class MainMenu(OptionList):
    class ItemChosen(Message):
        """The user chose a menu item (Enter, click, or its number)."""

        def __init__(self, item: MenuItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, groups: Sequence[tuple[MenuGroup, Sequence[MenuItem]]], *, id: str | None = None,
                 classes: str | None = None, roomy: bool = False) -> None:
        """`roomy`: each item three lines high, a large target (kiosk mode, when they fit: `rows()`)."""
        self.items_by_option: dict[str, MenuItem] = {}
        self.numbered: list[MenuItem] = []
        options: list[Option] = []
        for index, (group, items) in enumerate(groups):
            heading = _(group.label) if index == 0 else "\n" + _(group.label)
            options.append(Option(Content(heading), id=f"group:{group.id}", disabled=True))
            for item in items:
                self.numbered.append(item)
                number = len(self.numbered)
                key = str(number) if number <= 9 else " "
                label = f" {key}  {_(item.label)}"
                options.append(Option(Content(f"\n{label}\n" if roomy else label), id=f"item:{item.id}"))
                self.items_by_option[f"item:{item.id}"] = item
        super().__init__(*options, id=id, classes=classes)
        self._typed = ""
        self._typed_at = 0.0

    @staticmethod
    def rows(groups: Sequence[tuple[MenuGroup, Sequence[MenuItem]]], roomy: bool) -> int:
        """The lines the menu takes: a heading (after a blank line but for the first), then its items."""
        return sum((2 if index else 1) + len(items) * (3 if roomy else 1) for index, (_group, items) in
                   enumerate(groups))

    def on_mount(self) -> None:
        if self.numbered:
            self.highlight_item(self.numbered[0])

    @property
    def highlighted_item(self) -> MenuItem | None:
        option = self.highlighted_option
        return None if option is None or option.id is None else self.items_by_option.get(option.id)

    def highlight_item(self, item: MenuItem) -> None:
        self.highlighted = self.get_option_index(f"item:{item.id}")

    def choose(self, item: MenuItem) -> None:
        self.highlight_item(item)
        self.post_message(self.ItemChosen(item))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        item = self.items_by_option.get(event.option_id or "")
        if item is not None:
            event.stop()
            self.post_message(self.ItemChosen(item))

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if not event.is_printable or not char or char.isspace():
            return
        event.stop()
        event.prevent_default()
        if char.isdigit():
            number = int(char)
            if 1 <= number <= min(9, len(self.numbered)):
                self.choose(self.numbered[number - 1])
            else:
                self.app.bell()
            return
        self._type_ahead(char)

    def _type_ahead(self, char: str) -> None:
        now = monotonic()
        self._typed = (self._typed if now - self._typed_at < TYPE_AHEAD_RESET else "") + char.casefold()
        self._typed_at = now
        current = self.highlighted_item
        start = self.numbered.index(current) if current in self.numbered else -1
        # A longer prefix may still match the current item; a single letter moves on to the next match.
        attempts = [(self._typed, max(start, 0))] if len(self._typed) > 1 else []
        attempts.append((char.casefold(), start + 1))
        count = len(self.numbered)
        for prefix, first in attempts:
            for step in range(count):
                item = self.numbered[(first + step) % count]
                if _(item.label).casefold().startswith(prefix):
                    self.highlight_item(item)
                    self._typed = prefix
                    return
        self.app.bell()
