"""A line (or a few) that tells the outcome of an action: an error, a busy state, a success."""
from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import Static

KINDS = ("error", "warning", "busy", "info", "success")


class MessageLine(Static):
    """Hidden when empty. `show_error()` puts each problem on its own line."""

    DEFAULT_CSS = """
    MessageLine { height: auto; width: 1fr; display: none; }
    MessageLine.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.kind: str | None = None
        self.lines: tuple[str, ...] = ()

    def _show(self, kind: str, lines: Iterable[str]) -> None:
        self.lines = tuple(lines)
        self.kind = kind
        for k in KINDS:
            self.set_class(k == kind, f"-{k}")
        self.set_class(bool(self.lines), "-shown")
        self.update("\n".join(self.lines))

    def show_error(self, *problems: str) -> None:
        """One problem as it is; several as a list, one per line."""
        self._show("error", problems if len(problems) < 2 else [f"• {p}" for p in problems])

    def show_warning(self, text: str) -> None:
        self._show("warning", [text])

    def show_busy(self, text: str) -> None:
        self._show("busy", [text])

    def show_info(self, text: str) -> None:
        self._show("info", [text])

    def show_success(self, text: str) -> None:
        self._show("success", [text])

    def clear(self) -> None:
        self._show("info", [])
        self.kind = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
