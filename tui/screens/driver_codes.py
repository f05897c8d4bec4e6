"""My driver codes (Fiches 13-16): Search driver codes with multi-select and the actions Modify, Block, Unblock
and Reissue code; Create driver code.

The list shows the driver codes of the active customer number (F3 switches it), filtered by driver name, code,
status and fleet division, a page at a time (keyset pages from the store). Space marks a code; the actions work
on the marked codes (or the highlighted one when none is marked). Every change goes through
`store.services.driver_codes`; a refusal is shown with the store's message as it is.
"""
from __future__ import annotations

import logging
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tui.i18n import N_, _, ngettext
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CSS = "../styles/driver_codes.tcss"
UNAVAILABLE = N_("This could not be done right now; nothing was changed. Try again in a moment.")
COLUMNS = (
    ("mark", "", 1),
    ("name", N_("Driver"), 25),
    ("code", N_("Code"), 8),
    ("division", N_("Division"), 12),
    ("status", N_("Status"), 19),
)
STATUS_FILTERS = (
    ("all", N_("Every status")),
    ("active", N_("Active")),
    ("blocked", N_("Blocked or pending")),
    ("block pending", N_("Block pending")),
)
NO_DIVISION = "*"
COUNTRY_NAMES = {"DE": N_("Germany"), "IT": N_("Italy"), "HU": N_("Hungary"), "CZ": N_("Czechia"),
                 "PL": N_("Poland"), "SK": N_("Slovakia")}


def status_text(row, local: Callable) -> str:
    from store.models import DriverCodeStatus

    if row.status is DriverCodeStatus.BLOCK_PENDING and row.block_effective_at is not None:
        return _("pending {when}").format(when=f"{local(row.block_effective_at):%d/%m %H:%M}")
    return {DriverCodeStatus.ACTIVE: _("active"), DriverCodeStatus.BLOCKED: _("blocked")}.get(row.status,
                                                                                           row.status.value)


def block_text(plan, names: list[str]) -> str:
    """The confirmation of a block: how many, now or when (the 5/6 rule), and that no card is blocked."""
    from store.services.driver_codes import IMMEDIATE_BLOCK_MAX

    shown = ", ".join(names[:6])
    if len(names) > 6:
        shown = _("{names} and {count} more").format(names=shown, count=len(names) - 6)
    if plan.immediate:
        when = ngettext("{count} driver code will be blocked immediately: blocking {max} or fewer at once takes "
                        "effect at once.",
                        "{count} driver codes will be blocked immediately: blocking {max} or fewer at once takes "
                        "effect at once.", plan.count).format(count=plan.count, max=IMMEDIATE_BLOCK_MAX)
    else:
        when = _("{count} driver codes will be “block pending” and blocked on {day} at {time} ({zone}): blocking "
                 "more than {max} at once takes effect the next morning. Until then they keep working.").format(
            count=plan.count, day=f"{plan.effective_local:%d/%m/%Y}", time=f"{plan.effective_local:%H:%M}",
            zone=plan.timezone, max=IMMEDIATE_BLOCK_MAX)
    return "\n\n".join([
        _("Block {names}?").format(names=shown), when,
        _("A blocked driver code does not block any card: the cards stay active. If a card is lost or stolen, "
          "block the card itself."),
    ])


