"""The DualList widget, driven by the keyboard and the mouse in a small app."""
from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input

from tui.widgets.dual_list import DualList

OPTIONS = [("a", "Alpha"), ("b", "Bravo"), ("c", "Charlie"), ("d", "Delta")]


class DualApp(App[None]):
    def __init__(self, selected=()) -> None:
        super().__init__()
        self.selected = selected
        self.changes: list[list[str]] = []

    def compose(self) -> ComposeResult:
        yield DualList(OPTIONS, self.selected, available_label="Available", granted_label="Granted", id="dl")

    def on_dual_list_changed(self, message: DualList.Changed) -> None:
        assert message.dual_list is self.query_one(DualList)
        self.changes.append(message.selected)


def titles(app) -> tuple[str, str]:
    return (str(app.query_one("#dual-available-title").content), str(app.query_one("#dual-granted-title").content))


async def test_keyboard_moves_items_across_and_back():
    app = DualApp(selected=["c"])
    async with app.run_test(size=(80, 24)) as pilot:
        dual = app.query_one(DualList)
        assert dual.selected == ["c"]
        assert titles(app) == ("Available (3)", "Granted (1)")
        app.query_one("#dual-available").focus()
        await pilot.press("enter")  # Alpha → granted
        assert dual.selected == ["a", "c"]
        await pilot.press("down", "right")  # highlight moves to Delta (Bravo is now first … then Delta)
        assert dual.selected == ["a", "c", "d"]
        assert app.changes == [["a", "c"], ["a", "c", "d"]]
        await pilot.press("tab")  # to the granted list
        assert app.focused.id == "dual-granted"
        await pilot.press("left")  # Alpha back
        assert dual.selected == ["c", "d"]
        await pilot.press("enter")
        assert dual.selected == ["d"]
        await pilot.press("ctrl+left")  # everything back
        assert dual.selected == []
        await pilot.press("shift+tab", "ctrl+right")  # everything across
        assert dual.selected == ["a", "b", "c", "d"]
        assert titles(app) == ("Available (0)", "Granted (4)")


async def test_filter_narrows_both_lists_and_move_all_moves_only_the_shown():
    app = DualApp(selected=["d"])
    async with app.run_test(size=(80, 24)) as pilot:
        dual = app.query_one(DualList)
        app.query_one("#dual-filter", Input).focus()
        await pilot.press(*"ha")  # Alpha, Charlie (not Bravo, Delta)
        assert app.query_one("#dual-available").option_count == 2
        assert app.query_one("#dual-granted").option_count == 0
        assert titles(app) == ("Available (2/3)", "Granted (0/1)")
        await pilot.press("enter")  # Enter in the filter goes to the left list
        assert app.focused.id == "dual-available"
        await pilot.press("greater_than_sign")  # move all shown
        assert dual.selected == ["a", "c", "d"]


async def test_mouse_click_highlights_and_double_click_or_buttons_move():
    app = DualApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dual = app.query_one(DualList)
        left = app.query_one("#dual-available")
        await pilot.click(left, offset=(3, 2))  # second row (below the border): Bravo
        assert left.highlighted == 1 and dual.selected == []
        await pilot.click("#dual-grant")
        assert dual.selected == ["b"]
        await pilot.click(left, offset=(3, 1), times=2)  # double click on Alpha
        assert dual.selected == ["a", "b"]
        await pilot.click("#dual-remove-all")
        assert dual.selected == []


async def test_setter_replaces_selection_without_a_changed_message():
    app = DualApp()
    async with app.run_test(size=(80, 24)) as pilot:
        dual = app.query_one(DualList)
        dual.selected = ["d", "a", "unknown"]
        await pilot.pause()
        assert dual.selected == ["a", "d"]
        assert app.changes == []
        assert app.query_one("#dual-granted").option_count == 2
