"""Bulk actions on marked cards (Fiche 06): block (one reason for all), cancel, PIN reissue, move to a division.

The user chooses the action; a preview per card (refused and why, immediate, or reproduction) follows every
choice; Ctrl+Y applies in a worker, each card in its own transaction (`store.services.bulk`); the result per
card replaces the preview. Every rule is the store's.

Open it with `app.push_screen(BulkActionsScreen(card_ids), callback)`; the callback gets True when at least
one card was changed (reload the list), else False.
"""
from __future__ import annotations

import logging

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Footer, Label, RadioButton, RadioSet, Select

from tui.i18n import N_, _
from tui.screens.card_actions import BLOCK_REASONS
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

# (BulkAction value, label), in the order of the action choice.
BULK_ACTIONS: tuple[tuple[str, str], ...] = (
    ("block", N_("Block")),
    ("cancel", N_("Cancel")),
    ("pin reissue", N_("Reissue PIN")),
    ("move division", N_("Move to division")),
)
OUTCOME_LABELS = {
    "refused": N_("✗ refused"),
    "immediate": N_("immediate"),
    "reproduction": N_("new plastic"),
}


def load_divisions(db, actor, customer_number_id: int) -> list[tuple[int, str]]:
    """(id, name) of the customer number's fleet divisions (worker thread)."""
    from store.queries.cards import card_divisions

    with db.session() as session:
        return list(card_divisions(session, actor, customer_number_id))


