"""Bulk actions on a selection of cards (Fiche 06): block (one reason for all), cancel, PIN reissue, move to a
division, apply a limit/control template.

The selection is either the marked card ids or a `CardFilter` (the card list's "all that match"); a filter is
resolved into card ids by the store (`resolve_selection`: the actor's rights and customer numbers). The user
chooses the action; a preview per card (refused and why, immediate, or new plastic) follows every choice; Ctrl+Y
applies, each card in its own transaction (`store.services.bulk`); the result per card replaces the preview.

A selection can be the whole fleet (100,000 cards): preview and apply run in a thread worker, in batches, with a
progress bar; Esc stops between cards (what was applied stays applied; the rest is not touched). The screen
shows the totals per outcome and at most `MAX_ROWS` rows (the refused first when there are more); Ctrl+S
saves every card's line to a CSV file. Every rule is the store's.

Open it with `app.push_screen(BulkActionsScreen(selection), callback)`; the callback gets True when at least
one card was changed (reload the list), else False.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import (
    Checkbox,
    DataTable,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.worker import get_current_worker

from tui.i18n import N_, _, format_number, ngettext
from tui.i18n.labels import period_label, product_label
from tui.screens.card_actions import BLOCK_REASONS
from tui.widgets.controls_editor import ControlsEditor
from tui.widgets.footer import Footer
from tui.widgets.limits_editor import LimitsEditor, show_decimal
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CSS = ["../styles/card_actions.tcss", "../styles/bulk_actions.tcss"]
# (BulkAction value, label), in the order of the action choice.
BULK_ACTIONS: tuple[tuple[str, str], ...] = (
    ("block", N_("Block")),
    ("cancel", N_("Cancel")),
    ("pin reissue", N_("Reissue PIN")),
    ("move division", N_("Move to division")),
    ("apply template", N_("Apply template")),
)
OUTCOME_LABELS = {
    "refused": N_("✗ refused"),
    "immediate": N_("immediate"),
    "reproduction": N_("new plastic"),
}
MESSAGE_WIDTH = 38  # the table fits 80 columns; a longer message reads whole in the line under the table
MAX_ROWS = 500  # the most rows the table holds; the CSV has every card
BATCH = 200  # cards per preview batch (one session, one progress report)
PROGRESS_EVERY = 0.2  # seconds between progress reports while applying


def load_divisions(db, actor, customer_number_id: int) -> list[tuple[int, str]]:
    """(id, name) of the customer number's fleet divisions (worker thread)."""
    from store.queries.cards import card_divisions

    with db.session() as session:
        return list(card_divisions(session, actor, customer_number_id))


def count(value: int) -> str:
    return format_number(value)


def preview_totals(counts: Counter) -> str:
    """ "1,204 immediate · 3 new plastic · 17 refused" (the outcomes that occur)."""
    parts = []
    for outcome, text in (("immediate", _("{n} immediate")), ("reproduction", _("{n} new plastic")),
                          ("refused", _("{n} refused"))):
        if counts.get(outcome):
            parts.append(text.format(n=count(counts[outcome])))
    return " · ".join(parts)


def result_totals(counts: Counter, untouched: int = 0) -> str:
    parts = []
    if counts.get("done"):
        parts.append(_("{n} done").format(n=count(counts["done"])))
    if counts.get("refused"):
        parts.append(_("{n} refused").format(n=count(counts["refused"])))
    if untouched:
        parts.append(_("{n} not touched").format(n=count(untouched)))
    return " · ".join(parts)


def shown_rows(rows: list, refused) -> list:
    """The rows the table shows: all of them in order when they fit, else the refused first, up to MAX_ROWS."""
    if len(rows) <= MAX_ROWS:
        return list(rows)
    first = [row for row in rows if refused(row)][:MAX_ROWS]
    if len(first) < MAX_ROWS:
        first += [row for row in rows if not refused(row)][:MAX_ROWS - len(first)]
    return first


