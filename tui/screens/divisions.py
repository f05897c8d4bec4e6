"""My account -> Manage fleet divisions: the divisions of the active customer number (F3 switches it) with
their cards and driver codes; create, rename, delete an empty one, move its cards or driver codes to another.

Every change goes through `store.services.divisions`; a refusal is shown with the store's message as it is.
Reads and changes run in thread workers that report back with `Done`.
"""
from __future__ import annotations

import logging
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.i18n import N_, _, ngettext
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CSS = "../styles/divisions.tcss"
COLUMNS = (
    ("name", N_("Fleet division"), 36),
    ("cards", N_("Cards/OBUs"), 10),
    ("movable", N_("Movable"), 8),
    ("codes", N_("Driver codes"), 12),
)
UNAVAILABLE = N_("This could not be done right now; nothing was changed. Try again in a moment.")


class NameDialog(ModalScreen[str | None]):
    """Type a division's name; `save(name)` runs in a worker: its refusal shows here and the input stays."""

    CSS_PATH = CSS
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="division_name_cancel")]

    class Saved(Message):
        def __init__(self, name: str | None, problem: str | None) -> None:
            super().__init__()
            self.name = name
            self.problem = problem

    def __init__(self, title: str, value: str, save: Callable[[str], str], max_length: int) -> None:
        super().__init__()
        self.title_text, self.value, self.save, self.max_length = title, value, save, max_length
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="name-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Label(_("Name (at most {count} characters)").format(count=self.max_length))
            yield Input(self.value, id="division-name", max_length=self.max_length)
            yield MessageLine(id="name-message")
            yield Label(_("Enter: save · Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.saving:
            return
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.run_save(event.value)

    @work(thread=True, group="division-name", exit_on_error=False)
    def run_save(self, name: str) -> None:
        from store.services.errors import DomainError

        try:
            saved = self.save(name)
        except DomainError as exc:
            self.post_message(self.Saved(None, exc.message))
        except Exception:
            log.exception("Saving a fleet division failed")
            self.post_message(self.Saved(None, _(UNAVAILABLE)))
        else:
            self.post_message(self.Saved(saved, None))

    def on_name_dialog_saved(self, message: Saved) -> None:
        self.saving = False
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
            self.query_one(Input).focus()
            return
        self.dismiss(message.name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TargetDialog(ModalScreen[int | None]):
    """Choose the division to move to (the other divisions of the same customer number)."""

    CSS_PATH = CSS
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="division_target_cancel")]

    def __init__(self, title: str, text: str, targets: list[tuple[int, str]]) -> None:
        super().__init__()
        self.title_text, self.text, self.targets = title, text, targets

    def compose(self) -> ComposeResult:
        with Vertical(id="target-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.text, markup=False, id="target-text")
            yield OptionList(*(Option(name, id=str(division_id)) for division_id, name in self.targets),
                             id="target-divisions")
            yield Label(_("Enter: move · Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DivisionsScreen(Screen[None]):
    CSS_PATH = CSS
    AUTO_FOCUS = "#divisions-table"
    TITLE = N_("Manage fleet divisions")
    HELP = N_("The fleet divisions of the active customer number (F3 switches it), with their cards/OBUs and "
              "driver codes. A division is deleted only when it is empty: move its cards and driver codes to "
              "another division first. Blocked, deleted and expired cards cannot move, so a division that holds "
              "them stays.")
    HELP_KEYS = (
        (N_("n"), N_("New division")),
        (N_("r"), N_("Rename the highlighted division")),
        (N_("Delete"), N_("Delete the highlighted division (asks first)")),
        (N_("m"), N_("Move its cards/OBUs to another division")),
        (N_("c"), N_("Move its driver codes to another division")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("n", "create", N_("New"), id="divisions_create"),
        Binding("r", "rename", N_("Rename"), id="divisions_rename"),
        Binding("delete", "delete", N_("Delete"), id="divisions_delete", show=False),
        Binding("m", "move_cards", N_("Move cards"), id="divisions_move_cards"),
        Binding("c", "move_codes", N_("Move codes"), id="divisions_move_codes"),
        Binding("f5", "refresh", N_("Refresh"), id="divisions_refresh", show=False),
    ]

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.problem = problem

    class Done(Message):
        """A change finished: what to tell, and which division to highlight after the reload."""

        def __init__(self, kind: str, lines: list[str], highlight: int | None = None) -> None:
            super().__init__()
            self.kind = kind  # "success", "error" or "warning"
            self.lines = lines
            self.highlight = highlight

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.generation = 0
        self.busy = False
        self._highlight: int | None = None

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        yield Label("", id="divisions-title", markup=False)
        table = DataTable(id="divisions-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(_(label), key=key, width=width)
        yield table
        yield MessageLine(id="divisions-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.query_one(MessageLine).clear()
        self._highlight = None
        self.reload()

    # Loading -----------------------------------------------------------------------------------

    def reload(self) -> None:
        number = self.app.active_customer_number
        if number is None or self.app.session is None:
            return
        self.query_one("#divisions-title", Label).update(
            _("Fleet divisions of customer number {number} – {name}").format(number=number.number,
                                                                             name=number.name))
        self.generation += 1
        self.fetch(self.generation, number.id)

    @work(thread=True, exclusive=True, group="divisions", exit_on_error=False)
    def fetch(self, generation: int, customer_number_id: int) -> None:
        from store.services.divisions import list_divisions
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows = list_divisions(session, app.session.actor, customer_number_id)
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], exc.message))
        except Exception:
            log.exception("Reading the fleet divisions failed")
            self.post_message(self.Loaded(generation, [], _("The fleet divisions could not be read right now. "
                                                            "Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows))

    def on_divisions_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return
        table = self.query_one(DataTable)
        previous = self.current()
        wanted = self._highlight if self._highlight is not None else (previous.id if previous else None)
        self._highlight = None
        self.rows = message.rows
        table.clear()
        for row in self.rows:
            table.add_row(row.name, str(row.cards), str(row.movable_cards), str(row.driver_codes), key=str(row.id))
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        elif not self.rows:
            self.query_one(MessageLine).show_info(_("This customer number has no fleet division yet: press n to "
                                                    "create one."))
        for index, row in enumerate(self.rows):
            if row.id == wanted:
                table.move_cursor(row=index)
                break

    def current(self):
        table = self.query_one(DataTable)
        if not self.rows or not (0 <= table.cursor_row < len(self.rows)):
            return None
        return self.rows[table.cursor_row]

    def _needs_current(self):
        row = self.current()
        if row is None:
            self.query_one(MessageLine).show_warning(_("Highlight a fleet division first."))
        return row

    # Actions -----------------------------------------------------------------------------------

    def _saver(self, change: Callable) -> Callable[[str], str]:
        """A function for NameDialog: runs `change(session, actor, now, name)`, returns the saved name."""
        app = self.app

        def save(name: str) -> str:
            with app.db.session() as session:
                division = change(session, app.session.actor, app.db.clock.now(), name)
                return division.name

        return save

    def action_create(self) -> None:
        from store.services.divisions import NAME_MAX, create_division

        number = self.app.active_customer_number
        if number is None:
            return

        def saved(name: str | None) -> None:
            if name:
                self.query_one(MessageLine).show_success(
                    _("The fleet division {name} is created.").format(name=name))
                self.reload()

        save = self._saver(lambda session, actor, now, name: create_division(session, actor, now, number.id, name))
        self.app.push_screen(NameDialog(_("New fleet division in {number}").format(number=number.number), "",
                                        save, NAME_MAX), saved)

    def action_rename(self) -> None:
        from store.services.divisions import NAME_MAX, rename_division

        row = self._needs_current()
        if row is None:
            return

        def saved(name: str | None) -> None:
            if name:
                self.query_one(MessageLine).show_success(
                    _("The fleet division {old} is now called {new}.").format(old=row.name, new=name))
                self.reload()

        save = self._saver(lambda session, actor, now, name: rename_division(session, actor, now, row.id, name,
                                                                             expected_version=row.version))
        self.app.push_screen(NameDialog(_("Rename {name}").format(name=row.name), row.name, save, NAME_MAX), saved)

    def action_delete(self) -> None:
        from tui.screens.card_form import ConfirmDialog

        row = self._needs_current()
        if row is None or self.busy:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(_("Deleting…"))
                self.run_delete(row.id, row.version, row.name)

        self.app.push_screen(ConfirmDialog(
            _("Delete a fleet division"),
            _("Delete the fleet division {name}? This cannot be undone.").format(name=row.name),
            _("Y: delete"), _("N: keep it")), answered)

    def _choose_target(self, title: str, text: str, start: Callable[[int, str], None]) -> None:
        row = self._needs_current()
        if row is None or self.busy:
            return
        targets = [(other.id, other.name) for other in self.rows if other.id != row.id]
        if not targets:
            self.query_one(MessageLine).show_warning(
                _("There is no other fleet division in this customer number: create one first (n)."))
            return
        names = dict(targets)

        def chosen(target_id: int | None) -> None:
            if target_id is not None:
                start(target_id, names[target_id])

        self.app.push_screen(TargetDialog(title, text.format(name=row.name), targets), chosen)

    def action_move_cards(self) -> None:
        row = self._needs_current()
        if row is None:
            return

        def start(target_id: int, target_name: str) -> None:
            self._start(_("Moving the cards/OBUs…"))
            self.run_move_cards(row.id, target_id, target_name)

        self._choose_target(_("Move cards/OBUs"),
                            _("Move every card/OBU of {name} that can move (not blocked, deleted or expired) to:"),
                            start)

    def action_move_codes(self) -> None:
        row = self._needs_current()
        if row is None:
            return

        def start(target_id: int, target_name: str) -> None:
            self._start(_("Moving the driver codes…"))
            self.run_move_codes(row.id, target_id, target_name)

        self._choose_target(_("Move driver codes"), _("Move every driver code of {name} to:"), start)

    def _start(self, text: str) -> None:
        self.busy = True
        self.query_one(MessageLine).show_busy(text)

    # Workers -----------------------------------------------------------------------------------

    def _run(self, work_fn: Callable[[object], "DivisionsScreen.Done"]) -> None:
        """Run `work_fn(session)` and post its Done; a refusal becomes an error Done with the store's message."""
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                done = work_fn(session)
        except DomainError as exc:
            done = self.Done("error", list(exc.problems))
        except Exception:
            log.exception("A fleet division change failed")
            done = self.Done("error", [_(UNAVAILABLE)])
        self.post_message(done)

    @work(thread=True, group="divisions-change", exit_on_error=False)
    def run_delete(self, division_id: int, version: int, name: str) -> None:
        from store.services.divisions import delete_division

        def work_fn(session) -> DivisionsScreen.Done:
            delete_division(session, self.app.session.actor, self.app.db.clock.now(), division_id,
                            expected_version=version)
            return self.Done("success", [_("The fleet division {name} is deleted.").format(name=name)])

        self._run(work_fn)

    @work(thread=True, group="divisions-change", exit_on_error=False)
    def run_move_cards(self, division_id: int, target_id: int, target_name: str) -> None:
        from store.services.divisions import move_cards

        def work_fn(session) -> DivisionsScreen.Done:
            result = move_cards(session, self.app.session.actor, self.app.db.clock.now(), division_id, target_id)
            lines = [ngettext("{count} card or OBU moved to {name}.", "{count} cards and OBUs moved to {name}.",
                              result.moved).format(count=result.moved, name=target_name)]
            if result.staying:
                lines.append(ngettext("{count} blocked, deleted or expired card stays: it cannot move.",
                                      "{count} blocked, deleted or expired cards stay: they cannot move.",
                                      result.staying).format(count=result.staying))
            lines += [f"{refused.label}: {refused.message}" for refused in result.refused]
            kind = "warning" if result.refused else "success"
            return self.Done(kind, lines, highlight=target_id)

        self._run(work_fn)

    @work(thread=True, group="divisions-change", exit_on_error=False)
    def run_move_codes(self, division_id: int, target_id: int, target_name: str) -> None:
        from store.services.divisions import move_driver_codes

        def work_fn(session) -> DivisionsScreen.Done:
            result = move_driver_codes(session, self.app.session.actor, self.app.db.clock.now(), division_id,
                                       target_id)
            return self.Done("success", [ngettext("{count} driver code moved to {name}.",
                                                  "{count} driver codes moved to {name}.", result.moved)
                                         .format(count=result.moved, name=target_name)], highlight=target_id)

        self._run(work_fn)

    def on_divisions_screen_done(self, message: Done) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.kind == "error":
            line.show_error(*message.lines)
        elif message.kind == "warning":
            line.show_warning("\n".join(message.lines))
        else:
            line.show_success("\n".join(message.lines))
        self._highlight = message.highlight
        self.reload()

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
