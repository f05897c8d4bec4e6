"""My cards and OBUs -> Manage cards and OBUs (Fiches 06, 09, 12, 13): quick search, paged list, actions.

The list pages with the store's keyset query (`store.queries.cards.search_cards`) and never loads the whole
fleet: the next page is read when the cursor reaches the end. Every action asks the store which actions the
card's state allows (`allowed_actions` / `refusal`); the dialogs are in tui/screens/card_actions.py.
"""
from __future__ import annotations

import logging
from datetime import date, datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Label, Select

from tui.i18n import N_, _
from tui.screens.card_actions import (
    ActionsMenu,
    CardInfo,
    PinReissueDialog,
    day_text,
    load_card_info,
    start_card_action,
    status_text,
)
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

PAGE = 50
SEARCH_DELAY = 0.3  # seconds of quiet typing before the search runs
ALL = "all"
STATUS_FILTERS = (
    (ALL, N_("All statuses")),
    ("new", N_("New")),
    ("in production", N_("In production")),
    ("active", N_("Active")),
    ("blocked", N_("Blocked")),
    ("deleted", N_("Deleted")),
    ("expired", N_("Expired")),
)
TYPE_LABELS = {"fleet card": N_("Card"), "passango obu": N_("OBU"), "libert obu": N_("OBU")}
TYPE_FILTERS = (
    (ALL, N_("All types")),
    ("fleet card", N_("Fleet card")),
    ("passango obu", N_("Passango OBU")),
    ("libert obu", N_("Libert OBU")),
)
RENEWAL_FILTERS = (
    (ALL, N_("Any renewal")),
    ("none", N_("Not in renewal")),
    ("candidate for renewal", N_("Candidate")),
    ("in renewal", N_("In renewal")),
    ("renewed", N_("Renewed")),
    ("cancelled", N_("Not renewed")),
)
CODE_TYPE_LABELS = {"pin": N_("PIN"), "driver code": N_("Driver code")}
DATE_FIELDS = (
    ("card-expiry-from", "expiry_from", N_("Expiry from")),
    ("card-expiry-to", "expiry_to", N_("Expiry to")),
    ("card-used-from", "last_use_from", N_("Used from")),
    ("card-used-to", "last_use_to", N_("Used to")),
)
# What identifies a card and its state comes first: at 80 columns driver and division scroll into view.
COLUMNS = (
    ("mark", "", 1),
    ("number", N_("Number"), 18),
    ("rank", N_("Rk"), 2),
    ("type", N_("Type"), 4),
    ("plate", N_("Plate/name"), 10),
    ("status", N_("Status"), 13),
    ("expiry", N_("Expiry"), 10),
    ("driver", N_("Driver"), 20),
    ("division", N_("Division"), 14),
)
SETTINGS_COLUMNS = (
    ("mark", "", 1),
    ("number", N_("Number"), 18),
    ("rank", N_("Rk"), 2),
    ("plate", N_("Plate/name"), 10),
    ("code_type", N_("Code type"), 11),
    ("created", N_("Created"), 10),
    ("category", N_("Category"), 12),
    ("vehicle_type", N_("Vehicle type"), 12),
)
# The view switch: (id, name, columns), in the order the key cycles through them.
VIEWS = (
    ("general", N_("General"), COLUMNS),
    ("settings", N_("Card/badge settings"), SETTINGS_COLUMNS),
)


class FilterProblem(ValueError):
    """A filter field the user must correct (the message says how)."""