class BlockDialog(ModalScreen[bool]):
    """Confirm a block: Y blocks, N or Esc goes back."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape,n", "answer(False)", N_("No"), id="driver_codes_block_no"),
        Binding("y", "answer(True)", N_("Yes"), id="driver_codes_block_yes"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="block-dialog", classes="dialog"):
            yield Label(_("Block driver codes"), classes="dialog-title")
            yield Static(self.text, markup=False, id="block-text")
            with Horizontal(classes="buttons"):
                yield Button(_("Y: block"), id="yes", variant="error", compact=True)
                yield Button(_("N: do not block"), id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class _FormDialog(ModalScreen[str | None]):
    """A small form whose `save(values)` runs in a worker: a refusal shows here and the input stays."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), id="driver_codes_dialog_cancel"),
        Binding("ctrl+s", "save", N_("Save"), id="driver_codes_dialog_save"),
    ]

    def __init__(self, save: Callable[[dict], str]) -> None:
        super().__init__()
        self.save_fn = save
        self.saving = False

    def values(self) -> dict:
        """The typed values, as `save` takes them. Every dialog of this module (ModifyDialog, ReissueDialog)
        defines its own; this base is never shown by itself."""
        raise TypeError(f"{type(self).__name__} must define values()")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.run_save(self.values())

    @work(thread=True, group="driver-code-dialog", exit_on_error=False)
    def run_save(self, values: dict) -> None:
        from store.services.errors import DomainError

        try:
            text, problems = self.save_fn(values), None
        except DomainError as exc:
            text, problems = None, list(exc.problems)
        except Exception:
            log.exception("Saving a driver code failed")
            text, problems = None, [_(UNAVAILABLE)]
        self.app.call_from_thread(self.saved, text, problems)

    def saved(self, text: str | None, problems: list[str] | None) -> None:
        self.saving = False
        if problems:
            self.query_one(MessageLine).show_error(*problems)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ModifyDialog(_FormDialog):
    """Modify one driver code: the driver's name and the fleet division; the code is shown, not editable."""

    def __init__(self, row, divisions: list[tuple[int, str]], save: Callable[[dict], str]) -> None:
        super().__init__(save)
        self.row, self.divisions = row, divisions

    def compose(self) -> ComposeResult:
        from store.services.driver_codes import NAME_MAX

        with Vertical(id="modify-dialog", classes="dialog"):
            yield Label(_("Modify driver code {code}").format(code=self.row.full_code), classes="dialog-title",
                        markup=False)
            yield Static(_("The code itself cannot change once it is created: only the driver's name and the "
                           "fleet division can. To give a driver other digits, block this code and create a new "
                           "one."), markup=False, classes="dialog-note")
            yield Label(_("Driver's name (at most {count} characters)").format(count=NAME_MAX))
            yield Input(self.row.driver_name, id="modify-name", max_length=NAME_MAX, compact=True)
            yield Label(_("Fleet division"))
            yield Select([(name, division_id) for division_id, name in self.divisions], value=self.row.division_id,
                         allow_blank=False, id="modify-division", compact=True)
            yield MessageLine(id="modify-message")
            yield Label(_("Ctrl+S or Enter: save · Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#modify-name", Input).focus()

    def values(self) -> dict:
        return {"driver_name": self.query_one("#modify-name", Input).value,
                "division_id": self.query_one("#modify-division", Select).value}


class ReissueDialog(_FormDialog):
    """Reissue the marked codes: the card number and its fleet division; shows where the code is typed first."""

    class CardChecked(Message):
        def __init__(self, text: str, ok: bool) -> None:
            super().__init__()
            self.text, self.ok = text, ok

    def __init__(self, names: list[str], divisions: list[tuple[int, str]], check: Callable[[str], object],
                 save: Callable[[dict], str]) -> None:
        super().__init__(save)
        self.names, self.divisions, self.check = names, divisions, check

    def compose(self) -> ComposeResult:
        with Vertical(id="reissue-dialog", classes="dialog"):
            yield Label(_("Reissue driver codes"), classes="dialog-title")
            yield Static(_("Ask the issuer to send the codes of {names} again; they are sent by post.").format(
                names=", ".join(self.names[:6]) + ("…" if len(self.names) > 6 else "")), markup=False)
            yield Label(_("Card number"))
            yield Input(id="reissue-card", max_length=23, restrict=r"[0-9 ]*", compact=True)
            yield Label(_("Fleet division of the card"))
            yield Select([(name, division_id) for division_id, name in self.divisions], id="reissue-division",
                         prompt=_("Choose the division"), compact=True)
            yield Static("", id="reissue-countries", markup=False)
            yield MessageLine(id="reissue-message")
            yield Label(_("Ctrl+S: request · Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#reissue-card", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if len("".join(event.value.split())) >= 16:
            self.check_card(event.value)
        else:
            self.query_one("#reissue-countries", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.check_card(event.value)
        self.query_one("#reissue-division", Select).focus()

    @work(thread=True, exclusive=True, group="driver-code-card", exit_on_error=False)
    def check_card(self, number: str) -> None:
        from store.services.errors import DomainError

        try:
            card = self.check(number)
        except DomainError as exc:
            self.post_message(self.CardChecked(exc.message, False))
            return
        except Exception:
            log.exception("Reading the card failed")
            return
        self.post_message(self.CardChecked(country_text(card.driver_code_first), True))
        if card.division_id in {division_id for division_id, _name in self.divisions}:
            self.app.call_from_thread(self._set_division, card.division_id)

    def _set_division(self, division_id: int) -> None:
        select = self.query_one("#reissue-division", Select)
        if select.is_blank():
            select.value = division_id

    def on_reissue_dialog_card_checked(self, message: CardChecked) -> None:
        self.query_one("#reissue-countries", Static).update(message.text)
        self.query_one("#reissue-countries", Static).set_class(not message.ok, "problem")

    def values(self) -> dict:
        division = self.query_one("#reissue-division", Select)
        return {"card_number": self.query_one("#reissue-card", Input).value,
                "division_id": None if division.is_blank() else division.value}


def country_text(countries: tuple[str, ...]) -> str:
    """For a card's countries: where the driver types the driver code before the card's code (Fiche 13)."""
    if not countries:
        return _("In this card's countries the card code is typed first, then the driver code.")
    names = ", ".join(_(COUNTRY_NAMES[c]) for c in countries)
    return _("In {countries} the driver types the driver code first, then the card code.").format(countries=names)


class DriverCodesScreen(Screen[None]):
    """My driver codes -> Search driver codes."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#codes-table"
    TITLE = N_("Search driver codes")
    HELP = N_("The driver codes of the active customer number (F3 switches it). Filter by name, code, status and "
              "fleet division; mark codes with the space bar, then modify, block, unblock or reissue them. "
              "Blocking 5 codes or fewer at once takes effect immediately; more than 5 at once are blocked the "
              "next morning at 06:00. A blocked driver code never blocks a card. Only the name and the fleet "
              "division of a code can change.")
    HELP_KEYS = (
        (N_("Space"), N_("Mark or unmark the highlighted code")),
        (N_("e"), N_("Modify the name or division of the highlighted code")),
        (N_("b"), N_("Block the marked codes (asks first)")),
        (N_("u"), N_("Unblock the marked codes; with none marked, show the blocked codes")),
        (N_("r"), N_("Reissue the marked codes (by post)")),
        (N_("n"), N_("Create a driver code")),
        (N_("/"), N_("Search: type in the filters, Enter searches")),
        (N_("PgDn"), N_("Next page")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("space", "mark", N_("Mark"), id="driver_codes_mark"),
        Binding("e", "modify", N_("Modify"), id="driver_codes_modify"),
        Binding("b", "block", N_("Block"), id="driver_codes_block"),
        Binding("u", "unblock", N_("Unblock"), id="driver_codes_unblock"),
        Binding("r", "reissue", N_("Reissue"), id="driver_codes_reissue"),
        Binding("n", "create", N_("New"), id="driver_codes_create", show=False),
        Binding("slash", "search", N_("Search"), id="driver_codes_search", show=False),
        Binding("pagedown", "next_page", N_("Next page"), id="driver_codes_next_page", show=False),
        Binding("pageup", "first_page", N_("First page"), id="driver_codes_first_page", show=False),
        Binding("f5", "refresh", N_("Refresh"), id="driver_codes_refresh", show=False),
    ]
    PAGE = 50

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, total: int, divisions: list, prefix: str,
                     problem: str | None = None) -> None:
            super().__init__()
            self.generation, self.rows, self.total = generation, rows, total
            self.divisions, self.prefix, self.problem = divisions, prefix, problem

    class Done(Message):
        def __init__(self, kind: str, lines: list[str], clear_marks: bool = False) -> None:
            super().__init__()
            self.kind, self.lines, self.clear_marks = kind, lines, clear_marks

    class Planned(Message):
        def __init__(self, plan, names: list[str], ids: list[int], problems: list[str] | None = None) -> None:
            super().__init__()
            self.plan, self.names, self.ids, self.problems = plan, names, ids, problems

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.marked: dict[int, str] = {}  # code id -> driver name; kept across searches and pages
        self.divisions: list[tuple[int, str]] = []
        self.generation = 0
        self.pages: list[tuple | None] = [None]  # keyset position of each page shown so far
        self.total = 0
        self.page = 0
        self.busy = False

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        yield Label("", id="codes-title", markup=False)
        with Horizontal(id="codes-filters"):
            yield Input(placeholder=_("Driver name"), id="filter-name", compact=True)
            yield Input(placeholder=_("Code"), id="filter-code", max_length=8, restrict=r"[0-9]*", compact=True)
            yield Select([(_(label), value) for value, label in STATUS_FILTERS], value="all", allow_blank=False,
                         id="filter-status", compact=True)
            yield Select([(_("Every division"), NO_DIVISION)], value=NO_DIVISION, allow_blank=False,
                         id="filter-division", compact=True)
        table = DataTable(id="codes-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(_(label) if label else "", key=key, width=width)
        yield table
        yield Label("", id="codes-count", markup=False)
        yield MessageLine(id="codes-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.marked.clear()
        self.query_one(MessageLine).clear()
        self.divisions = []
        self.query_one("#filter-division", Select).set_options([(_("Every division"), NO_DIVISION)])
        self.reload()

    # Loading -----------------------------------------------------------------------------------

    def current_filter(self):
        from store.models import DriverCodeStatus
        from store.services.driver_codes import DriverCodeFilter

        number = self.app.active_customer_number
        status = self.query_one("#filter-status", Select).value
        statuses = {"active": (DriverCodeStatus.ACTIVE,),
                    "blocked": (DriverCodeStatus.BLOCKED, DriverCodeStatus.BLOCK_PENDING),
                    "block pending": (DriverCodeStatus.BLOCK_PENDING,)}.get(status, ())
        division = self.query_one("#filter-division", Select).value
        return DriverCodeFilter(customer_number_id=number.id if number else None,
                                division_id=None if division in (NO_DIVISION, Select.BLANK) else int(division),
                                name=self.query_one("#filter-name", Input).value,
                                code=self.query_one("#filter-code", Input).value, statuses=statuses)

    def reload(self, page: int = 0) -> None:
        number = self.app.active_customer_number
        if number is None or self.app.session is None:
            return
        self.query_one("#codes-title", Label).update(
            _("Driver codes of customer number {number} – {name}").format(number=number.number, name=number.name))
        if page == 0:
            self.pages = [None]
        self.page = page
        self.generation += 1
        self.fetch(self.generation, self.current_filter(), self.pages[page])

    @work(thread=True, exclusive=True, group="driver-codes", exit_on_error=False)
    def fetch(self, generation: int, where, after) -> None:
        from store.services.driver_codes import count_driver_codes, driver_code_divisions, search_driver_codes
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                actor = app.session.actor
                rows = search_driver_codes(session, actor, where, after=after, limit=self.PAGE)
                total = count_driver_codes(session, actor, where)
                prefix, divisions = driver_code_divisions(session, actor, where.customer_number_id)
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], 0, [], "", exc.message))
        except Exception:
            log.exception("Reading the driver codes failed")
            self.post_message(self.Loaded(generation, [], 0, [], "", _("The driver codes could not be read right "
                                                                       "now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, total, divisions, prefix))

    def on_driver_codes_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return
        table = self.query_one(DataTable)
        previous = self.current()
        self.rows, self.total = message.rows, message.total
        if message.divisions != self.divisions:
            self.divisions = message.divisions
            select = self.query_one("#filter-division", Select)
            value = select.value
            with select.prevent(Select.Changed):
                select.set_options([(_("Every division"), NO_DIVISION), *((n, i) for i, n in self.divisions)])
                select.value = value if value in {i for i, _n in self.divisions} else NO_DIVISION
        table.clear()
        local = self.app.session.local
        for row in self.rows:
            table.add_row("✓" if row.id in self.marked else "", row.driver_name, row.full_code, row.division,
                          status_text(row, local), key=str(row.id))
        for index, row in enumerate(self.rows):
            if previous is not None and row.id == previous.id:
                table.move_cursor(row=index)
                break
        self._show_count()
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        elif not self.rows and self.page == 0:
            self.query_one(MessageLine).show_info(_("No driver code matches. Press n to create one."))

    def _show_count(self) -> None:
        first = self.page * self.PAGE + 1 if self.rows else 0
        text = ngettext("{first}–{last} of {total} driver code", "{first}–{last} of {total} driver codes",
                        self.total).format(first=first, last=first + len(self.rows) - 1 if self.rows else 0,
                                           total=self.total)
        if self.marked:
            text += " · " + _("{count} marked").format(count=len(self.marked))
        self.query_one("#codes-count", Label).update(text)

    def current(self):
        table = self.query_one(DataTable)
        if not self.rows or not (0 <= table.cursor_row < len(self.rows)):
            return None
        return self.rows[table.cursor_row]

    # Filters and pages -----------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()
        self.query_one(DataTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("filter-status", "filter-division") and self.is_mounted:
            self.reload()

    def action_search(self) -> None:
        self.query_one("#filter-name", Input).focus()

    def action_next_page(self) -> None:
        if len(self.rows) < self.PAGE:
            return
        if len(self.pages) <= self.page + 1:
            self.pages.append(self.rows[-1].after)
        self.reload(self.page + 1)

    def action_first_page(self) -> None:
        if self.page:
            self.reload(0)

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self.reload(self.page)

    # Marks -----------------------------------------------------------------------------------

    def action_mark(self) -> None:
        row = self.current()
        if row is None:
            return
        if row.id in self.marked:
            self.marked.pop(row.id)
        else:
            self.marked[row.id] = row.driver_name
        table = self.query_one(DataTable)
        table.update_cell(str(row.id), "mark", "✓" if row.id in self.marked else "")
        if table.cursor_row < len(self.rows) - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._show_count()

    def selection(self) -> dict[int, str]:
        """The marked codes, else the highlighted one."""
        if self.marked:
            return dict(self.marked)
        row = self.current()
        return {row.id: row.driver_name} if row is not None else {}

    def _needs_selection(self) -> dict[int, str]:
        chosen = self.selection()
        if not chosen:
            self.query_one(MessageLine).show_warning(_("Highlight or mark (space) a driver code first."))
        return chosen

    # Actions ---------------------------------------------------------------------------------

    def action_modify(self) -> None:
        from store.services.driver_codes import modify_driver_code

        if self.busy:
            return
        if len(self.marked) > 1:
            self.query_one(MessageLine).show_warning(_("Modify works on one driver code: unmark the others, or "
                                                       "highlight the code to modify with no code marked."))
            return
        chosen = self._needs_selection()
        if not chosen:
            return
        [code_id] = chosen
        row = next((r for r in self.rows if r.id == code_id), None)
        if row is None:
            self.query_one(MessageLine).show_warning(_("The marked code is not on this page: show it first."))
            return
        app = self.app

        def save(values: dict) -> str:
            with app.db.session() as session:
                code = modify_driver_code(session, app.session.actor, app.db.clock.now(), row.id,
                                          driver_name=values["driver_name"], division_id=values["division_id"],
                                          expected_version=row.version)
                return _("The driver code {code} is saved ({name}).").format(code=row.full_code,
                                                                            name=code.driver_name)

        def saved(text: str | None) -> None:
            if text:
                self.query_one(MessageLine).show_success(text)
                self.reload(self.page)

        self.app.push_screen(ModifyDialog(row, self.divisions, save), saved)

    def action_block(self) -> None:
        chosen = self._needs_selection()
        if not chosen or self.busy:
            return
        self._start(_("Checking the selection…"))
        self.run_plan(list(chosen), list(chosen.values()))

    @work(thread=True, group="driver-codes-change", exit_on_error=False)
    def run_plan(self, ids: list[int], names: list[str]) -> None:
        from store.services.driver_codes import block_plan
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                plan = block_plan(session, app.session.actor, app.db.clock.now(), ids)
        except DomainError as exc:
            self.post_message(self.Planned(None, names, ids, list(exc.problems)))
        except Exception:
            log.exception("Planning a block failed")
            self.post_message(self.Planned(None, names, ids, [_(UNAVAILABLE)]))
        else:
            self.post_message(self.Planned(plan, names, ids))

    def on_driver_codes_screen_planned(self, message: Planned) -> None:
        self.busy = False
        if message.problems:
            self.query_one(MessageLine).show_error(*message.problems)
            return
        self.query_one(MessageLine).clear()

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(_("Blocking…"))
                self.run_block(message.ids)

        self.app.push_screen(BlockDialog(block_text(message.plan, message.names)), answered)

    @work(thread=True, group="driver-codes-change", exit_on_error=False)
    def run_block(self, ids: list[int]) -> None:
        from store.services.driver_codes import block_driver_codes

        def work_fn(session) -> DriverCodesScreen.Done:
            plan = block_driver_codes(session, self.app.session.actor, self.app.db.clock.now(), ids)
            if plan.immediate:
                text = ngettext("{count} driver code blocked. The cards stay active.",
                                "{count} driver codes blocked. The cards stay active.", plan.count).format(
                    count=plan.count)
            else:
                when = self.app.session.local(plan.effective_at)
                text = _("{count} driver codes are block pending: blocked on {day} at {time}. The cards stay "
                         "active.").format(count=plan.count, day=f"{when:%d/%m/%Y}", time=f"{when:%H:%M}")
            return self.Done("success", [text], clear_marks=True)

        self._run(work_fn)

    def action_unblock(self) -> None:
        from store.services.driver_codes import unblock_driver_codes

        if self.busy:
            return
        if not self.marked:
            status = self.query_one("#filter-status", Select)
            if status.value != "blocked":
                status.value = "blocked"  # the list of blocked codes (Fiche 16)
                self.query_one(MessageLine).show_info(_("The blocked codes: mark (space) the ones to unblock, then "
                                                        "press u again."))
                return
        chosen = self._needs_selection()
        if not chosen:
            return
        ids = list(chosen)
        self._start(_("Unblocking…"))

        def work_fn(session) -> DriverCodesScreen.Done:
            count = unblock_driver_codes(session, self.app.session.actor, self.app.db.clock.now(), ids)
            return self.Done("success", [ngettext("{count} driver code unblocked.", "{count} driver codes unblocked.",
                                                  count).format(count=count)],
                             clear_marks=True)

        self.run_change(work_fn)

    def action_reissue(self) -> None:
        from store.services.driver_codes import reissue_card, reissue_driver_codes

        chosen = self._needs_selection()
        if not chosen or self.busy:
            return
        app, ids = self.app, list(chosen)

        def check(card_number: str):
            with app.db.session() as session:
                return reissue_card(session, app.session.actor, card_number)

        def save(values: dict) -> str:
            with app.db.session() as session:
                request = reissue_driver_codes(session, app.session.actor, app.db.clock.now(), ids,
                                               values["card_number"], values["division_id"])
                return _("Request {request} sent: the issuer sends the codes by post. Follow it in My "
                         "requests.").format(request=request.id)

        def saved(text: str | None) -> None:
            if text:
                self.marked.clear()
                self.query_one(MessageLine).show_success(text)
                self.reload(self.page)

        self.app.push_screen(ReissueDialog(list(chosen.values()), self.divisions, check, save), saved)

    def action_create(self) -> None:
        if "driver_codes.create" not in self.app.session.rights:
            self.query_one(MessageLine).show_warning(_("You do not have the right to create driver codes. Ask an "
                                                       "administrator to grant it."))
            return

        def closed(created: bool | None) -> None:
            if created:
                self.reload(self.page)

        self.app.push_screen(DriverCodeFormScreen(), closed)

    def _start(self, text: str) -> None:
        self.busy = True
        self.query_one(MessageLine).show_busy(text)

    # Workers ---------------------------------------------------------------------------------

    @work(thread=True, group="driver-codes-change", exit_on_error=False)
    def run_change(self, work_fn) -> None:
        self._run(work_fn)

    def _run(self, work_fn: Callable[[object], "DriverCodesScreen.Done"]) -> None:
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                done = work_fn(session)
        except DomainError as exc:
            done = self.Done("error", list(exc.problems))
        except Exception:
            log.exception("A driver code change failed")
            done = self.Done("error", [_(UNAVAILABLE)])
        self.post_message(done)

    def on_driver_codes_screen_done(self, message: Done) -> None:
        self.busy = False
        line = self.query_one(MessageLine)
        if message.kind == "error":
            line.show_error(*message.lines)
        else:
            line.show_success("\n".join(message.lines))
        if message.clear_marks:
            self.marked.clear()
        self.reload(self.page)

    def action_back(self) -> None:
        self.app.pop_screen()


class DriverCodeFormScreen(Screen[bool]):
    """My driver codes -> Create driver code: customer number, fleet division, 4 digits, the driver's name."""

    CSS_PATH = CSS
    TITLE = N_("Create driver code")
    HELP = N_("A driver code is the customer's 4 issuer digits followed by 4 digits you choose per driver; the 4 "
              "digits are unique within the customer number. After creation only the driver's name and the fleet "
              "division can change.")
    HELP_KEYS = ((N_("Ctrl+S"), N_("Create the code")), (N_("Esc"), N_("Back")))
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("ctrl+s", "save", N_("Create"), id="driver_code_form_save"),
    ]

    class Loaded(Message):
        def __init__(self, prefix: str, divisions: list, problem: str | None = None) -> None:
            super().__init__()
            self.prefix, self.divisions, self.problem = prefix, divisions, problem

    class Saved(Message):
        def __init__(self, text: str | None, problems: list[str] | None, field: str | None = None) -> None:
            super().__init__()
            self.text, self.problems, self.field = text, problems, field

    def __init__(self) -> None:
        super().__init__()
        self.prefix = ""
        self.created = 0
        self.saving = False

    def compose(self) -> ComposeResult:
        from store.services.driver_codes import NAME_MAX

        session = self.app.session
        numbers = [(f"{n.number} – {n.name}", n.id) for n in session.customer_numbers]
        active = self.app.active_customer_number
        yield SessionHeader()
        with Vertical(id="create-form"):
            yield Label(_("Create driver code"), classes="form-title")
            yield Label(_("Customer number"))
            yield Select(numbers, value=active.id if active else Select.BLANK, allow_blank=False,
                         id="create-number", compact=True)
            yield Label(_("Fleet division"))
            yield Select([], id="create-division", prompt=_("Choose the division"), compact=True)
            yield Label(_("Driver code (4 digits)"))
            with Horizontal(id="create-code-row"):
                yield Label("", id="create-prefix", markup=False)
                yield Input(id="create-code", max_length=4, restrict=r"[0-9]*", compact=True)
            yield Label(_("Driver's name (at most {count} characters)").format(count=NAME_MAX))
            yield Input(id="create-name", max_length=NAME_MAX, compact=True)
            yield Static(_("After creation only the driver's name and the fleet division can change."),
                         classes="dialog-note", markup=False)
            yield MessageLine(id="create-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load(self.query_one("#create-number", Select).value)
        self.query_one("#create-division", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "create-number" and event.value != Select.BLANK:
            self.load(event.value)

    @work(thread=True, exclusive=True, group="driver-code-form", exit_on_error=False)
    def load(self, customer_number_id: int) -> None:
        from store.services.driver_codes import driver_code_divisions
        from store.services.errors import DomainError

        from store.models import Right

        app = self.app
        try:
            app.session.actor.require(Right.DRIVER_CODES_CREATE)  # this form creates: say so before any input
            with app.db.session() as session:
                prefix, divisions = driver_code_divisions(session, app.session.actor, customer_number_id)
        except DomainError as exc:
            self.post_message(self.Loaded("", [], exc.message))
        except Exception:
            log.exception("Reading the fleet divisions failed")
            self.post_message(self.Loaded("", [], _(UNAVAILABLE)))
        else:
            self.post_message(self.Loaded(prefix, divisions))

    def on_driver_code_form_screen_loaded(self, message: Loaded) -> None:
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
            return
        self.prefix = message.prefix
        self.query_one("#create-prefix", Label).update(f"{self.prefix} ")
        select = self.query_one("#create-division", Select)
        select.set_options([(name, division_id) for division_id, name in message.divisions])
        if len(message.divisions) == 1:
            select.value = message.divisions[0][0]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "create-code":
            self.query_one("#create-name", Input).focus()
        else:
            self.action_save()

    def action_save(self) -> None:
        if self.saving:
            return
        division = self.query_one("#create-division", Select)
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Saving…"))
        self.run_save(self.query_one("#create-number", Select).value,
                      None if division.is_blank() else division.value,
                      self.query_one("#create-code", Input).value, self.query_one("#create-name", Input).value)

    @work(thread=True, group="driver-code-form-save", exit_on_error=False)
    def run_save(self, number_id: int, division_id: int | None, code: str, name: str) -> None:
        from store.services.driver_codes import create_driver_code
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                created = create_driver_code(session, app.session.actor, app.db.clock.now(), number_id, division_id,
                                             code, name)
                text = _("Driver code {code} created for {name}. Type the next one, or Esc to go back.").format(
                    code=self.prefix + created.code, name=created.driver_name)
        except DomainError as exc:
            self.post_message(self.Saved(None, list(exc.problems), exc.field))
        except Exception:
            log.exception("Creating a driver code failed")
            self.post_message(self.Saved(None, [_(UNAVAILABLE)]))
        else:
            self.post_message(self.Saved(text, None))

    def on_driver_code_form_screen_saved(self, message: Saved) -> None:
        self.saving = False
        if message.problems:
            self.query_one(MessageLine).show_error(*message.problems)
            focus = {"code": "#create-code", "driver_name": "#create-name", "division": "#create-division"}
            if message.field in focus:
                self.query_one(focus[message.field]).focus()
            return
        self.created += 1
        self.query_one(MessageLine).show_success(message.text)
        self.query_one("#create-code", Input).value = ""
        self.query_one("#create-name", Input).value = ""
        self.query_one("#create-code", Input).focus()

    def action_back(self) -> None:
        self.dismiss(self.created > 0)