# The template --------------------------------------------------------------------------------------------

@dataclass
class Template:
    """What the template dialog holds: the raw values typed (to reopen it as it was) and, once checked, the
    limits and controls to send."""

    values: dict[str, Any] = field(default_factory=dict)
    limits: tuple = ()
    controls: Any = None  # Controls when "Replace the controls" is ticked
    checked: bool = False


def template_summary(template: Template) -> str:
    if not template.checked:
        return _("No template yet: press e to set limits and/or controls.")
    lines = []
    if template.limits:
        parts = []
        for limit in template.limits:
            ceiling = []
            if limit.amount is not None:
                ceiling.append(f"€ {show_decimal(limit.amount)}")
            if limit.volume is not None:
                ceiling.append(show_decimal(limit.volume))
            product = product_label(limit.product)
            if not limit.allowed:
                text = _("{product} (not allowed)").format(product=product)
            elif ceiling:
                text = _("{product} {ceiling} per {period}").format(product=product, ceiling=" + ".join(ceiling),
                                                                   period=period_label(limit.period))
            else:
                text = product
            parts.append(text)
        lines.append(_("Limits: {limits}; the other limits of each card are kept.").format(limits=", ".join(parts)))
    else:
        lines.append(_("Limits: none set; each card keeps its limits."))
    if template.controls is not None:
        lines.append(_("Controls: replace each card's controls as a whole."))
    else:
        lines.append(_("Controls: each card keeps its controls."))
    return "\n".join(lines)


