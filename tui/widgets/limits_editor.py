"""The limits editor (Fiche 03 step 3): one row per product or service, keyboard-first, 66 columns wide.

Each row: allowed (checkbox, with the product's name), amount in EUR, volume, period and action.
Tab walks every field; Up/Down move to the same column of the row above/below; Space toggles the checkbox;
Space, Enter or Left/Right cycle the period and the action. `value` is the rows as LimitSpecs (only the
allowed products: a product not listed may not be bought); setting `value` fills the rows from a spec.

The editor decides no rule: it turns text into Decimals where it can and reports text it cannot read
(`parse_problems()`); the store's `validate_spec` judges the rest.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from tui.i18n import N_, _
from tui.i18n.labels import product_label

T = TypeVar("T")

NUMBER_CHARS = r"[0-9.,]*"


class CycleField(Static, Generic[T], can_focus=True):
    """A one-line choice among a few values: Space/Enter/Right for the next one, Left for the previous one."""

    DEFAULT_CSS = """
    CycleField { width: 14; height: 1; padding: 0 1; background: $boost; }
    CycleField:focus { background: $accent 40%; text-style: bold; }
    CycleField.-invalid { background: $error 30%; }
    """
    BINDINGS = [
        Binding("space,enter,right", "cycle(1)", N_("Next choice"), show=False, id="cycle_next"),
        Binding("left", "cycle(-1)", N_("Previous choice"), show=False, id="cycle_previous"),
    ]

    class Changed(Message):
        def __init__(self, field: CycleField, value: Any) -> None:
            super().__init__()
            self.field = field
            self.value = value

        @property
        def control(self) -> CycleField:
            return self.field

    index: reactive[int] = reactive(0, init=False)

    def __init__(self, options: Sequence[tuple[str, T]], value: T | None = None, *, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__("", id=id, classes=classes, markup=False, disabled=disabled)
        self.options = list(options)
        values = [v for _label, v in self.options]
        self.set_reactive(CycleField.index, values.index(value) if value in values else 0)
        self.update(self._text())

    def _text(self) -> str:
        return f"‹ {self.options[self.index][0]} ›"

    @property
    def value(self) -> T:
        return self.options[self.index][1]

    @value.setter
    def value(self, value: T) -> None:
        values = [v for _label, v in self.options]
        if value in values:
            self.index = values.index(value)

    def watch_index(self) -> None:
        self.update(self._text())
        self.post_message(self.Changed(self, self.value))

    def action_cycle(self, step: int) -> None:
        self.index = (self.index + step) % len(self.options)

    def on_click(self) -> None:
        self.action_cycle(1)


def parse_decimal(text: str) -> Decimal | None:
    """The number typed (comma or point as decimal mark), None when empty; ValueError when unreadable."""
    text = text.strip().replace(" ", "").replace(",", ".")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def show_decimal(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")


COLUMNS = ("allowed", "amount", "volume", "period", "action")


class LimitsEditor(Widget, can_focus=False):
    """One row per Product; `value` -> tuple[LimitSpec, ...]; assign a tuple of LimitSpecs to fill it."""

    DEFAULT_CSS = """
    LimitsEditor { height: auto; width: 74; }
    LimitsEditor .limits-head { height: 1; color: $text-muted; text-style: bold; }
    LimitsEditor .limit-row { height: 1; }
    LimitsEditor .limit-row Checkbox { width: 16; }
    LimitsEditor .limit-row Input { width: 10; margin-right: 1; }
    LimitsEditor .limit-row CycleField { width: 16; margin-right: 1; }
    LimitsEditor .limits-head .h-allowed { width: 17; }
    LimitsEditor .limits-head .h-amount, LimitsEditor .limits-head .h-volume { width: 11; }
    LimitsEditor .limits-head .h-period, LimitsEditor .limits-head .h-action { width: 17; }
    LimitsEditor .limit-error { display: none; color: $text-error; padding-left: 2; height: auto; }
    LimitsEditor .limit-error.-shown { display: block; }
    """
    # Priority: the app runs them as the key arrives, so the focus has moved before the next key is routed.
    # A plain binding ran only when the field handled the key, and keys that came in the same read (fast
    # typing, tmux, SSH) went to the field left behind: "↓50" added 50 to the row above.
    BINDINGS = [
        Binding("up", "row(-1)", N_("Row above"), show=False, priority=True, id="limits_row_up"),
        Binding("down", "row(1)", N_("Row below"), show=False, priority=True, id="limits_row_down"),
    ]
    HEADINGS = (N_("Allowed"), N_("Amount €"), N_("Volume"), N_("Per"), N_("When reached"))

    def __init__(self, limits: Sequence[Any] = (), *, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(id=id, classes=classes, disabled=disabled)
        self._initial = tuple(limits)

    @staticmethod
    def products():
        from store.models import Product

        return list(Product)

    @staticmethod
    def key(product: Any) -> str:
        return product.name.lower()

    def compose(self) -> ComposeResult:
        from store.models import LimitAction, LimitPeriod

        periods = [(_("transaction"), LimitPeriod.TRANSACTION), (_("day"), LimitPeriod.DAY),
                   (_("week"), LimitPeriod.WEEK), (_("month"), LimitPeriod.MONTH)]
        actions = [(_("block"), LimitAction.BLOCK), (_("notify only"), LimitAction.NOTIFY)]
        with Horizontal(classes="limits-head"):
            for name, heading in zip(COLUMNS, self.HEADINGS):
                yield Label(_(heading), classes=f"h-{name}")
        by_product = {limit.product: limit for limit in self._initial}
        for product in self.products():
            key = self.key(product)
            limit = by_product.get(product)
            allowed = limit is not None and limit.allowed
            with Horizontal(classes="limit-row", id=f"limit-row-{key}"):
                yield Checkbox(product_label(product), allowed, compact=True, id=f"f-limits-{key}-allowed")
                yield Input(show_decimal(limit.amount) if limit else "", compact=True, restrict=NUMBER_CHARS,
                            id=f"f-limits-{key}-amount", placeholder="—")
                yield Input(show_decimal(limit.volume) if limit else "", compact=True, restrict=NUMBER_CHARS,
                            id=f"f-limits-{key}-volume", placeholder="—")
                yield CycleField(periods, limit.period if limit else LimitPeriod.DAY, id=f"f-limits-{key}-period")
                yield CycleField(actions, limit.action if limit else LimitAction.BLOCK,
                                 id=f"f-limits-{key}-action")
            yield Static("", classes="limit-error", id=f"e-limits-{key}", markup=False)

    # Reading and writing ---------------------------------------------------------------------------

    def _field(self, product: Any, column: str) -> Widget:
        return self.query_one(f"#f-limits-{self.key(product)}-{column}")

    def parse_problems(self) -> list[tuple[str, str]]:
        """(field path, message) for each amount or volume that is not a number."""
        problems = []
        for product in self.products():
            for column in ("amount", "volume"):
                text = self._field(product, column).value
                try:
                    parse_decimal(text)
                except ValueError:
                    problems.append((f"limits.{self.key(product)}.{column}",
                                     (_("{product}: the amount “{text}” is not a number.") if column == "amount"
                                      else _("{product}: the volume “{text}” is not a number.")).format(
                                         product=product_label(product), text=text)))
        return problems

    @property
    def value(self) -> tuple:
        """The allowed products as LimitSpecs (unreadable numbers are left out: see `parse_problems`)."""
        from store.services.card_specs import LimitSpec

        limits = []
        for product in self.products():
            amount_text = self._field(product, "amount").value
            volume_text = self._field(product, "volume").value
            allowed = self._field(product, "allowed").value

            def number(text: str) -> Decimal | None:
                try:
                    return parse_decimal(text)
                except ValueError:
                    return None

            amount, volume = number(amount_text), number(volume_text)
            if not allowed and amount is None and volume is None:
                continue  # not listed: may not be bought
            limits.append(LimitSpec(product=product, allowed=allowed, amount=amount, volume=volume,
                                    period=self._field(product, "period").value,
                                    action=self._field(product, "action").value))
        return tuple(limits)

    @value.setter
    def value(self, limits: Sequence[Any]) -> None:
        from store.models import LimitAction, LimitPeriod

        by_product = {limit.product: limit for limit in limits}
        for product in self.products():
            limit = by_product.get(product)
            self._field(product, "allowed").value = limit is not None and limit.allowed
            self._field(product, "amount").value = show_decimal(limit.amount) if limit else ""
            self._field(product, "volume").value = show_decimal(limit.volume) if limit else ""
            self._field(product, "period").value = limit.period if limit else LimitPeriod.DAY
            self._field(product, "action").value = limit.action if limit else LimitAction.BLOCK

    # Problems --------------------------------------------------------------------------------------

    def clear_problems(self) -> None:
        for error in self.query(".limit-error"):
            error.update("")
            error.remove_class("-shown")

    def show_problem(self, field_path: str, message: str) -> bool:
        """Show `message` under the row of `field_path` ("limits.diesel.amount"); False when not a row's."""
        parts = field_path.split(".")
        if len(parts) != 3 or parts[0] != "limits":
            return False
        errors = self.query(f"#e-limits-{parts[1]}")
        if not errors:
            return False
        error = errors.first(Static)
        text = str(error.content)
        error.update(f"{text}\n{message}" if text else message)
        error.add_class("-shown")
        return True

    # Keys ------------------------------------------------------------------------------------------

    def action_row(self, step: int) -> None:
        focused = self.screen.focused
        if focused is None or not (focused.id or "").startswith("f-limits-"):
            return
        _f, _limits, key, column = focused.id.split("-", 3)
        keys = [self.key(p) for p in self.products()]
        index = keys.index(key) + step
        if 0 <= index < len(keys):
            self.screen.set_focus(self.query_one(f"#f-limits-{keys[index]}-{column}"))
            self.query_one(f"#limit-row-{keys[index]}").scroll_visible()