class BulkActionsScreen(ModalScreen[bool]):
    """Choose an action for the marked cards, see what it does to each, confirm with Ctrl+Y, see the results."""

    CSS_PATH = "../styles/card_actions.tcss"
    DEFAULT_CSS = """
    BulkActionsScreen {
        align: center middle;
        background: $background 60%;
    }
    #bulk-dialog {
        width: 78;
        height: 100%;
    }
    #bulk-action, #bulk-reason {
        width: 1fr;
        height: auto;
        layout: horizontal;
    }
    #bulk-action RadioButton, #bulk-reason RadioButton {
        width: auto;
        margin-right: 1;
    }
    #bulk-block-options {
        height: auto;
    }
    #bulk-duplicate {
        width: auto;
    }
    #bulk-division {
        width: 1fr;
    }
    #bulk-table {
        height: 1fr;
        min-height: 4;
    }
    """
    BINDINGS = [
        Binding("escape", "close", _("Back"), id="bulk_close"),
        Binding("ctrl+y", "confirm", _("Apply"), id="bulk_confirm"),
    ]
    TITLE = N_("Bulk actions")
    HELP = N_("Choose what to do with the marked cards. The list shows, for each card, what will happen: refused "
              "and why, at once, or a new plastic. Ctrl+Y applies it; each card is done on its own, so a refused "
              "card never stops the others. The list then shows the result per card.")

    class Divisions(Message):
        def __init__(self, divisions: list[tuple[int, str]]) -> None:
            super().__init__()
            self.divisions = divisions

    class Previewed(Message):
        def __init__(self, generation: int, rows: list, problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.problem = problem

    class Applied(Message):
        def __init__(self, results: list | None, problem: str | None = None) -> None:
            super().__init__()
            self.results = results
            self.problem = problem

    def __init__(self, card_ids: list[int]) -> None:
        super().__init__()
        self.card_ids = list(card_ids)
        self.generation = 0
        self.preview: list | None = None  # the BulkPreview rows of the current choice
        self.results: list | None = None  # the CardActionResults once applied
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog", classes="dialog"):
            yield Label(_("Bulk action on {count} card(s)").format(count=len(self.card_ids)),
                        classes="dialog-title", markup=False)
            with RadioSet(id="bulk-action"):
                for index, (_value, label) in enumerate(BULK_ACTIONS):
                    yield RadioButton(_(label), value=index == 0)
            with Vertical(id="bulk-block-options"):
                with RadioSet(id="bulk-reason"):
                    for index, (_value, label) in enumerate(BLOCK_REASONS):
                        yield RadioButton(_(label), value=index == 0)
                yield Checkbox(_("Order a duplicate for each blocked card"), id="bulk-duplicate")
            yield Select([], prompt=_("Fleet division"), id="bulk-division")
            table = DataTable(id="bulk-table", cursor_type="row", zebra_stripes=True)
            table.add_column(_("Card"), key="card", width=19)
            table.add_column(_("Outcome"), key="outcome", width=11)
            table.add_column(_("What happens"), key="message")
            yield table
            yield MessageLine(id="bulk-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#bulk-action", RadioSet).focus()
        self.show_options()
        number = self.app.active_customer_number
        if number is not None and self.app.session is not None:
            self.fetch_divisions(number.id)
        self.refresh_preview()

    # The choice ------------------------------------------------------------------------------------

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
        }

    def show_options(self) -> None:
        action = self.action_value()
        self.query_one("#bulk-block-options").display = action == "block"
        self.query_one("#bulk-division").display = action == "move division"

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.show_options()
        self.refresh_preview()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.refresh_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refresh_preview()

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

    # Preview ---------------------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        if self.results is not None or self.busy or self.app.session is None:
            return
        self.generation += 1
        self.preview = None
        action, params = self.action_value(), self.params()
        if action == "move division" and params["division_id"] is None:
            self.query_one(DataTable).clear()
            self.query_one(MessageLine).show_warning(_("Choose the fleet division to move the cards to."))
            return
        self.query_one(MessageLine).show_busy(_("Checking each card…"))
        self.fetch_preview(self.generation, action, params)

    @staticmethod
    def _bulk_params(params: dict):
        from store.models import BlockReason
        from store.services.bulk import BulkParams

        return BulkParams(reason=BlockReason(params["reason"]), duplicate=params["duplicate"],
                          division_id=params["division_id"])

    @work(thread=True, exclusive=True, group="bulk-preview", exit_on_error=False)
    def fetch_preview(self, generation: int, action: str, params: dict) -> None:
        from store.services.bulk import BulkAction, preview_bulk
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows = preview_bulk(session, app.session.actor, self.card_ids, BulkAction(action),
                                    self._bulk_params(params))
        except DomainError as exc:
            self.post_message(self.Previewed(generation, [], exc.message))
        except Exception:
            log.exception("Bulk preview failed")
            self.post_message(self.Previewed(generation, [], _("The cards could not be checked right now.")))
        else:
            self.post_message(self.Previewed(generation, rows))

    def on_bulk_actions_screen_previewed(self, message: Previewed) -> None:
        if message.generation != self.generation or self.results is not None:
            return
        line = self.query_one(MessageLine)
        table = self.query_one(DataTable)
        table.clear()
        if message.problem:
            line.show_error(message.problem)
            return
        self.preview = message.rows
        for row in message.rows:
            table.add_row(row.label, _(OUTCOME_LABELS[row.outcome]), row.message, key=str(row.card_id))
        doable = sum(row.outcome != "refused" for row in message.rows)
        if doable:
            line.show_warning(_("{doable} of {count} card(s) can be done. Ctrl+Y: apply · Esc: back").format(
                doable=doable, count=len(message.rows)))
        else:
            line.show_error(_("None of the marked cards allows this action; see why in the list."))

    # Apply -----------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return self.results is None and not self.busy
        return True

    async def action_confirm(self) -> None:
        if self.busy or self.results is not None:
            return
        if not self.preview or not any(row.outcome != "refused" for row in self.preview):
            self.app.bell()
            return
        await self.app.flush_focused()  # a choice typed just before must have landed
        self.busy = True
        self.refresh_bindings()
        self.query_one(MessageLine).show_busy(_("Sending to the issuer…"))
        self.perform(self.action_value(), self.params())

    @work(thread=True, exclusive=True, group="bulk-apply", exit_on_error=False)
    def perform(self, action: str, params: dict) -> None:
        from store.services.bulk import BulkAction, apply_bulk
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                results = apply_bulk(session, app.session.actor, app.db.clock.now(), self.card_ids,
                                     BulkAction(action), self._bulk_params(params))
        except DomainError as exc:
            self.post_message(self.Applied(None, exc.message))
        except Exception:
            log.exception("Bulk action failed")
            self.post_message(self.Applied(None, _("This could not be done right now. Try again in a moment.")))
        else:
            self.post_message(self.Applied(results))

    def on_bulk_actions_screen_applied(self, message: Applied) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.results is None:
            line.show_error(message.problem or "")
            self.refresh_bindings()
            return
        self.results = message.results
        self.refresh_bindings()
        for widget in ("#bulk-action", "#bulk-block-options", "#bulk-division"):
            self.query_one(widget).disabled = True
        table = self.query_one(DataTable)
        table.clear()
        for result in message.results:
            table.add_row(result.label, _("✓ done") if result.ok else _("✗ refused"), result.message,
                          key=str(result.card_id))
        table.focus()
        done = sum(result.ok for result in message.results)
        if done == len(message.results):
            line.show_success(_("Done for every card. Esc: close"))
        elif done:
            line.show_warning(_("Done for {done} of {count} cards; see why for the others. Esc: close").format(
                done=done, count=len(message.results)))
        else:
            line.show_error(_("No card could be done; see why in the list. Esc: close"))

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(bool(self.results) and any(result.ok for result in self.results))