class TemplateDialog(ModalScreen["Template | None"]):
    """Set the limits and/or controls to lay over every card of the selection; Ctrl+Y checks and uses them.

    Dismisses with the Template (checked when it holds no problem); Esc dismisses with the unchecked values, so
    nothing typed is lost when the dialog is opened again.
    """

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="template_back"),
        Binding("ctrl+y", "use", N_("Use template"), id="template_use", priority=True),
        Binding("f8", "what_if", N_("What-if"), id="template_what_if"),
    ]
    HELP = N_("Fill in the limits of the products to set: only those are changed on each card, its other limits "
              "are kept. Tick Replace the controls to give every card the controls below, as a whole. Ctrl+Y "
              "checks the template and goes back to the preview; Esc goes back without using it. F8 (What-if) "
              "replays the last months of the marked cards' transactions against the template as typed.")

    def __init__(self, template: Template | None = None, selection: Any = None) -> None:
        """`selection`: the bulk selection (card ids or a CardFilter) the what-if replays; None: no what-if."""
        super().__init__()
        self.template = template or Template()
        self.selection = selection

    def compose(self) -> ComposeResult:
        with Vertical(id="template-dialog", classes="dialog"):
            yield Label(_("Template for the selected cards"), classes="dialog-title", markup=False)
            with VerticalScroll(id="template-body", can_focus=False):
                yield Static(_("Limits: only the products you fill in (tick or amount) are set on each card; "
                               "every other limit of the card is kept."), classes="template-hint", markup=False)
                yield LimitsEditor(id="template-limits")
                yield Checkbox(_("Replace the controls"), compact=True, id="template-replace-controls")
                yield Static(_("When ticked, the controls below replace each card's controls as a whole: what "
                               "you leave empty is removed from every card (no hours: any hour)."),
                             classes="template-hint", markup=False)
                yield ControlsEditor(id="template-controls", disabled=True)
            yield MessageLine(id="template-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._restore(self.template.values)
        self.query_one("#template-controls").disabled = not self.query_one("#template-replace-controls",
                                                                            Checkbox).value
        first = self.query("#template-limits Checkbox")
        if first:
            first.first().focus()

    # Raw values: what was typed, to reopen the dialog as it was ------------------------------------------------

    def _fields(self) -> list[Widget]:
        return [w for w in self.query("Input, Checkbox, CycleField") if w.id]

    def _values(self) -> dict[str, Any]:
        return {widget.id: widget.value for widget in self._fields()}

    def _restore(self, values: dict[str, Any]) -> None:
        for widget in self._fields():
            if widget.id in values:
                widget.value = values[widget.id]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "template-replace-controls":
            self.query_one("#template-controls").disabled = not event.value

    # Checking ----------------------------------------------------------------------------------------------

    def action_use(self) -> None:
        checked = self._check()
        if checked is not None:
            limits, controls = checked
            self.dismiss(Template(self._values(), limits, controls, checked=True))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "what_if":
            return self.selection is not None
        return True

    def screen_commands(self) -> list[tuple[str, str, Any]]:
        """The command palette's entries for this dialog: (title, help, callback)."""
        if self.selection is None:
            return []
        return [(_("What-if"), _("Replay the marked cards' last months of transactions against this template"),
                 self.action_what_if)]

    def action_what_if(self) -> None:
        """The template as typed (unchecked, unsaved) replayed on the marked cards' past transactions."""
        from store.services.bulk import BulkParams
        from tui.screens.what_if import WhatIfScreen

        if self.selection is None:
            return
        checked = self._check()
        if checked is None:
            return
        limits, controls = checked
        self.query_one(MessageLine).clear()
        self.app.push_screen(WhatIfScreen(BulkParams(limits=limits, controls=controls), selection=self.selection))

    def _check(self) -> tuple | None:
        """(limits, controls) when the template holds no problem; else each problem under its field, and None."""
        from store.services.bulk import BulkParams, template_problems

        limits_editor = self.query_one(LimitsEditor)
        controls_editor = self.query_one(ControlsEditor)
        limits_editor.clear_problems()
        controls_editor.clear_problems()
        problems = list(limits_editor.parse_problems())
        controls = None
        if self.query_one("#template-replace-controls", Checkbox).value:
            controls, control_problems = controls_editor.read()
            problems.extend(control_problems)
        limits = limits_editor.value
        # What the text could be read into, the store judges (a field with unreadable text is told that first).
        unreadable = {path for path, _message in problems}
        problems += [(p.field, p.message) for p in template_problems(BulkParams(limits=limits, controls=controls))
                     if p.field not in unreadable and not (p.field == "template" and unreadable)]
        line = self.query_one(MessageLine)
        if not problems:
            return limits, controls
        unplaced = []
        first: Widget | None = None
        for path, message in problems:
            if limits_editor.show_problem(path, message):
                widget = self._limit_field(path)
            elif controls_editor.show_problem(path, message):
                widget = controls_editor.field(path)
            else:
                unplaced.append(message)
                widget = None
            first = first or widget
        summary = ngettext("{count} problem to fix; see under its field.",
                           "{count} problems to fix; see under each field.", len(problems)).format(count=len(problems))
        line.show_error(*([summary] if not unplaced else [summary, *unplaced] if first else unplaced))
        if first is not None:
            first.focus()
            self.call_after_refresh(first.scroll_visible)
        return None

    def _limit_field(self, path: str) -> Widget | None:
        parts = path.split(".")
        if len(parts) != 3:
            return None
        column = parts[2] if parts[2] in ("amount", "volume", "period", "action") else "allowed"
        found = self.query(f"#f-limits-{parts[1]}-{column}")
        return found.first() if found else None

    def action_back(self) -> None:
        self.dismiss(Template(self._values(), self.template.limits, self.template.controls,
                              checked=False))


# The screen ----------------------------------------------------------------------------------------------

class BulkActionsScreen(ModalScreen[bool]):
    """Choose an action for the selected cards, see what it does to each, confirm with Ctrl+Y, see the results."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape", "close", N_("Back/Stop"), id="bulk_close"),
        Binding("ctrl+y", "confirm", N_("Apply"), id="bulk_confirm"),
        Binding("e", "edit_template", N_("Template"), id="bulk_template"),
        Binding("ctrl+r", "recheck", N_("Check again"), id="bulk_recheck"),
        Binding("ctrl+s", "save_csv", N_("Save CSV"), id="bulk_save_csv"),
        Binding("ctrl+c", "stop", N_("Stop"), id="bulk_stop"),
        Binding("f8", "what_if", N_("What-if"), id="bulk_what_if"),
    ]
    TITLE = N_("Bulk actions")
    HELP = N_("Choose what to do with the selected cards. The list shows, for each card, what will happen: refused "
              "and why, at once, or a new plastic; the line above it counts each outcome. Ctrl+Y applies it; each "
              "card is done on its own, so a refused card never stops the others. Esc stops a running check or "
              "apply between two cards: what was done stays done, the rest is not touched. Ctrl+S saves the line "
              "of every card to a CSV file. For Apply template, e sets the limits and controls, and F8 (What-if) "
              "replays the last months of the marked cards' transactions against the template first.")

    class Divisions(Message):
        def __init__(self, divisions: list[tuple[int, str]]) -> None:
            super().__init__()
            self.divisions = divisions

    class Progress(Message):
        def __init__(self, generation: int, done: int, total: int, counts: Counter) -> None:
            super().__init__()
            self.generation = generation
            self.done = done
            self.total = total
            self.counts = counts

    class Resolved(Message):
        def __init__(self, card_ids: list[int]) -> None:
            super().__init__()
            self.card_ids = card_ids

    class Previewed(Message):
        def __init__(self, generation: int, rows: list, problem: str | None = None, stopped: bool = False) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.problem = problem
            self.stopped = stopped

    class Applied(Message):
        def __init__(self, results: list | None, problem: str | None = None, total: int = 0,
                     stopped: bool = False) -> None:
            super().__init__()
            self.results = results
            self.problem = problem
            self.total = total
            self.stopped = stopped

    class Saved(Message):
        def __init__(self, path: Path | None, rows: int, problem: str | None = None) -> None:
            super().__init__()
            self.path = path
            self.rows = rows
            self.problem = problem

    def __init__(self, selection: Any) -> None:
        """`selection`: the card ids (a list), or a `store.queries.card_filter.CardFilter` for all that match."""
        super().__init__()
        from store.queries.card_filter import CardFilter

        self.card_filter = selection if isinstance(selection, CardFilter) else None
        self.card_ids: list[int] | None = None if self.card_filter is not None else list(selection)
        self.generation = 0
        self.preview: list | None = None  # the BulkPreview rows of the current choice (complete)
        self.results: list | None = None  # the CardActionResults once applied
        self.template = Template()
        self.busy = False  # applying
        self.checking = False  # a preview runs
        self.stop = threading.Event()
        self.saving = False
        self.all_rows: list = []  # every card's line (preview or result): the CSV; the table shows a part

    # Layout ------------------------------------------------------------------------------------------------

    def title_text(self) -> str:
        if self.card_ids is None:
            return _("Bulk action on all cards that match the filter")
        if self.card_filter is not None:
            return ngettext("Bulk action on {count} card: all that match the filter",
                            "Bulk action on {count} cards: all that match the filter",
                            len(self.card_ids)).format(count=count(len(self.card_ids)))
        return ngettext("Bulk action on {count} card", "Bulk action on {count} cards",
                        len(self.card_ids)).format(count=count(len(self.card_ids)))

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog", classes="dialog"):
            yield Label(self.title_text(), id="bulk-title", classes="dialog-title", markup=False)
            with RadioSet(id="bulk-action"):
                for index, (_value, label) in enumerate(BULK_ACTIONS):
                    yield RadioButton(_(label), value=index == 0)
            with Vertical(id="bulk-block-options"):
                with RadioSet(id="bulk-reason"):
                    for index, (_value, label) in enumerate(BLOCK_REASONS):
                        yield RadioButton(_(label), value=index == 0)
                yield Checkbox(_("Order a duplicate for each blocked card"), id="bulk-duplicate", compact=True)
            yield Select([], prompt=_("Fleet division"), id="bulk-division")
            yield Static(template_summary(self.template), id="bulk-template", markup=False)
            with Horizontal(id="bulk-status"):
                yield ProgressBar(id="bulk-progress", show_eta=False)
                yield Label("", id="bulk-totals", markup=False)
            table = DataTable(id="bulk-table", cursor_type="row", zebra_stripes=True)
            table.add_column(_("Card"), key="card", width=19)
            table.add_column(_("Outcome"), key="outcome", width=11)
            table.add_column(_("What happens"), key="message", width=MESSAGE_WIDTH)
            yield table
            yield Static("", id="bulk-detail", markup=False)
            yield MessageLine(id="bulk-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#bulk-action", RadioSet).focus()
        self.query_one("#bulk-progress").display = False
        self.show_options()
        number = self.app.active_customer_number
        if number is not None and self.app.session is not None:
            self.fetch_divisions(number.id)
        self.refresh_preview()

    # The choice --------------------------------------------------------------------------------------------

    def action_value(self) -> str:
        index = self.query_one("#bulk-action", RadioSet).pressed_index
        return BULK_ACTIONS[max(index, 0)][0]

    def params(self) -> dict:
        reason = BLOCK_REASONS[max(self.query_one("#bulk-reason", RadioSet).pressed_index, 0)][0]
        division = self.query_one("#bulk-division", Select).value
        return {
            "reason": reason,
            "duplicate": self.query_one("#bulk-duplicate", Checkbox).value,
            "division_id": None if division in (Select.NULL, Select.BLANK) else division,
            "limits": self.template.limits,
            "controls": self.template.controls,
        }

    def show_options(self) -> None:
        action = self.action_value()
        self.query_one("#bulk-block-options").display = action == "block"
        self.query_one("#bulk-division").display = action == "move division"
        self.query_one("#bulk-template").display = action == "apply template"
        self.refresh_bindings()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.show_options()
        if (event.radio_set.id == "bulk-action" and self.action_value() == "apply template"
                and not self.template.checked and self.results is None):
            self.action_edit_template()
            return
        self.refresh_preview()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.refresh_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refresh_preview()

    def action_edit_template(self) -> None:
        if self.busy or self.results is not None:
            return

        def edited(template: Template | None) -> None:
            if template is None:
                return
            if template.checked:
                self.template = template
            else:  # Esc: keep what was typed for next time, keep using the last checked template
                self.template = Template(template.values, self.template.limits, self.template.controls,
                                         self.template.checked)
            self.query_one("#bulk-template", Static).update(template_summary(self.template))
            self.refresh_preview()

        self.app.push_screen(TemplateDialog(self.template, self.what_if_selection()), edited)

    def what_if_selection(self) -> Any:
        """What the what-if replays: the card ids, or the filter while it is not resolved yet."""
        return list(self.card_ids) if self.card_ids is not None else self.card_filter

    def action_what_if(self) -> None:
        from store.services.bulk import BulkParams
        from tui.screens.what_if import WhatIfScreen

        if not self.check_action("what_if", ()):
            return
        self.app.push_screen(WhatIfScreen(BulkParams(limits=self.template.limits, controls=self.template.controls),
                                          selection=self.what_if_selection()))

    def screen_commands(self) -> list[tuple[str, str, Any]]:
        """The command palette's entries for this dialog: (title, help, callback)."""
        if not self.check_action("what_if", ()):
            return []
        return [(_("What-if"), _("Replay the marked cards' last months of transactions against the template"),
                 self.action_what_if)]

    @work(thread=True, group="bulk-divisions", exit_on_error=False)
    def fetch_divisions(self, number_id: int) -> None:
        try:
            divisions = load_divisions(self.app.db, self.app.session.actor, number_id)
        except Exception:
            log.exception("Reading the divisions failed")
            divisions = []
        self.post_message(self.Divisions(divisions))

    def on_bulk_actions_screen_divisions(self, message: Divisions) -> None:
        self.query_one("#bulk-division", Select).set_options([(name, id_) for id_, name in message.divisions])

    # Preview -----------------------------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        if self.results is not None or self.busy or self.app.session is None:
            return
        self.generation += 1
        self.preview = None
        self.refresh_bindings()
        action, params = self.action_value(), self.params()
        line = self.query_one(MessageLine)
        if action == "move division" and params["division_id"] is None:
            self._clear_table()
            line.show_warning(_("Choose the fleet division to move the cards to."))
            return
        if action == "apply template" and not self.template.checked:
            self._clear_table()
            line.show_warning(_("Press e to set the template: the limits and/or controls to apply."))
            return
        self.stop.set()  # a check still running for an older choice stops at its next batch
        self.stop = threading.Event()
        self.checking = True
        self.refresh_bindings()
        line.show_busy(_("Checking each card… Esc stops."))
        self.fetch_preview(self.generation, action, params, self.stop)

    def action_recheck(self) -> None:
        self.refresh_preview()

    def _clear_table(self) -> None:
        self.query_one(DataTable).clear()
        self.query_one("#bulk-detail").display = False
        self.query_one("#bulk-totals", Label).update("")
        self.query_one("#bulk-progress").display = False

    @staticmethod
    def _bulk_params(params: dict):
        from store.models import BlockReason
        from store.services.bulk import BulkParams

        return BulkParams(reason=BlockReason(params["reason"]), duplicate=params["duplicate"],
                          division_id=params["division_id"], limits=params["limits"],
                          controls=params["controls"])

    def _resolve(self) -> list[int]:
        """The card ids of the selection (worker thread); a filter is resolved once, by the store."""
        if self.card_ids is None:
            from store.services.bulk import resolve_selection

            with self.app.db.session() as session:
                ids = resolve_selection(session, self.app.session.actor, self.card_filter)
            self.post_message(self.Resolved(ids))
            return ids
        return self.card_ids

    def on_bulk_actions_screen_resolved(self, message: Resolved) -> None:
        if self.card_ids is None:
            self.card_ids = message.card_ids
            self.query_one("#bulk-title", Label).update(self.title_text())

    @work(thread=True, exclusive=True, group="bulk-preview", exit_on_error=False)
    def fetch_preview(self, generation: int, action: str, params: dict, stop: threading.Event) -> None:
        from store.services.bulk import BulkAction, preview_bulk
        from store.services.errors import DomainError

        app = self.app
        worker = get_current_worker()
        rows: list = []
        counts: Counter = Counter()
        try:
            ids = self._resolve()
            bulk_params = self._bulk_params(params)
            for start in range(0, len(ids), BATCH):
                if stop.is_set() or worker.is_cancelled:
                    self.post_message(self.Previewed(generation, rows, stopped=True))
                    return
                with app.db.session() as session:
                    batch = preview_bulk(session, app.session.actor, ids[start:start + BATCH], BulkAction(action),
                                         bulk_params)
                rows.extend(batch)
                counts.update(row.outcome for row in batch)
                if len(ids) > BATCH:
                    self.post_message(self.Progress(generation, len(rows), len(ids), Counter(counts)))
        except DomainError as exc:
            self.post_message(self.Previewed(generation, [], exc.message))
        except Exception:
            log.exception("Bulk preview failed")
            self.post_message(self.Previewed(generation, [], _("The cards could not be checked right now.")))
        else:
            self.post_message(self.Previewed(generation, rows))

    def on_bulk_actions_screen_progress(self, message: Progress) -> None:
        if message.generation != self.generation:
            return
        bar = self.query_one("#bulk-progress", ProgressBar)
        bar.display = True
        bar.update(total=message.total, progress=message.done)
        totals = result_totals(message.counts) if self.busy else preview_totals(message.counts)
        self.query_one("#bulk-totals", Label).update(totals)

    def _fill(self, rows: list, refused, outcome_text) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.query_one("#bulk-detail").display = False
        shown = shown_rows(rows, refused)
        for row in shown:
            table.add_row(row.label, outcome_text(row), row.message, key=str(row.card_id))
        if len(rows) > len(shown):
            table.add_row("", "", _("… and {n} more (Ctrl+S saves every card to a CSV file)").format(
                n=count(len(rows) - len(shown))), key="more")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The whole message of the highlighted card when the table cuts it."""
        detail = self.query_one("#bulk-detail", Static)
        text = ""
        if event.row_key is not None and event.row_key.value not in (None, "more"):
            text = str(event.data_table.get_cell(event.row_key, "message"))
            label = str(event.data_table.get_cell(event.row_key, "card"))
            text = f"{label}: {text}" if len(text) > MESSAGE_WIDTH else ""
        detail.update(text)
        detail.display = bool(text)

    def on_bulk_actions_screen_previewed(self, message: Previewed) -> None:
        if message.generation != self.generation or self.results is not None:
            return
        self.checking = False
        self.refresh_bindings()
        line = self.query_one(MessageLine)
        self.query_one("#bulk-progress").display = False
        if message.problem:
            self._clear_table()
            line.show_error(message.problem)
            return
        rows = message.rows
        counts = Counter(row.outcome for row in rows)
        self.query_one("#bulk-totals", Label).update(preview_totals(counts))
        self._fill(rows, lambda row: row.outcome == "refused", lambda row: _(OUTCOME_LABELS[row.outcome]))
        self.all_rows = rows
        total = len(self.card_ids or [])
        if message.stopped:
            line.show_warning(_("Check stopped after {done} of {total} cards. Ctrl+R: check again").format(
                done=count(len(rows)), total=count(total)))
            self.refresh_bindings()
            return
        self.preview = rows
        self.refresh_bindings()
        if not rows:
            line.show_warning(_("No card matches the filter: nothing to do."))
            return
        doable = len(rows) - counts.get("refused", 0)
        if doable:
            line.show_warning(ngettext("{doable} of {count} card can be done. Ctrl+Y: apply · Esc: back",
                                       "{doable} of {count} cards can be done. Ctrl+Y: apply · Esc: back",
                                       len(rows)).format(doable=count(doable), count=count(len(rows))))
        else:
            line.show_error(_("None of the selected cards allows this action; see why in the list."))

    # Apply -------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.results is None and not self.busy and not self.checking
        if action == "edit_template":
            return self.action_value() == "apply template" and self.results is None and not self.busy
        if action == "recheck":
            return self.results is None and not self.busy
        if action == "stop":
            return self.busy or self.checking
        if action == "save_csv":
            return bool(self.all_rows) and not self.busy and not self.checking
        if action == "what_if":
            return (self.action_value() == "apply template" and self.template.checked and self.results is None
                    and not self.busy)
        return True

    async def action_confirm(self) -> None:
        if self.busy or self.results is not None or self.checking:
            return
        if not self.preview or not any(row.outcome != "refused" for row in self.preview):
            self.app.bell()
            return
        await self.app.flush_focused()  # a choice typed just before must have landed
        self.busy = True
        self.stop = threading.Event()
        self.refresh_bindings()
        self.query_one("#bulk-totals", Label).update("")
        self.query_one(MessageLine).show_busy(_("Sending to the issuer… Esc stops after the current card."))
        self.perform(self.generation, self.action_value(), self.params(), self.stop)

    @work(thread=True, exclusive=True, group="bulk-apply", exit_on_error=False)
    def perform(self, generation: int, action: str, params: dict, stop: threading.Event) -> None:
        from store.services.bulk import BulkAction, iter_apply_bulk
        from store.services.errors import DomainError

        app = self.app
        ids = list(self.card_ids or [])
        results: list = []
        counts: Counter = Counter()
        stopped = False
        try:
            with app.db.session() as session:
                applying = iter_apply_bulk(session, app.session.actor, app.db.clock.now(), ids,
                                           BulkAction(action), self._bulk_params(params))
                reported = time.monotonic()
                for result in applying:  # each card is committed before its result comes
                    results.append(result)
                    counts["done" if result.ok else "refused"] += 1
                    if stop.is_set():
                        stopped = len(results) < len(ids)
                        break
                    if len(ids) > BATCH and time.monotonic() - reported >= PROGRESS_EVERY:
                        reported = time.monotonic()
                        self.post_message(self.Progress(generation, len(results), len(ids), Counter(counts)))
        except DomainError as exc:
            self.post_message(self.Applied(None, exc.message))
        except Exception:
            log.exception("Bulk action failed")
            if results:  # what was done is done: tell it
                self.post_message(self.Applied(results, total=len(ids), stopped=True))
            else:
                self.post_message(self.Applied(None, _("This could not be done right now. Try again in a moment.")))
        else:
            self.post_message(self.Applied(results, total=len(ids), stopped=stopped))

    def on_bulk_actions_screen_applied(self, message: Applied) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        self.query_one("#bulk-progress").display = False
        if message.results is None:
            line.show_error(message.problem or "")
            self.refresh_bindings()
            return
        self.results = message.results
        self.all_rows = message.results
        for widget in ("#bulk-action", "#bulk-block-options", "#bulk-division"):
            self.query_one(widget).disabled = True
        self.refresh_bindings()
        self._fill(message.results, lambda result: not result.ok,
                   lambda result: _("✓ done") if result.ok else _("✗ refused"))
        self.query_one(DataTable).focus()
        counts = Counter("done" if result.ok else "refused" for result in message.results)
        untouched = message.total - len(message.results)
        self.query_one("#bulk-totals", Label).update(result_totals(counts, untouched))
        done = counts.get("done", 0)
        if message.stopped:
            line.show_warning(_("Stopped after {handled} of {total} cards ({done} done); the other {rest} were not "
                                "touched. Esc: close").format(handled=count(len(message.results)), done=count(done),
                                                              total=count(message.total), rest=count(untouched)))
        elif done == len(message.results):
            line.show_success(_("Done for every card. Esc: close"))
        elif done:
            line.show_warning(_("Done for {done} of {count} cards; see why for the others. Esc: close").format(
                done=count(done), count=count(len(message.results))))
        else:
            line.show_error(_("No card could be done; see why in the list. Esc: close"))

    # CSV ---------------------------------------------------------------------------------------------------

    def csv_path(self) -> Path:
        now = self.app.db.clock.now()
        kind = "result" if self.results is not None else "preview"
        return Path.home() / f"cardsonline-bulk-{kind}-{now.astimezone():%Y%m%d-%H%M%S}.csv"

    def action_save_csv(self) -> None:
        rows = self.all_rows
        if not rows or self.saving:
            return
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Saving every card's line…"))
        self.save_csv(list(rows), self.csv_path())

    @work(thread=True, group="bulk-csv", exit_on_error=False)
    def save_csv(self, rows: list, path: Path) -> None:
        from exports.bulk_results import write_bulk_csv

        try:
            written = write_bulk_csv(rows, path)
        except OSError as exc:
            self.post_message(self.Saved(None, 0, _("The file could not be written: {error}").format(
                error=exc.strerror or exc)))
        else:
            self.post_message(self.Saved(path, written))

    def on_bulk_actions_screen_saved(self, message: Saved) -> None:
        self.saving = False
        line = self.query_one(MessageLine)
        if message.path is None:
            line.show_error(message.problem or "")
            return
        line.show_success(ngettext("{rows} card saved to {path}", "{rows} cards saved to {path}", message.rows)
                          .format(rows=count(message.rows), path=message.path))

    # Close / stop ------------------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.busy or self.checking:
            self.stop.set()  # the worker stops between two cards and reports what it did
            self.query_one(MessageLine).show_busy(_("Stopping after the current card…"))

    def action_close(self) -> None:
        if self.busy or self.checking:
            self.action_stop()
            return
        self.dismiss(bool(self.results) and any(result.ok for result in self.results))