def parse_day(text: str, label: str) -> date | None:
    """A dd/mm/yyyy day typed in a filter field; None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        raise FilterProblem(_("{field}: write the day as dd/mm/yyyy, e.g. 31/12/2026.").format(field=_(label))) \
            from None


class CardListScreen(Screen[None]):
    CSS_PATH = "../styles/card_list.tcss"
    AUTO_FOCUS = "#card-search"
    TITLE = N_("Manage cards and OBUs")
    HELP = N_("Type part of a card number, licence plate or driver name to narrow the list; the status filter "
              "narrows it further. In the list, Enter opens the actions the card's status allows, or press an "
              "action's key directly. Space marks cards for a PIN reissue of several at once.")
    HELP_KEYS = (
        (N_("Typing"), N_("Search as you type (number, plate, driver)")),
        (N_("↓ / Tab"), N_("From the search to the list")),
        (N_("Enter"), N_("The actions of the highlighted card")),
        (N_("Ctrl+F"), N_("Advanced filters: type, renewal, division, expiry and last use (dd/mm/yyyy)")),
        (N_("Ctrl+E"), N_("Export every matching card to Excel")),
        (N_("F6"), N_("Switch view: General, Card/badge settings")),
    )
    BINDINGS = [
        Binding("escape", "back", _("Back"), id="back", show=False),
        Binding("enter", "actions", _("Actions"), id="card_actions", show=False),
        Binding("space", "mark", _("Mark"), id="card_mark"),
        Binding("v", "card('view')", _("View"), id="card_view"),
        Binding("c", "card('change')", _("Change"), id="card_change"),
        Binding("o", "card('copy')", _("Copy"), id="card_copy"),
        Binding("b", "card('block')", _("Block"), id="card_block"),
        Binding("d", "card('delete')", _("Delete"), id="card_delete"),
        Binding("x", "card('cancel')", _("Cancel"), id="card_cancel"),
        Binding("r", "card('renew')", _("Renew"), id="card_renew"),
        Binding("p", "pin_reissue", _("PIN"), id="card_pin_reissue"),
        Binding("a", "bulk", _("Bulk"), id="card_bulk"),
        Binding("slash", "focus_search", _("Search"), id="card_search", show=False),
        # Priority: the search field would otherwise take ctrl+f (delete word) and ctrl+e (end; End does it too).
        Binding("ctrl+f", "advanced", _("Filters"), id="card_advanced_filters", priority=True),
        Binding("ctrl+e", "export", _("Export"), id="card_export", priority=True),
        Binding("f6", "next_view", _("Views"), id="card_view_switch"),
    ]

    class Loaded(Message):
        def __init__(self, generation: int, rows: list, count: int | None, append: bool,
                     problem: str | None = None) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.count = count
            self.append = append
            self.problem = problem

    class CardRead(Message):
        def __init__(self, action: str, card: CardInfo | None, problem: str | None = None) -> None:
            super().__init__()
            self.action = action
            self.card = card
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []  # the CardRows shown, in order
        self.marked: dict[int, str] = {}  # card id -> label, for the PIN reissue of several
        self.count: int | None = None
        self.more = False
        self.loading = False
        self.generation = 0
        self._search_timer: Timer | None = None
        self._keep: int | None = None  # the card to keep highlighted when the list reloads after an action
        self._first_load = True
        self.view = VIEWS[0][0]
        self._divisions_for: int | None = None  # the customer number whose divisions the filter offers
        self._filter_error = False  # the message line shows a filter field's problem

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="card-filters"):
            yield Input(placeholder=_("Search number, plate or driver"), id="card-search")
            yield Select([(_(label), value) for value, label in STATUS_FILTERS], value=ALL, allow_blank=False,
                         id="card-status")
        with Vertical(id="card-advanced"):
            with Horizontal(classes="card-advanced-row"):
                yield Select([(_(label), value) for value, label in TYPE_FILTERS], value=ALL, allow_blank=False,
                             id="card-type")
                yield Select([(_(label), value) for value, label in RENEWAL_FILTERS], value=ALL,
                             allow_blank=False, id="card-renewal")
                yield Select([(_("All divisions"), ALL)], value=ALL, allow_blank=False, id="card-division")
            with Horizontal(classes="card-advanced-row"):
                for field_id, _name, label in DATE_FIELDS:
                    yield Input(placeholder=_(label), id=field_id, classes="card-date", max_length=10)
        yield Label("", id="card-count", markup=False)
        table = DataTable(id="card-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in self.columns():
            table.add_column(_(label), key=key, width=width)
        yield table
        yield MessageLine(id="card-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.marked.clear()
        self.query_one(MessageLine).clear()
        # Divisions belong to a customer number: the other number's choices replace these.
        self._divisions_for = None
        self._set_divisions(None, [])
        if self.query_one("#card-advanced").display:
            self.load_divisions()
        self.reload()

    # Loading -----------------------------------------------------------------------------------

    def card_filter(self):
        """The search line and the advanced filters as one CardFilter (the export's too); FilterProblem when a
        field is wrong."""
        from store.models import CardStatus, ProductType, RenewalStatus
        from store.queries.card_filter import CardFilter

        def chosen(select_id: str) -> object | None:
            value = self.query_one(select_id, Select).value
            return None if value in (ALL, Select.NULL) else value

        status, product_type = chosen("#card-status"), chosen("#card-type")
        renewal, division = chosen("#card-renewal"), chosen("#card-division")
        days = {name: parse_day(self.query_one(f"#{field_id}", Input).value, label)
                for field_id, name, label in DATE_FIELDS}
        for start, end, label in (("expiry_from", "expiry_to", N_("Expiry")),
                                  ("last_use_from", "last_use_to", N_("Last use"))):
            if days[start] and days[end] and days[start] > days[end]:
                raise FilterProblem(_("{field}: the first day is after the last.").format(field=_(label)))
        number = self.app.active_customer_number
        return CardFilter(
            customer_number_ids=(number.id,) if number is not None else (),
            text=self.query_one("#card-search", Input).value,
            statuses=(CardStatus(status),) if status else (),
            product_types=(ProductType(product_type),) if product_type else (),
            renewal_statuses=(RenewalStatus(renewal),) if renewal else (),
            division_ids=(int(division),) if division is not None else (),
            **days,
        )

    def reload(self) -> None:
        """Read the first page again with the current filters (and the count)."""
        number = self.app.active_customer_number
        if number is None or self.app.session is None:
            return
        try:
            card_filter = self.card_filter()
        except FilterProblem as problem:
            self._filter_error = True
            self.query_one(MessageLine).show_error(str(problem))
            return
        if self._filter_error:
            self._filter_error = False
            self.query_one(MessageLine).clear()
        self.generation += 1
        self.loading = True
        self.query_one("#card-count", Label).update(_("Searching…"))
        self.fetch(self.generation, number.id, card_filter, None, True)


    def load_more(self) -> None:
        number = self.app.active_customer_number
        if self.loading or not self.more or not self.rows or number is None:
            return
        try:
            card_filter = self.card_filter()
        except FilterProblem:
            return
        self.loading = True
        self.fetch(self.generation, number.id, card_filter, self.rows[-1].after, False)

    @work(thread=True, group="card-list", exit_on_error=False)
    def fetch(self, generation: int, number_id: int, card_filter, after: tuple | None, first: bool) -> None:
        from store.queries.cards import count_cards, search_cards
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                rows = search_cards(session, app.session.actor, number_id, card_filter, after=after, limit=PAGE + 1)
                count = count_cards(session, app.session.actor, number_id, card_filter) if first else None
        except DomainError as exc:
            self.post_message(self.Loaded(generation, [], 0, not first, exc.message))
        except Exception:
            log.exception("Card search failed")
            self.post_message(self.Loaded(generation, [], None, not first,
                                          _("The cards could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, rows, count, not first))

    def on_card_list_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return  # an older search, overtaken by newer typing
        self.loading = False
        table = self.query_one(DataTable)
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        self.more = len(message.rows) > PAGE
        rows = message.rows[:PAGE]
        if not message.append:
            self.rows = []
            table.clear()
            self.count = message.count
        for row in rows:
            self.rows.append(row)
            table.add_row(*self.cells(row), key=str(row.id))
        if self._keep is not None and not message.append:
            ids = [r.id for r in self.rows]
            if self._keep in ids:
                table.move_cursor(row=ids.index(self._keep))
            self._keep = None
        if self._first_load:
            # Textual moves the focus off the search field while the screen first lays out: put it back.
            self._first_load = False
            self.set_focus(self.query_one("#card-search", Input))
        self.show_count()

    def columns(self) -> tuple:
        return next(columns for view, _name, columns in VIEWS if view == self.view)

    def cells(self, row) -> list[str]:
        code_type = row.code_type.value if row.code_type is not None else ""
        cells = {
            "mark": "✓" if row.id in self.marked else "",
            "number": row.number or _("(none yet)"),
            "rank": str(row.rank),
            "type": _(TYPE_LABELS.get(row.product_type.value, row.product_type.value)),
            "plate": row.license_plate or row.embossed_name or "",
            "status": status_text(row.status.value),
            "expiry": day_text(row.expiry_date),
            "driver": row.driver_name or "",
            "division": row.division,
            "code_type": _(CODE_TYPE_LABELS[code_type]) if code_type in CODE_TYPE_LABELS else code_type,
            "created": day_text(row.created_at.date()) if row.created_at is not None else "",
            "category": row.category or "",
            "vehicle_type": row.vehicle_type or "",
        }
        return [cells[key] for key, _label, _width in self.columns()]

    def show_count(self) -> None:
        label = self.query_one("#card-count", Label)
        count = self.count or 0
        text = _("No card matches.") if count == 0 else \
            _("1 card matches.") if count == 1 else _("{count} cards match.").format(count=count)
        if self.marked:
            text += " " + _("{marked} marked.").format(marked=len(self.marked))
        label.update(text)

    # Typing and filters ------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "card-search" and not event.input.has_class("card-date"):
            return
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._search_now)

    def _search_now(self) -> None:
        self._search_timer = None
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
            self.reload()
        self.query_one(DataTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.reload()

    def on_key(self, event) -> None:
        # Down from the search field goes to the list, as a user expects.
        if event.key == "down" and self.focused is self.query_one("#card-search", Input):
            event.stop()
            self.query_one(DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - 1:
            self.load_more()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_actions()

    def action_advanced(self) -> None:
        """Show or hide the advanced filters; hiding them clears them, so what is hidden never filters."""
        panel = self.query_one("#card-advanced")
        if panel.display:
            panel.display = False
            for select_id in ("#card-type", "#card-renewal", "#card-division"):
                self.query_one(select_id, Select).value = ALL
            for field_id, _name, _label in DATE_FIELDS:
                self.query_one(f"#{field_id}", Input).value = ""
            self.query_one(MessageLine).clear()
            self.query_one("#card-search", Input).focus()
            self.reload()
        else:
            panel.display = True
            self.query_one("#card-type", Select).focus()
            self.load_divisions()

    @work(thread=True, exclusive=True, group="card-divisions", exit_on_error=False)
    def load_divisions(self) -> None:
        from store.queries.cards import card_divisions

        app, number = self.app, self.app.active_customer_number
        if number is None or app.session is None or self._divisions_for == number.id:
            return
        try:
            with app.db.session() as session:
                divisions = card_divisions(session, app.session.actor, number.id)
        except Exception:
            log.exception("Reading the divisions failed")
            return
        app.call_from_thread(self._set_divisions, number.id, divisions)

    def _set_divisions(self, number_id: int | None, divisions: list[tuple[int, str]]) -> None:
        self._divisions_for = number_id
        select = self.query_one("#card-division", Select)
        with self.prevent(Select.Changed):
            select.set_options([(_("All divisions"), ALL)] + [(name, str(i)) for i, name in divisions])
            select.value = ALL

    def action_next_view(self) -> None:
        """Cycle the list's columns through the views; the rows, the cursor and the marks stay."""
        ids = [view for view, _name, _columns in VIEWS]
        self.view = ids[(ids.index(self.view) + 1) % len(ids)]
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        for key, label, width in self.columns():
            table.add_column(_(label), key=key, width=width)
        for row in self.rows:
            table.add_row(*self.cells(row), key=str(row.id))
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))
        name = next(_(name) for view, name, _columns in VIEWS if view == self.view)
        self.query_one(MessageLine).show_info(_("View: {name}.").format(name=name))

    def action_export(self) -> None:
        from tui.screens.export_dialog import ExportDialog

        if self.app.active_customer_number is None or self.app.session is None:
            self.app.bell()
            return
        try:
            card_filter = self.card_filter()
        except FilterProblem as problem:
            self.query_one(MessageLine).show_error(str(problem))
            return

        def closed(text: str | None) -> None:
            line = self.query_one(MessageLine)
            if text:
                line.show_success(text)
            elif text == "":
                line.show_info(_("The export was cancelled: no file was written."))

        self.app.push_screen(ExportDialog(card_filter), closed)

    def action_focus_search(self) -> None:
        self.query_one("#card-search", Input).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    # Actions -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Letters typed in the search field are text, not actions.
        if action in ("card", "mark", "pin_reissue", "actions") and isinstance(self.focused, (Input, Select)):
            return False
        return True

    def current_row(self):
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_mark(self) -> None:
        row = self.current_row()
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row.number or row.license_plate or row.embossed_name or f"#{row.id}"
        table = self.query_one(DataTable)
        table.update_cell(str(row.id), "mark", "✓" if row.id in self.marked else "")
        if table.cursor_row + 1 < len(self.rows):
            table.move_cursor(row=table.cursor_row + 1)
        self.show_count()

    def action_actions(self) -> None:
        self.action_card("menu")

    def action_card(self, action: str) -> None:
        row = self.current_row()
        if row is None:
            self.app.bell()
            return
        self.query_one(MessageLine).clear()
        self.read_card(action, row.id)

    def action_pin_reissue(self) -> None:
        if self.marked:
            self.push_screen_pin(list(self.marked.items()))
        else:
            self.action_card("pin reissue")

    @work(thread=True, exclusive=True, group="card-read", exit_on_error=False)
    def read_card(self, action: str, card_id: int) -> None:
        from store.services.errors import DomainError

        try:
            card = load_card_info(self.app.db, self.app.session.actor, card_id)
        except DomainError as exc:
            self.post_message(self.CardRead(action, None, exc.message))
        except Exception:
            log.exception("Reading a card failed")
            self.post_message(self.CardRead(action, None, _("This card could not be read right now.")))
        else:
            self.post_message(self.CardRead(action, card))

    def on_card_list_screen_card_read(self, message: CardRead) -> None:
        card, line = message.card, self.query_one(MessageLine)
        if card is None:
            line.show_error(message.problem or "")
            return
        if message.action == "menu":
            self.app.push_screen(ActionsMenu(card), lambda chosen: self.start(chosen, card) if chosen else None)
        else:
            self.start(message.action, card)

    def start(self, action: str, card: CardInfo) -> None:
        """Open the dialog or form of `action`, unless the card's status refuses it (the store's reason)."""
        if action in ("change", "copy") and not card.refusals.get(action):
            from tui.screens.card_form import CardFormScreen

            self.app.push_screen(CardFormScreen(mode=action, card_id=card.id), lambda _r=None: self.reload())
            return
        start_card_action(self.app, action, card, self.action_done, self.query_one(MessageLine))

    def action_bulk(self) -> None:
        """Bulk actions (block, cancel, PIN reissue, move) on the marked rows, with a preview per card."""
        if not self.marked:
            self.query_one(MessageLine).show_error(_("Mark cards with Space first, then press a for bulk actions."))
            return
        from tui.screens.bulk_actions import BulkActionsScreen

        def closed(changed: bool | None) -> None:
            if changed:
                self.marked.clear()
                self.reload()

        self.app.push_screen(BulkActionsScreen(list(self.marked)), closed)

    def push_screen_pin(self, cards: list[tuple[int, str]]) -> None:
        def closed(sent: bool | None) -> None:
            if sent:
                self.marked.clear()
                self.reload()

        self.app.push_screen(PinReissueDialog(cards), closed)

    def action_done(self, text: str | None) -> None:
        """A dialog closed; `text` is its success message when it did something."""
        if text:
            self.query_one(MessageLine).show_success(text)
            row = self.current_row()
            self._keep = row.id if row else None
            self.reload()
