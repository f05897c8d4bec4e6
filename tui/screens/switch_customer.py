"""Multipass: choose the customer number the next screens act for."""
from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.i18n import N_, _
from tui.session import CustomerNumberInfo


class SwitchCustomerScreen(ModalScreen["CustomerNumberInfo | None"]):
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="cancel")]
    TITLE = N_("Customer number")
    HELP = N_("Your login holds several customer numbers (Multipass). Choose the one the next screens act "
              "for; the header shows the active one.")
    HELP_KEYS = ((N_("↑ ↓ Enter"), N_("Choose the highlighted customer number")),)

    def __init__(self, numbers: Sequence[CustomerNumberInfo], active: CustomerNumberInfo | None) -> None:
        super().__init__()
        self.numbers = list(numbers)
        self.active = active

    def compose(self) -> ComposeResult:
        with Vertical(id="switch-dialog", classes="dialog"):
            yield Label(_("Choose the active customer number"), classes="dialog-title")
            yield OptionList(
                *(Option(Content(f"{n.number}  {n.name}"), id=str(n.id)) for n in self.numbers),
                id="customer-numbers",
            )
            yield Label(_("Enter: choose · Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.active is not None and self.active in self.numbers:
            options.highlighted = self.numbers.index(self.active)
        else:
            options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.numbers[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
