"""The controls editor (Fiche 03 step 4): technical, time and geographic controls of a card, as form rows.

Shared by the card form (its Controls tab) and the bulk template. Each row: a label, the input, and under it
an error line (`e-controls-<field>`) that `show_problem` fills. The ids follow the spec paths
("controls.hours_to" -> `#f-controls-hours_to`), so a screen can place a store problem next to its field.

The editor decides no rule: `read()` turns the text into a `Controls` where it can and reports the text it
cannot read (numbers, dates); the store's checks judge the rest. Nothing typed is ever cleared by `read()`.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from tui.i18n import N_, _
from tui.widgets.limits_editor import parse_decimal, show_decimal

DIGITS = r"[0-9]*"
WEEKDAYS = ((1, N_("Mo")), (2, N_("Tu")), (3, N_("We")), (4, N_("Th")), (5, N_("Fr")), (6, N_("Sa")),
            (7, N_("Su")))
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def widget_id(field_path: str) -> str:
    """The id of the input that holds a spec field: "controls.hours_to" -> "f-controls-hours_to"."""
    return "f-" + field_path.replace(".", "-")


def parse_number(text: str, path: str, problems: list[tuple[str, str]], whole: bool = False) -> Any:
    """The number typed in the field `path`, None when empty; an unreadable one adds (path, what to fix)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = parse_decimal(text)
    except ValueError:
        problems.append((path, _("“{text}” is not a number.").format(text=text)))
        return None
    if whole:
        if value != value.to_integral():
            problems.append((path, _("Enter a whole number.")))
            return None
        return int(value)
    return value


class ControlsEditor(Widget, can_focus=False):
    """The rows of a Controls; `read()` -> (Controls, problems); `controls = …` fills the rows."""

    DEFAULT_CSS = """
    ControlsEditor { height: auto; }
    ControlsEditor .form-row { height: auto; min-height: 1; }
    ControlsEditor .form-label { width: 24; color: $text-muted; }
    ControlsEditor .form-row Input { width: 1fr; max-width: 44; }
    ControlsEditor .form-row Input.short { width: 24; }
    ControlsEditor .weekday-row Checkbox { width: auto; padding: 0; margin-right: 1; }
    ControlsEditor .field-error { display: none; color: $text-error; padding-left: 24; height: auto; }
    ControlsEditor .field-error.-shown { display: block; }
    """

    def __init__(self, controls: Any = None, *, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(id=id, classes=classes, disabled=disabled)
        if controls is None:
            from store.services.card_specs import Controls

            controls = Controls()
        self._initial = controls

    def _row(self, label: str, widget: Widget, path: str) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield widget
        yield Static("", classes="field-error", id="e-" + widget_id(path)[2:], markup=False)

    def _text(self, label: str, path: str, value: Any, short: bool = False, **kwargs: Any) -> ComposeResult:
        yield from self._row(label, Input("" if value is None else str(value), id=widget_id(path), compact=True,
                                          classes="short" if short else None, **kwargs), path)

    def compose(self) -> ComposeResult:
        controls = self._initial
        with Horizontal(classes="form-row weekday-row", id=widget_id("controls.allowed_weekdays")):
            yield Label(_("Allowed weekdays"), classes="form-label")
            for day, name in WEEKDAYS:
                yield Checkbox(_(name), day in controls.allowed_weekdays, compact=True, id=f"weekday-{day}")
        yield Static("", classes="field-error", id="e-controls-allowed_weekdays", markup=False)
        yield from self._text(_("Allowed from (HH:MM)"), "controls.hours_from", controls.hours_from,
                              restrict=r"[0-9:]*", max_length=5, placeholder="07:00", short=True)
        yield from self._text(_("Allowed until (HH:MM)"), "controls.hours_to", controls.hours_to,
                              restrict=r"[0-9:]*", max_length=5, placeholder="19:00", short=True)
        yield from self._text(_("Forbidden days"), "controls.forbidden_days",
                              ", ".join(f"{d:%d/%m/%Y}" for d in controls.forbidden_days),
                              placeholder=_("dd/mm/yyyy, dd/mm/yyyy"))
        yield from self._text(_("Allowed countries"), "controls.allowed_countries",
                              ", ".join(controls.allowed_countries), placeholder=_("all; or e.g. BE, NL, FR"))
        yield from self._row(_("Odometer prompt"), Checkbox(_("ask the mileage at each fill"),
                                                            controls.odometer_prompt, compact=True,
                                                            id=widget_id("controls.odometer_prompt")),
                             "controls.odometer_prompt")
        yield from self._text(_("Tank capacity (l)"), "controls.tank_capacity_l",
                              show_decimal(controls.tank_capacity_l), restrict=r"[0-9.,]*", short=True)
        yield from self._text(_("Max transactions/day"), "controls.max_transactions_per_day",
                              controls.max_transactions_per_day, restrict=DIGITS, max_length=2, short=True)

    # Reading and writing ---------------------------------------------------------------------------

    def _input(self, path: str) -> str:
        return self.query_one("#" + widget_id(path), Input).value

    def read(self) -> tuple[Any, list[tuple[str, str]]]:
        """The Controls the rows hold, and the text they cannot read as (field path, what to fix)."""
        from store.services.card_specs import Controls

        problems: list[tuple[str, str]] = []
        forbidden = []
        for part in filter(None, (p.strip() for p in re.split(r"[,;]", self._input("controls.forbidden_days")))):
            match = _DATE.fullmatch(part)
            try:
                if not match:
                    raise ValueError(part)
                forbidden.append(date(int(match[3]), int(match[2]), int(match[1])))
            except ValueError:
                problems.append(("controls.forbidden_days",
                                 _("“{text}” is not a date: write dd/mm/yyyy.").format(text=part)))
        countries = tuple(c.upper() for c in re.split(r"[\s,;]+", self._input("controls.allowed_countries")) if c)
        controls = Controls(
            odometer_prompt=self.query_one("#" + widget_id("controls.odometer_prompt"), Checkbox).value,
            tank_capacity_l=parse_number(self._input("controls.tank_capacity_l"), "controls.tank_capacity_l",
                                         problems),
            allowed_weekdays=tuple(day for day, _name in WEEKDAYS
                                   if self.query_one(f"#weekday-{day}", Checkbox).value),
            hours_from=self._input("controls.hours_from") or None,
            hours_to=self._input("controls.hours_to") or None,
            forbidden_days=tuple(forbidden),
            allowed_countries=countries,
            max_transactions_per_day=parse_number(self._input("controls.max_transactions_per_day"),
                                                  "controls.max_transactions_per_day", problems, whole=True),
        )
        return controls, problems

    # Problems --------------------------------------------------------------------------------------

    def clear_problems(self) -> None:
        for error in self.query(".field-error"):
            error.update("")
            error.remove_class("-shown")

    def show_problem(self, field_path: str, message: str) -> bool:
        """Show `message` under the field of `field_path` ("controls.hours_to"); False when not one of ours."""
        errors = self.query("#e-" + widget_id(field_path)[2:])
        if not field_path.startswith("controls.") or not errors:
            return False
        error = errors.first(Static)
        text = str(error.content)
        error.update(f"{text}\n{message}" if text else message)
        error.add_class("-shown")
        return True

    def field(self, field_path: str) -> Widget | None:
        """The widget to focus for `field_path` (the first weekday box for the weekday row)."""
        found = self.query("#" + widget_id(field_path))
        if not found:
            return None
        widget = found.first()
        if not widget.focusable:
            widget = next((w for w in widget.query("*") if w.focusable), widget)
        return widget
