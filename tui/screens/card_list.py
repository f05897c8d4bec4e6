"""My cards and OBUs -> Manage cards and OBUs (Fiches 06, 09, 12, 13): quick search, paged list, actions.

The list reads the store's keyset pages (`store.queries.cards.search_cards`) into a bounded window of at most
WINDOW rows: when the cursor reaches the end of the window the next page is read and the first one dropped,
and the other way round at the top, so scrolling a 100,000-card fleet never holds more than a few pages. The
count of matches is read in a worker of its own, after the first rows show. Every action asks the store which
actions the card's state allows (`allowed_actions` / `refusal`); the dialogs are in tui/screens/card_actions.py.
"""
from __future__ import annotations

import logging
from datetime import date, datetime

from rich.cells import cell_len, set_cell_size
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select

from tui.i18n import N_, _, ngettext
from tui.i18n.labels import NP_, product_label, tr, weekday_short
from tui.screens.card_actions import (
    ActionsMenu,
    CardInfo,
    PinReissueDialog,
    day_text,
    load_card_info,
    start_card_action,
    status_text,
)
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

PAGE = 50  # rows read at a time
WINDOW = 150  # rows held at most (the DataTable and `rows`): a few pages around the cursor
SEARCH_DELAY = 0.3  # seconds of quiet typing before the search runs
ALL = "all"
STATUS_FILTERS = (
    (ALL, N_("All statuses")),
    ("new", NP_("card status", "New")),
    ("in production", N_("In production")),
    ("active", N_("Active")),
    ("blocked", N_("Blocked")),
    ("deleted", N_("Deleted")),
    ("expired", N_("Expired")),
)
TYPE_LABELS = {"fleet card": NP_("card type", "Card"), "passango obu": N_("OBU"), "libert obu": N_("OBU")}
TYPE_FILTERS = (
    (ALL, N_("All types")),
    ("fleet card", N_("Fleet Card")),
    ("passango obu", N_("PASSango OBU")),
    ("libert obu", N_("Liber-t OBU")),
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
# What identifies a card and its state comes first. In a terminal narrower than COMPACT_BELOW the list drops
# columns (see COMPACT) so that what is left fits without scrolling sideways.
COLUMNS = (
    ("mark", "", 1),
    ("number", N_("Number"), 18),
    ("rank", N_("Rk"), 2),
    ("type", N_("Type"), 5),  # nl "Kaart", fr "Carte"
    ("plate", N_("Plate/name"), 10),
    ("status", N_("Status"), 13),
    ("expiry", N_("Expiry"), 10),
    ("driver", N_("Driver"), 20),
    ("division", N_("Division"), 14),
    ("last_use", N_("Last use"), 10),
    ("renewal", N_("Renewal"), 13),
    ("linked", N_("Linked product"), 18),
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
LIMITS_COLUMNS = (
    ("mark", "", 1),
    ("plate", N_("Plate/name"), 10),
    ("limits", N_("Limits"), 36),
    ("limit_action", N_("On limit"), 12),
    ("not_allowed", N_("Not allowed"), 24),
    ("number", N_("Number"), 18),
)
CONTROLS_COLUMNS = (
    ("mark", "", 1),
    ("plate", N_("Plate/name"), 10),
    ("weekdays", N_("Days"), 11),
    ("hours", N_("Hours"), 11),
    ("countries", N_("Countries"), 14),
    ("max_tx", N_("Tx/day"), 6),
    ("odometer", N_("Odometer"), 8),
    ("tank", N_("Tank"), 6),
    ("forbidden", N_("Forbidden days"), 15),  # fr "Jours interdits"
    ("number", N_("Number"), 18),
)
# The view switch: (id, name, columns), in the order the key cycles through them.
VIEWS = (
    ("general", N_("General"), COLUMNS),
    ("settings", N_("Card/badge settings"), SETTINGS_COLUMNS),
    ("limits", N_("Limits"), LIMITS_COLUMNS),
    ("controls", N_("Controls"), CONTROLS_COLUMNS),
)
SETTINGS_VIEWS = ("limits", "controls")  # the views that show `card_settings`
# A list narrower than this (the table's width in cells, the terminal's) fits its width: at 80 columns,
# scrolling sideways to reach the driver was easy to miss. From this width on, every column shows and the list
# scrolls sideways.
COMPACT_BELOW = 100
# Per view, to fit a narrow list: the columns to drop, least important first, as long as the rest does not fit,
# and the columns that may be narrower than their width (the text then ends in "…"), with their least width.
COMPACT = {
    "general": (("linked", "renewal", "last_use", "division", "rank", "type"), {"driver": 10}),
    "settings": (("rank", "created"), {"category": 10, "vehicle_type": 10}),
    "limits": (("number",), {"limits": 24, "not_allowed": 12}),
    "controls": (("number", "forbidden", "tank"), {"countries": 8}),
}
CELL_PADDING = 2  # DataTable's default cell padding, one cell on either side of a column
# The sort choices: every sortable column of the store (`store.queries.cards.SORT_COLUMNS`), by name.
SORT_LABELS = {
    "plate": N_("Plate/name"),
    "number": N_("Number"),
    "rank": N_("Rank"),
    "type": N_("Type"),
    "status": N_("Status"),
    "renewal": N_("Renewal"),
    "expiry": N_("Expiry"),
    "last_use": N_("Last use"),
    "driver": N_("Driver"),
    "division": N_("Division"),
    "created": N_("Created"),
    "code_type": N_("Code type"),
    "category": N_("Category"),
    "vehicle_type": N_("Vehicle type"),
}
RENEWAL_LABELS = {
    "none": "—",
    "candidate for renewal": N_("Candidate"),
    "in renewal": N_("In renewal"),
    "renewed": N_("Renewed"),
    "cancelled": N_("Not renewed"),
}
PERIOD_LABELS = {"transaction": N_("transaction"), "day": N_("day"), "week": N_("week"), "month": N_("month")}
LIMIT_ACTION_LABELS = {"block": N_("block"), "notify": N_("notify")}


def sort_value(column: str, descending: bool) -> str:
    """The sort select's value of a sort: "plate:asc", "expiry:desc"."""
    return f"{column}:{'desc' if descending else 'asc'}"


def sort_option(column: str, descending: bool) -> str:
    name = _(SORT_LABELS.get(column, column))
    return _("Sort: {column} ↓").format(column=name) if descending else _("Sort: {column} ↑").format(column=name)


def fit_columns(columns, room: int, drop: tuple[str, ...] = (), least: dict[str, int] | None = None) -> tuple:
    """The (key, label, width) columns that fit `room` cells: all of them when they fit; else without the
    columns of `drop` (in that order) until the rest fits with the
    `least` widths (then without the last ones), the room left shared out in column order up to each column's
    own width."""
    least = least or {}

    def total(cols, widths) -> int:
        return sum(widths(key, width) + CELL_PADDING for key, _label, width in cols)

    headers = {key: cell_len(label) for key, label, _width in columns}

    def narrowest(key, width):  # never narrower than the header, which DataTable would cut without "…"
        return min(width, max(least.get(key, width), headers[key]))

    if total(columns, lambda _k, width: width) <= room:
        return tuple(columns)
    kept = list(columns)
    for key in drop:
        if total(kept, narrowest) <= room:
            break
        kept = [column for column in kept if column[0] != key]
    while len(kept) > 2 and total(kept, narrowest) > room:  # longer headers (a language, the sort arrow)
        kept.pop()
    spare = room - total(kept, narrowest)
    fitted = []
    for key, label, width in kept:
        narrow = narrowest(key, width)
        grown = narrow + max(0, min(spare, width - narrow))
        spare -= grown - narrow
        fitted.append((key, label, grown))
    return tuple(fitted)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` cells, ending in "…" when cut."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + "…"


def _number(value) -> str:
    """A Decimal without the database's padding: 300.00 -> 300, 12.500 -> 12.5."""
    text = f"{value.normalize():f}"
    return text


def limits_text(settings) -> tuple[str, str, str]:
    """A card's limits in three cells: the limits ("Diesel 300 €/week · AdBlue 50 l/day"), what reaching them
    does (block, notify) and the products that may not be bought."""
    from store.models import Product

    limits, actions, refused = [], [], []
    for limit in settings.limits:
        name = product_label(limit.product)
        if not limit.allowed:
            refused.append(name)
            continue
        amounts = []
        if limit.amount is not None:
            amounts.append(f"{_number(limit.amount)} €")
        if limit.volume is not None:
            amounts.append(f"{_number(limit.volume)} {'kWh' if limit.product is Product.EV_CHARGING else 'l'}")
        if amounts:
            limits.append(f"{name} {' + '.join(amounts)}/{_(PERIOD_LABELS[limit.period.value])}")
            if limit.action.value not in actions:
                actions.append(limit.action.value)
        else:
            limits.append(_("{product} no limit").format(product=name))
    shown = "/".join(_(label) for action, label in LIMIT_ACTION_LABELS.items() if action in actions)
    return (" · ".join(limits) or _("no limits"), shown or "—", ", ".join(refused) or "—")


def controls_text(settings) -> dict[str, str]:
    """A card's controls as the Controls view's cells (weekdays "Mon–Fri", hours "06:00–20:00", …)."""
    from store.queries.card_settings import weekday_runs

    runs = weekday_runs(settings.allowed_weekdays)
    if runs == [(1, 7)]:
        days = _("all")
    elif not runs:
        days = _("none")
    else:
        days = " ".join(
            weekday_short(first) if first == last else
            f"{weekday_short(first)}{',' if last == first + 1 else '–'}{weekday_short(last)}"
            for first, last in runs)
    if settings.hours_from or settings.hours_to:
        hours = f"{settings.hours_from or '00:00'}–{settings.hours_to or '24:00'}"
    else:
        hours = _("all day")
    return {
        "weekdays": days,
        "hours": hours,
        "countries": " ".join(settings.allowed_countries) or _("all"),
        "max_tx": str(settings.max_transactions_per_day) if settings.max_transactions_per_day else "—",
        "odometer": _("yes") if settings.odometer_prompt else _("no"),
        "tank": f"{_number(settings.tank_capacity_l)} l" if settings.tank_capacity_l is not None else "—",
        "forbidden": " ".join(f"{day:%d/%m}" for day in settings.forbidden_days) or "—",
    }


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


class CardTable(DataTable):
    """The list: the cursor keys cross the window's edges (the screen reads the neighbouring page first), Home
    and End go to the first and the last page of the whole result, Shift+arrows mark while moving."""

    BINDINGS = [
        Binding("home,ctrl+home", "first_page", N_("First page"), id="card_first_page", show=False),
        Binding("end,ctrl+end", "last_page", N_("Last page"), id="card_last_page", show=False),
        Binding("shift+down", "mark_down", N_("Mark down"), id="card_mark_down", show=False),
        Binding("shift+up", "mark_up", N_("Mark up"), id="card_mark_up", show=False),
    ]

    @property
    def list_screen(self) -> CardListScreen:
        return self.screen  # type: ignore[return-value]

    def action_cursor_down(self) -> None:
        if not self.list_screen.cross("down", "cursor_down"):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self.list_screen.cross("up", "cursor_up"):
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not self.list_screen.cross("down", "page_down"):
            super().action_page_down()

    def action_page_up(self) -> None:
        if not self.list_screen.cross("up", "page_up"):
            super().action_page_up()

    def action_first_page(self) -> None:
        self.list_screen.action_first_page()

    def action_last_page(self) -> None:
        self.list_screen.action_last_page()

    def action_mark_down(self) -> None:
        self._mark_move("down")

    def action_mark_up(self) -> None:
        self._mark_move("up")

    def _mark_move(self, direction: str) -> None:
        """Mark the highlighted card, move, and mark the next one: a range, across windows."""
        screen = self.list_screen
        screen.set_mark(screen.current_row(), True)
        if screen.cross(direction, f"mark_{direction}"):
            return  # repeated once the neighbouring page is read
        before = self.cursor_row
        if direction == "down":
            super().action_cursor_down()
        else:
            super().action_cursor_up()
        if self.cursor_row != before:
            screen.set_mark(screen.current_row(), True)


class CardListScreen(Screen[None]):
    CSS_PATH = "../styles/card_list.tcss"
    AUTO_FOCUS = "#card-search"
    TITLE = N_("Manage cards and OBUs")
    HELP = N_("Type part of a card number, licence plate or driver name to narrow the list; the status filter "
              "narrows it further, and the sort choice (or a click on a column header) orders it on any column. "
              "The list reads the cards a few pages at a time as you move through it. In the list, Enter opens "
              "the actions the card's status allows, or press an action's key directly. Space marks cards, "
              "Shift+arrows mark a range, Ctrl+A marks every card that matches the filter; a opens the bulk "
              "actions on what is marked.")
    HELP_KEYS = (
        (N_("Typing"), N_("Search as you type (number, plate, driver)")),
        (N_("↓ / Tab"), N_("From the search to the list")),
        (N_("↑ ↓ PgUp PgDn"), N_("Move through the list; the next or previous page is read as you go")),
        (N_("Home / End"), N_("The first or the last page (Ctrl+Home / Ctrl+End from the search too)")),
        (N_("Enter"), N_("The actions of the highlighted card")),
        (N_("v c o b d x r p"), N_("View, change, copy, block, delete, cancel, renew, PIN reissue (marked cards)")),
        (N_("Space"), N_("Mark or unmark the highlighted card")),
        (N_("Shift+↓ / Shift+↑"), N_("Mark while moving: a range of cards")),
        (N_("Ctrl+A"), N_("Mark all the cards that match the filter (again: unmark)")),
        (N_("a"), N_("Bulk actions on the marked cards (or on all that match)")),
        (N_("F7"), N_("Sort: choose the column and the direction; a click on a column header sorts too")),
        (N_("Ctrl+F"), N_("Advanced filters: type, renewal, division, expiry and last use (dd/mm/yyyy)")),
        (N_("Ctrl+E"), N_("Export every matching card to Excel")),
        (N_("F6"), N_("Switch view: General, Card/badge settings, Limits, Controls")),
    )
    # At 80 columns the footer shows what is used most: marking, bulk, sort, views, filters (and F1 Help from
    # the app). The card actions are one Enter away (the actions menu names their keys) and in F1.
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back", show=False),
        Binding("enter", "actions", N_("Actions"), id="card_actions", show=False),
        Binding("space", "mark", N_("Mark"), id="card_mark"),
        # Priority: the search field would otherwise take ctrl+a (line start; Home does it too).
        Binding("ctrl+a", "mark_all", N_("Mark all"), id="card_mark_all", priority=True),
        Binding("a", "bulk", N_("Bulk"), id="card_bulk"),
        Binding("f7", "sort", N_("Sort"), id="card_sort"),
        Binding("f6", "next_view", N_("Views"), id="card_view_switch"),
        # Priority: the search field would otherwise take ctrl+f (delete word) and ctrl+e (end; End does it too).
        Binding("ctrl+f", "advanced", N_("Filters"), id="card_advanced_filters", priority=True),
        Binding("ctrl+e", "export", N_("Export"), id="card_export", priority=True, show=False),
        Binding("v", "card('view')", N_("View details"), id="card_view", show=False),
        Binding("c", "card('change')", N_("Change"), id="card_change", show=False),
        Binding("o", "card('copy')", N_("Copy"), id="card_copy", show=False),
        Binding("b", "card('block')", N_("Block"), id="card_block", show=False),
        Binding("d", "card('delete')", N_("Delete"), id="card_delete", show=False),
        Binding("x", "card('cancel')", N_("Cancel"), id="card_cancel", show=False),
        Binding("r", "card('renew')", N_("Renew"), id="card_renew", show=False),
        Binding("p", "pin_reissue", N_("PIN"), id="card_pin_reissue", show=False),
        Binding("slash", "focus_search", N_("Search"), id="card_search", show=False),
        Binding("ctrl+home", "first_page", N_("First page"), id="card_list_first_page", show=False),
        Binding("ctrl+end", "last_page", N_("Last page"), id="card_list_last_page", show=False),
    ]

    class Loaded(Message):
        """A page (or the window again) read by `fetch`. `mode`: first, after, before, last or refresh.

        `more`: there is more beyond the page in the direction it was read; `more_before` (refresh only):
        there are cards before its first row."""

        def __init__(self, generation: int, window: int, mode: str, rows: list, more: bool,
                     settings: dict | None = None, problem: str | None = None, more_before: bool = False) -> None:
            super().__init__()
            self.generation = generation
            self.window = window
            self.mode = mode
            self.rows = rows
            self.more = more
            self.settings = settings or {}
            self.problem = problem
            self.more_before = more_before

    class Counted(Message):
        def __init__(self, generation: int, count: int | None) -> None:
            super().__init__()
            self.generation = generation
            self.count = count

    class SettingsLoaded(Message):
        def __init__(self, generation: int, settings: dict) -> None:
            super().__init__()
            self.generation = generation
            self.settings = settings

    class CardRead(Message):
        def __init__(self, action: str, card: CardInfo | None, problem: str | None = None) -> None:
            super().__init__()
            self.action = action
            self.card = card
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []  # the CardRows of the window, in order (at most WINDOW)
        self.marked: dict[int, str] = {}  # card id -> label: the marks survive searches and window moves
        self.all_matching = False  # "mark all": every card matching the filter, not a list of ids
        self.settings: dict = {}  # card id -> CardSettings, for the rows of the window (Limits, Controls)
        self.count: int | None = None  # None: not counted yet
        self.more_after = False  # there are cards after the window's last row
        self.more_before = False  # there are cards before the window's first row
        self.fetching = False
        self.generation = 0  # of the search (filter, sort): an older one never overwrites a newer one
        self.window_generation = 0  # of the window's position: Home/End overtake a move on its way
        self.sort = None  # a store CardSort; None until composed
        self._query: tuple | None = None  # (customer number id, CardFilter, CardSort) of the rows shown
        self._pending: list[str] = []  # CardTable actions (keys) to repeat once the window has moved
        self._need_count = False
        self._mark_hint = False  # the message line asks to mark cards first
        self._search_timer: Timer | None = None
        self._keep: int | None = None  # the card to keep highlighted when the list reloads after an action
        self._first_load = True
        self.view = VIEWS[0][0]
        self.shown_columns: tuple = ()  # (key, header, width) of the columns shown, as `_fit` chose them
        self._divisions_for: int | None = None  # the customer number whose divisions the filter offers
        self._filter_error = False  # the message line shows a filter field's problem

    def compose(self) -> ComposeResult:
        from store.queries.cards import SORT_COLUMNS, CardSort

        self.sort = CardSort()
        yield SessionHeader()
        with Horizontal(id="card-filters"):
            yield Input(placeholder=_("Search number, plate or driver"), id="card-search")
            yield Select([(tr(label), value) for value, label in STATUS_FILTERS], value=ALL, allow_blank=False,
                         id="card-status")
            yield Select([(sort_option(column, descending), sort_value(column, descending))
                          for column in SORT_COLUMNS for descending in (False, True)],
                         value=sort_value(self.sort.column, self.sort.descending), allow_blank=False,
                         id="card-sort")
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
        table = CardTable(id="card-table", cursor_type="row", zebra_stripes=True)
        self._add_columns(table)
        yield table
        yield MessageLine(id="card-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.marked.clear()
        self.all_matching = False
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

    def reload(self, keep_position: bool = False) -> None:
        """Read the first page again with the current filters and sort, then count the matches.

        `keep_position`: read the window again from where it starts (after an action), not the first page."""
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
        self.window_generation += 1
        self._query = (number.id, card_filter, self.sort)
        self._pending = []
        self._need_count = True
        self.count = None
        self.fetching = True
        self.query_one("#card-count", Label).update(_("Searching…"))
        if keep_position and self.rows:
            self._fetch("refresh", self.rows[0].after)
        else:
            self._fetch("first")

    def _fetch(self, mode: str, anchor: tuple | None = None) -> None:
        number_id, card_filter, sort = self._query
        self.fetching = True
        self.fetch(self.generation, self.window_generation, number_id, card_filter, sort, mode, anchor,
                   self.view in SETTINGS_VIEWS, max(len(self.rows), PAGE))

    def move_window(self, direction: str) -> None:
        """Read the page after the window ("down") or before it ("up"), unless one is on its way already."""
        if self.fetching or self._query is None or not self.rows:
            return
        if direction == "down" and self.more_after:
            self._fetch("after", self.rows[-1].after)
        elif direction == "up" and self.more_before:
            self._fetch("before", self.rows[0].after)

    def cross(self, direction: str, action: str) -> bool:
        """The table's cursor is to go one step `direction` past the window's edge: when there is more that way,
        read it and repeat `action` once it is there (True); False: the table moves as usual."""
        table = self.query_one(DataTable)
        if not self.rows:
            return False
        at_edge = table.cursor_row >= len(self.rows) - 1 if direction == "down" else table.cursor_row <= 0
        more = self.more_after if direction == "down" else self.more_before
        if not (at_edge and more):
            return False
        if len(self._pending) < WINDOW:  # keys held down while the page is read are not lost
            self._pending.append(action)
        self.move_window(direction)
        return True

    @work(thread=True, group="card-list", exit_on_error=False)
    def fetch(self, generation: int, window: int, number_id: int, card_filter, sort, mode: str,
              anchor: tuple | None, with_settings: bool, size: int) -> None:
        from store.queries.card_settings import card_settings
        from store.queries.cards import search_cards
        from store.services.errors import DomainError

        app = self.app
        actor = app.session.actor
        more_before = False
        try:
            with app.db.session() as session:
                def page(limit: int = PAGE + 1, **where) -> list:
                    return search_cards(session, actor, number_id, card_filter, limit=limit, sort=sort, **where)

                if mode == "after":
                    rows = page(after=anchor)
                elif mode == "before":
                    rows = page(before=anchor)
                elif mode == "last":
                    rows = page(last=True)
                elif mode == "refresh":  # the window again, from the row before its first one
                    previous = page(limit=1, before=anchor)
                    more_before = bool(previous)
                    rows = page(limit=size + 1, after=previous[0].after if previous else None)
                else:
                    rows = page()
                limit = size if mode == "refresh" else PAGE
                more = len(rows) > limit
                # Backwards pages come in display order: their extra row is the first one.
                rows = (rows[-limit:] if mode in ("before", "last") else rows[:limit]) if more else rows
                settings = card_settings(session, actor, [row.id for row in rows]) if with_settings else {}
        except DomainError as exc:
            self.post_message(self.Loaded(generation, window, mode, [], False, problem=exc.message))
        except Exception:
            log.exception("Card search failed")
            self.post_message(self.Loaded(generation, window, mode, [], False,
                                          problem=_("The cards could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.Loaded(generation, window, mode, rows, more, settings, more_before=more_before))

    @work(thread=True, group="card-count", exit_on_error=False)
    def count_matches(self, generation: int, number_id: int, card_filter) -> None:
        from store.queries.cards import count_cards
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                count = count_cards(session, app.session.actor, number_id, card_filter)
        except DomainError:  # a refusal (no right): the list shows it, the count stays empty
            count = None
        except Exception:
            log.exception("Counting the cards failed")
            count = None
        self.post_message(self.Counted(generation, count))

    @work(thread=True, group="card-settings", exit_on_error=False)
    def load_settings(self, generation: int, card_ids: list[int]) -> None:
        from store.queries.card_settings import card_settings

        app = self.app
        try:
            with app.db.session() as session:
                settings = card_settings(session, app.session.actor, card_ids)
        except Exception:
            log.exception("Reading the card settings failed")
            return
        self.post_message(self.SettingsLoaded(generation, settings))

    def on_card_list_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation or message.window != self.window_generation:
            return  # an older search or window position, overtaken by a newer one
        self.fetching = False
        table = self.query_one(DataTable)
        mode = message.mode
        if message.problem:
            self._pending = []
            self.query_one(MessageLine).show_error(message.problem)
            if mode in ("after", "before"):
                return  # the window stays as it is
        current = self.current_row()
        old_cursor = table.cursor_row
        keep = current.id if current is not None else None
        rows = message.rows
        if mode == "first":
            self.more_before, self.more_after = False, message.more
            keep, cursor = self._keep, 0
        elif mode == "last":
            self.more_before, self.more_after = message.more, False
            keep, cursor = None, len(rows) - 1
        elif mode == "refresh":
            self.more_before, self.more_after = message.more_before, message.more
            keep, cursor = self._keep, min(max(old_cursor, 0), len(rows) - 1)
        elif mode == "after":
            self.more_after = message.more
            rows = self.rows + rows
            if len(rows) > WINDOW:
                rows = rows[len(rows) - WINDOW:]
                self.more_before = True
            cursor = old_cursor
        else:  # before
            self.more_before = message.more
            rows = rows + self.rows
            if len(rows) > WINDOW:
                rows = rows[:WINDOW]
                self.more_after = True
            cursor = old_cursor
        self._keep = None
        ids = [row.id for row in rows]
        if keep is not None and keep in ids:
            cursor = ids.index(keep)
        shift = cursor - old_cursor if mode in ("after", "before") else None
        self.rows = rows
        self.settings = {card_id: s for card_id, s in {**self.settings, **message.settings}.items()
                         if card_id in set(ids)}
        self._fill_table(max(cursor, 0), shift)
        if self._first_load:
            # Textual moves the focus off the search field while the screen first lays out: put it back.
            self._first_load = False
            self.set_focus(self.query_one("#card-search", Input))
        if self._need_count and mode in ("first", "refresh"):
            self._need_count = False
            number_id, card_filter, _sort = self._query
            self.count_matches(self.generation, number_id, card_filter)
        self.show_count()
        pending, self._pending = self._pending, []
        if mode not in ("after", "before"):
            return
        for index, action in enumerate(pending):
            getattr(table, f"action_{action}")()
            if self.fetching:  # the key crossed the next edge: the rest waits for that page
                self._pending += pending[index + 1:]
                return
        self._edge_reached()  # a window move at the edge may meet the next edge at once (tiny pages)

    def on_card_list_screen_counted(self, message: Counted) -> None:
        if message.generation != self.generation:
            return
        self.count = message.count
        self.show_count()

    def on_card_list_screen_settings_loaded(self, message: SettingsLoaded) -> None:
        if message.generation != self.generation:
            return
        ids = {row.id for row in self.rows}
        self.settings.update({card_id: s for card_id, s in message.settings.items() if card_id in ids})
        if self.view in SETTINGS_VIEWS:
            self._fill_table(self.query_one(DataTable).cursor_row)

    def _add_columns(self, table: DataTable) -> None:
        self.shown_columns = self._fit(table)
        for key, text, width in self.shown_columns:
            table.add_column(text, key=key, width=width)

    def _fit(self, table: DataTable) -> tuple:
        """The view's columns as (key, header, width) that fit the table's width (see COMPACT_BELOW)."""
        arrow = "↓" if self.sort is not None and self.sort.descending else "↑"
        columns = []
        for key, label, width in next(columns for view, _name, columns in VIEWS if view == self.view):
            text = _(label)
            if self.sort is not None and key == self.sort.column:
                text = f"{text} {arrow}" if len(text) + 2 <= width else f"{text}{arrow}"
                width = max(width, len(text))
            columns.append((key, text, width))
        # Before the first layout the table has no size yet: the screen's width, as the table spans it.
        width = table.size.width or self.app.size.width
        if width >= COMPACT_BELOW:
            return tuple(columns)
        drop, least = COMPACT.get(self.view, ((), {}))
        return fit_columns(columns, width - table.styles.scrollbar_size_vertical, drop, least)

    def on_resize(self) -> None:
        table = self.query_one(DataTable)
        if self._fit(table) != self.shown_columns:
            self._fill_table(table.cursor_row, columns=True)

    def _fill_table(self, cursor: int, shift: int | None = None, columns: bool = False) -> None:
        """Show `self.rows` with the cursor on row `cursor`; `shift`: the rows the highlighted card moved by (a
        window move), so that it stays where it was on the screen."""
        table = self.query_one(DataTable)
        scroll_y = table.scroll_y
        scroll_x = table.scroll_x
        table.clear(columns=columns)
        if columns:
            self._add_columns(table)
        for row in self.rows:
            table.add_row(*self.cells(row), key=str(row.id))
        if not self.rows:
            return
        cursor = min(max(cursor, 0), len(self.rows) - 1)
        if shift is None:
            table.move_cursor(row=cursor, animate=False)
            return
        table.move_cursor(row=cursor, scroll=False)
        y = max(scroll_y + shift, 0)
        table.call_after_refresh(table.scroll_to, x=scroll_x, y=y, animate=False, force=True)

    def columns(self) -> tuple:
        """The (key, header, width) of the columns shown, as the table's width allows."""
        return self.shown_columns

    def cells(self, row) -> list[str]:
        code_type = row.code_type.value if row.code_type is not None else ""
        cells = {
            "mark": "✓" if self.is_marked(row.id) else "",
            "number": row.number or _("(none yet)"),
            "rank": str(row.rank),
            "type": tr(TYPE_LABELS.get(row.product_type.value, row.product_type.value)),
            "plate": row.license_plate or row.embossed_name or "",
            "status": status_text(row.status.value),
            "expiry": day_text(row.expiry_date),
            "driver": row.driver_name or "",
            "division": row.division,
            "linked": row.linked_product or "",
            "code_type": _(CODE_TYPE_LABELS[code_type]) if code_type in CODE_TYPE_LABELS else code_type,
            "created": day_text(row.created_at.date()) if row.created_at is not None else "",
            "category": row.category or "",
            "vehicle_type": row.vehicle_type or "",
        }
        keys = [key for key, _label, _width in self.columns()]
        if "last_use" in keys:
            used = row.last_used_at
            cells["last_use"] = day_text(self.app.session.local(used).date()) if used is not None else "—"
        if "renewal" in keys:
            renewal = row.renewal_status.value
            cells["renewal"] = _(RENEWAL_LABELS[renewal]) if renewal in RENEWAL_LABELS else renewal
        if self.view in SETTINGS_VIEWS:
            settings = self.settings.get(row.id)
            if settings is None:
                cells.update(dict.fromkeys(keys[1:], "…") | {"plate": cells["plate"], "number": cells["number"]})
            elif self.view == "limits":
                cells["limits"], cells["limit_action"], cells["not_allowed"] = limits_text(settings)
            else:
                cells.update(controls_text(settings))
        return [clip(cells[key], width) for key, _label, width in self.columns()]

    def is_marked(self, card_id: int) -> bool:
        return self.all_matching or card_id in self.marked

    def show_count(self) -> None:
        label = self.query_one("#card-count", Label)
        count = self.count
        if self.all_matching:
            text = _("All cards that match are marked (counting…).") if count is None else \
                _("The card that matches is marked.") if count == 1 else \
                _("All {count} cards that match are marked.").format(count=count)
            label.update(text)
            return
        text = _("Counting…") if count is None else _("No card matches.") if count == 0 else \
            ngettext("{count} card matches.", "{count} cards match.", count).format(count=count)
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
        if event.select.id == "card-sort":
            from store.queries.cards import CardSort

            column, _sep, direction = str(event.value).partition(":")
            sort = CardSort(column, direction == "desc")
            if sort == self.sort:
                return
            self.sort = sort
            # The arrow moves to the sorted column's header; the rows come again from the first page.
            self.rows = []
            self._fill_table(0, columns=True)
        self.reload()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column header sorts on that column; a second click reverses the order."""
        event.stop()
        column = event.column_key.value
        if column not in SORT_LABELS or self.sort is None:
            return
        descending = not self.sort.descending if column == self.sort.column else False
        self.query_one("#card-sort", Select).value = sort_value(column, descending)  # Select.Changed reloads

    def action_sort(self) -> None:
        select = self.query_one("#card-sort", Select)
        select.focus()
        select.expanded = True

    def on_key(self, event) -> None:
        # Down from the search field goes to the list, as a user expects.
        if event.key == "down" and self.focused is self.query_one("#card-search", Input):
            event.stop()
            self.query_one(DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._edge_reached()

    def _edge_reached(self) -> None:
        """The cursor on the window's first or last row: read the neighbouring page before it is needed."""
        table = self.query_one(DataTable)
        if not self.rows or self.fetching:
            return
        if table.cursor_row >= len(self.rows) - 1:
            self.move_window("down")
        elif table.cursor_row <= 0:
            self.move_window("up")

    def action_first_page(self) -> None:
        """Home: the first page of the whole result (read again only when the window does not start there)."""
        table = self.query_one(DataTable)
        if not self.more_before:
            if self.rows:
                table.move_cursor(row=0, animate=False)
            return
        self._jump("first")

    def action_last_page(self) -> None:
        """End: the last page of the whole result."""
        table = self.query_one(DataTable)
        if not self.more_after:
            if self.rows:
                table.move_cursor(row=len(self.rows) - 1, animate=False)
            return
        self._jump("last")

    def _jump(self, mode: str) -> None:
        if self._query is None:
            return
        self.window_generation += 1  # a window move on its way is overtaken
        self._pending = []
        self._keep = None
        self._fetch(mode)

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
        self._fill_table(self.query_one(DataTable).cursor_row, columns=True)
        if self.view in SETTINGS_VIEWS:
            missing = [row.id for row in self.rows if row.id not in self.settings]
            if missing:
                self.load_settings(self.generation, missing)
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

    def set_mark(self, row, marked: bool) -> None:
        """Mark or unmark one card (by id: the mark stays when the row leaves the window)."""
        if row is None:
            return
        if marked:
            self.marked[row.id] = row.number or row.license_plate or row.embossed_name or f"#{row.id}"
        else:
            self.marked.pop(row.id, None)
        self.query_one(DataTable).update_cell(str(row.id), "mark", "✓" if self.is_marked(row.id) else "")
        self._marks_changed()

    def _marks_changed(self) -> None:
        if self._mark_hint and (self.marked or self.all_matching):
            self._mark_hint = False
            self.query_one(MessageLine).clear()
        self.show_count()

    def _refresh_marks(self) -> None:
        table = self.query_one(DataTable)
        for row in self.rows:
            table.update_cell(str(row.id), "mark", "✓" if self.is_marked(row.id) else "")
        self._marks_changed()

    def action_mark(self) -> None:
        if self.all_matching:  # Space ends "all that match"
            self.all_matching = False
            self._refresh_marks()
            return
        row = self.current_row()
        if row is None:
            return
        self.set_mark(row, row.id not in self.marked)
        table = self.query_one(DataTable)
        if table.cursor_row + 1 < len(self.rows):
            table.move_cursor(row=table.cursor_row + 1)
        else:
            self.cross("down", "cursor_down")

    def action_mark_all(self) -> None:
        """Mark every card that matches the filter (not just the rows read so far); again: unmark all."""
        if self.all_matching:
            self.all_matching = False
        else:
            self.all_matching = True
            self.marked.clear()
        self._refresh_marks()

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
        if self.all_matching:
            self.query_one(MessageLine).show_info(
                _("For every card that matches, press a for the bulk actions (PIN reissue is one of them)."))
        elif self.marked:
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

            self.app.push_screen(CardFormScreen(mode=action, card_id=card.id),
                                 lambda _r=None: self.reload(keep_position=True))
            return
        start_card_action(self.app, action, card, self.action_done, self.query_one(MessageLine))

    def action_bulk(self) -> None:
        """Bulk actions (block, cancel, PIN reissue, move) on the marked rows, with a preview per card."""
        if not self.marked and not self.all_matching:
            self._mark_hint = True
            self.query_one(MessageLine).show_error(_("Mark cards with Space first, then press a for bulk actions."))
            return
        from tui.screens.bulk_actions import BulkActionsScreen

        if self.all_matching:
            try:
                selection = self.card_filter()
            except FilterProblem as problem:
                self.query_one(MessageLine).show_error(str(problem))
                return
        else:
            selection = list(self.marked)

        def closed(changed: bool | None) -> None:
            if changed:
                self.marked.clear()
                self.all_matching = False
                self.reload(keep_position=True)

        self.app.push_screen(BulkActionsScreen(selection), closed)

    def push_screen_pin(self, cards: list[tuple[int, str]]) -> None:
        def closed(sent: bool | None) -> None:
            if sent:
                self.marked.clear()
                self.reload(keep_position=True)

        self.app.push_screen(PinReissueDialog(cards), closed)

    def action_done(self, text: str | None) -> None:
        """A dialog closed; `text` is its success message when it did something."""
        if text:
            self.query_one(MessageLine).show_success(text)
            row = self.current_row()
            self._keep = row.id if row else None
            self.reload(keep_position=True)
