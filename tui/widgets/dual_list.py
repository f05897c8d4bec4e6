"""A dual list: pick values by moving them from the left list (available) to the right one (granted).

The guide's way of choosing rights (Fiche 10) and invoice-notification recipients (Fiche 11):

    DualList([("cards.manage", "Manage cards and OBUs"), ...], selected=["cards.manage"],
             available_label=_("Available"), granted_label=_("Granted"), id="rights")

Keyboard: in the left list Enter or → moves the highlighted item to the right, in the right list Enter or ←
moves it back; Ctrl+→ (or `>`) moves every shown item to the right, Ctrl+← (or `<`) every shown item back;
Tab goes filter → left list → right list. The filter narrows both lists (case-insensitive, on the label).
Mouse: a click highlights an item, a double click moves it; the buttons between the lists move the
highlighted item or all shown items.

`selected` is the list of granted values in the order of `options`; setting it replaces the selection
without posting `Changed`. Every change made by the user posts `DualList.Changed`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.i18n import N_, _


class _SideList(OptionList):
    """One side of the dual list. Enter (and the arrow towards the other side) moves; a click only highlights."""

    class Move(Message):
        def __init__(self, side: _SideList, value: str | None, everything: bool) -> None:
            super().__init__()
            self.side = side
            self.value = value  # None with everything=True
            self.everything = everything

    def __init__(self, side: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes=f"dual-list-side -{side}")
        self.side = side  # "available" or "granted"

    def _move_highlighted(self) -> None:
        if self.highlighted is None or self.option_count == 0:
            return
        option = self.get_option_at_index(self.highlighted)
        self.post_message(self.Move(self, option.id, everything=False))

    def action_select(self) -> None:  # Enter
        self._move_highlighted()

    def action_move_across(self) -> None:
        self._move_highlighted()

    def action_move_all(self) -> None:
        self.post_message(self.Move(self, None, everything=True))

    async def _on_click(self, event: events.Click) -> None:
        event.prevent_default()  # OptionList would "select" (= move) on a single click
        clicked = event.style.meta.get("option")
        if clicked is None:
            return
        self.highlighted = clicked
        if event.chain >= 2:
            self._move_highlighted()


class _AvailableList(_SideList):
    BINDINGS = [
        Binding("right", "move_across", N_("Grant"), id="dual_list.grant"),
        Binding("ctrl+right,greater_than_sign", "move_all", N_("Grant all"), id="dual_list.grant_all"),
    ]


class _GrantedList(_SideList):
    BINDINGS = [
        Binding("left", "move_across", N_("Remove"), id="dual_list.remove"),
        Binding("ctrl+left,less_than_sign", "move_all", N_("Remove all"), id="dual_list.remove_all"),
    ]


class _FilterInput(Input):
    """The filter: Enter or ↓ goes to the left list at once (before the next key is routed: fast typists)."""

    BINDINGS = [Binding("enter,down", "to_list", N_("To the list"), show=False, id="dual_list.to_list")]

    def action_to_list(self) -> None:
        dual = next((a for a in self.ancestors if isinstance(a, DualList)), None)
        if dual is not None:
            self.screen.set_focus(dual.query_one("#dual-available", _SideList))


class DualList(Widget):
    """Choose a subset of `options` ((value, label) pairs) with two lists: available ← → granted."""

    DEFAULT_CSS = """
    DualList { height: 1fr; min-height: 7; }
    DualList > #dual-filter { height: 3; }
    DualList > Horizontal { height: 1fr; }
    DualList .dual-list-column { width: 1fr; height: 1fr; }
    DualList .dual-list-title { color: $text-muted; }
    DualList .dual-list-side { height: 1fr; }
    DualList #dual-buttons { width: 6; height: 1fr; align: center middle; }
    DualList #dual-buttons Button { width: 6; min-width: 6; height: 1; border: none; margin: 0; }
    """

    class Changed(Message):
        """The user changed the selection; `selected` holds the granted values in options order."""

        def __init__(self, dual_list: DualList, selected: list[str]) -> None:
            super().__init__()
            self.dual_list = dual_list
            self.selected = selected

        @property
        def control(self) -> DualList:
            return self.dual_list

    def __init__(self, options: Sequence[tuple[str, str]], selected: Iterable[str] = (), *,
                 available_label: str | None = None, granted_label: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._options: list[tuple[str, str]] = [(str(v), str(label)) for v, label in options]
        self._values = {v for v, _label in self._options}
        self._selected: set[str] = {str(v) for v in selected} & self._values
        self.available_label = available_label if available_label is not None else _("Available")
        self.granted_label = granted_label if granted_label is not None else _("Granted")
        self._filter = ""

    # Layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield _FilterInput(id="dual-filter", placeholder=_("Filter both lists…"))
        with Horizontal():
            with Vertical(classes="dual-list-column"):
                yield Label("", id="dual-available-title", classes="dual-list-title")
                yield _AvailableList("available", id="dual-available")
            with Vertical(id="dual-buttons"):
                for button_id, text, tooltip in (
                    ("dual-grant", ">", _("Move the highlighted item to the right (→ or Enter)")),
                    ("dual-grant-all", ">>", _("Move every shown item to the right (Ctrl+→)")),
                    ("dual-remove", "<", _("Move the highlighted item back to the left (← or Enter)")),
                    ("dual-remove-all", "<<", _("Move every shown item back to the left (Ctrl+←)")),
                ):
                    button = Button(text, id=button_id, compact=True)
                    button.can_focus = False  # the keys do the same; keep Tab for the lists
                    button.tooltip = tooltip
                    yield button
            with Vertical(classes="dual-list-column"):
                yield Label("", id="dual-granted-title", classes="dual-list-title")
                yield _GrantedList("granted", id="dual-granted")

    def on_mount(self) -> None:
        self._refresh_lists()

    # Public API -------------------------------------------------------------------------------

    @property
    def selected(self) -> list[str]:
        return [v for v, _label in self._options if v in self._selected]

    @selected.setter
    def selected(self, values: Iterable[str]) -> None:
        self._selected = {str(v) for v in values} & self._values
        if self.is_mounted:
            self._refresh_lists()

    @property
    def available(self) -> list[str]:
        return [v for v, _label in self._options if v not in self._selected]

    def grant(self, *values: str) -> None:
        """Move `values` to the right list, as the user would (posts Changed)."""
        self._change(self._selected | (set(values) & self._values))

    def remove(self, *values: str) -> None:
        """Move `values` back to the left list, as the user would (posts Changed)."""
        self._change(self._selected - set(values))

    # Internals --------------------------------------------------------------------------------

    def _shown(self, granted: bool) -> list[tuple[str, str]]:
        needle = self._filter.casefold()
        return [(v, label) for v, label in self._options
                if (v in self._selected) == granted and (not needle or needle in label.casefold())]

    def _fill(self, side: _SideList, items: list[tuple[str, str]]) -> None:
        previous = side.highlighted
        side.clear_options()
        side.add_options([Option(label, id=value) for value, label in items])
        if items:
            side.highlighted = min(previous if previous is not None else 0, len(items) - 1)

    def _refresh_lists(self) -> None:
        available, granted = self._shown(False), self._shown(True)
        self._fill(self.query_one("#dual-available", _SideList), available)
        self._fill(self.query_one("#dual-granted", _SideList), granted)
        total_available = len(self._options) - len(self._selected)
        self.query_one("#dual-available-title", Label).update(
            _("{label} ({shown}/{total})").format(label=self.available_label, shown=len(available),
                                                  total=total_available)
            if self._filter else _("{label} ({count})").format(label=self.available_label, count=total_available))
        self.query_one("#dual-granted-title", Label).update(
            _("{label} ({shown}/{total})").format(label=self.granted_label, shown=len(granted),
                                                  total=len(self._selected))
            if self._filter else _("{label} ({count})").format(label=self.granted_label, count=len(self._selected)))

    def _change(self, new_selection: set[str]) -> None:
        if new_selection == self._selected:
            return
        self._selected = new_selection
        if self.is_mounted:
            self._refresh_lists()
        self.post_message(self.Changed(self, self.selected))

    def _move(self, from_granted: bool, value: str | None, everything: bool) -> None:
        values = {v for v, _label in self._shown(from_granted)} if everything else {value}
        if from_granted:
            self._change(self._selected - values)
        else:
            self._change(self._selected | (values & self._values))

    @on(_SideList.Move)
    def _side_move(self, message: _SideList.Move) -> None:
        message.stop()
        self._move(message.side.side == "granted", message.value, message.everything)

    @on(OptionList.OptionSelected)
    @on(OptionList.OptionHighlighted)
    def _inner_option_message(self, message: Message) -> None:
        message.stop()  # the sides are internal: the outside world hears DualList.Changed only

    @on(Input.Changed, "#dual-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value.strip()
        self._refresh_lists()

    @on(Input.Submitted, "#dual-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.set_focus(self.query_one("#dual-available", _SideList))

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button in ("dual-grant", "dual-grant-all"):
            side = self.query_one("#dual-available", _SideList)
        else:
            side = self.query_one("#dual-granted", _SideList)
        if button.endswith("-all"):
            self._move(side.side == "granted", None, everything=True)
        elif side.highlighted is not None and side.option_count:
            self._move(side.side == "granted", side.get_option_at_index(side.highlighted).id, everything=False)
