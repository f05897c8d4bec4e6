"""What the screens with a form share: Enter moves to the next field, and submits from the last one.

Enter is a priority binding of the screen, so it is handled in the order the keys arrived: keys typed in a
burst (a password manager's auto-type "user⇥password⏎", a fast typist over SSH) land in the right field.
An Input's own Enter would be handled later, in the field's message queue, after the next keys were
already routed to it.
"""
from __future__ import annotations

from textual.actions import SkipAction
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input


class FormScreen(Screen[None]):
    BINDINGS = [Binding("enter", "form_enter", show=False, priority=True, id="form_enter")]

    FORM_FIELDS: tuple[str, ...] = ()
    """The ids of the form's inputs, in the order Enter walks through them."""

    def action_form_enter(self) -> None:
        focused = self.focused
        if not isinstance(focused, Input) or focused.id not in self.FORM_FIELDS:
            raise SkipAction()  # Enter on a button, a list…: its own meaning
        self.field_entered(focused)

    def field_entered(self, field: Input) -> None:
        """Enter in `field`: by default the next field, and `submit()` from the last one."""
        index = self.FORM_FIELDS.index(field.id)
        if index + 1 < len(self.FORM_FIELDS):
            self.focus_now(self.query_one(f"#{self.FORM_FIELDS[index + 1]}", Input))
        else:
            self.submit()

    def focus_now(self, widget: Input) -> None:
        """Focus `widget` before the next key is routed (`Widget.focus()` defers it to the app's queue)."""
        self.set_focus(widget)

    def submit(self) -> None:
        """Send the form; every form screen defines it."""
        raise TypeError(f"{type(self).__name__} defines FORM_FIELDS but no submit()")
