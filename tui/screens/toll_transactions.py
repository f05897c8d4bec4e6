"""Daily follow-up -> PASSango transactions (Fiche 02): the toll transactions of the OBUs (PASSango, Liber-t).

A toll transaction belongs to the day of its exit, a local day in the customer's time zone. The screen opens on
yesterday; From and To (dd/mm/yyyy) choose a range of days (at most a year), `[` and `]` move the range back
and forth by its own length. Filters: OBU number or plate, fleet division, toll operator, country. The totals
line counts every matching transaction with the amounts excluding and including VAT; the list reads a few pages
at a time (`tui.widgets.paged_table`). Read only, through `store.queries.transactions`.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Select, Static

from tui.i18n import N_, _, pgettext
from tui.screens.daily_transactions import card_text, money, rate_text, totals_text
from tui.screens.my_requests import parse_day
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

log = logging.getLogger(__name__)

CSS = "../styles/daily_followup.tcss"
ALL = "all"
COLUMNS = (
    ("exit", N_("Exit"), 11),
    ("obu", N_("OBU/plate"), 11),
    ("operator", N_("Operator"), 20),
    ("country", N_("Ctry"), 4),
    ("class", N_("Class"), 5),
    ("incl", N_("Incl. VAT"), 9),
)


class TollTransactionsScreen(Screen[None]):
    CSS_PATH = CSS
    AUTO_FOCUS = "#toll-table"
    TITLE = N_("PASSango transactions")
    HELP = N_("The toll transactions of your OBUs (PASSango, Liber-t) for the active customer number (F3 "
              "switches it), by the day of the exit in your company's time zone; it opens on yesterday. The line "
              "above the list totals every matching transaction.")
    HELP_KEYS = (  # the footer's keys are listed after these
        (N_("t"), N_("Back to yesterday")),
        (N_("/"), N_("Filter by OBU number or plate")),
        (N_("Ctrl+R"), N_("Clear the filters")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("left_square_bracket", "shift(-1)", N_("Previous"), id="toll_previous_period"),
        Binding("right_square_bracket", "shift(1)", N_("Next"), id="toll_next_period"),
        Binding("ctrl+d", "choose_day", N_("Days"), id="toll_choose_days", priority=True),
        Binding("t", "yesterday", N_("Yesterday"), id="toll_yesterday", show=False),
        Binding("slash", "search", N_("Filter"), id="toll_search", show=False),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="toll_clear", show=False),
        Binding("f5", "refresh", N_("Refresh"), id="toll_refresh", show=False),
    ]

    class TotalsLoaded(Message):
        def __init__(self, generation: int, totals, divisions: list | None, operators: list | None,
                     problem: str | None = None) -> None:
            super().__init__()
            self.generation, self.totals, self.problem = generation, totals, problem
            self.divisions, self.operators = divisions, operators

    def __init__(self) -> None:
        super().__init__()
        self.day_from: date | None = None
        self.day_to: date | None = None
        self.generation = 0
        self._divisions_of: int | None = None
        self._operators_read = False
        self._days_shown: tuple[str, str] = ("", "")
        self._shown: tuple | None = None  # the (from, to, filter) the list shows

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="toll-days", classes="followup-bar"):
            yield Label(_("From"), classes="followup-label")
            yield Input(id="toll-from", max_length=10, compact=True, placeholder=_("dd/mm/yyyy"))
            yield Label(pgettext("date bound", "To"), classes="followup-label")
            yield Input(id="toll-to", max_length=10, compact=True, placeholder=_("dd/mm/yyyy"))
            yield Label(_("[ ] previous/next period"), classes="followup-hint", markup=False)
        with Horizontal(id="toll-filters", classes="followup-bar"):
            yield Input(placeholder=_("OBU or plate"), id="toll-text", compact=True)
            yield Select([(_("Every division"), ALL)], value=ALL, allow_blank=False, id="toll-division",
                         compact=True)
            yield Select([(_("Every operator"), ALL)], value=ALL, allow_blank=False, id="toll-operator",
                         compact=True)
            yield Input(placeholder=_("Ctry"), id="toll-country", max_length=2, restrict=r"[A-Za-z]*", compact=True)
        yield Label("", id="toll-totals", classes="followup-totals", markup=False)
        table = PagedTable(id="toll-table", classes="followup-table",
                           failure=_("The toll transactions could not be read right now. Try again in a moment."))
        for key, label, width in COLUMNS:
            table.add_column(_(label), key=key, width=width)
        yield table
        yield Static("", id="toll-detail", classes="followup-detail", markup=False)
        yield MessageLine(id="toll-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.day_from = self.day_to = self.yesterday()
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def yesterday(self) -> date:
        if self.app.session is None:
            return date.today() - timedelta(days=1)
        return self.app.session.local(self.app.db.clock.now()).date() - timedelta(days=1)

    def _customer_changed(self, _number: object = None) -> None:
        self.query_one(MessageLine).clear()
        self.reload()

    # Loading -----------------------------------------------------------------------------------

    def current_filter(self):
        from store.queries.transactions import TollFilter

        number = self.app.active_customer_number
        division = self.query_one("#toll-division", Select).value
        operator = self.query_one("#toll-operator", Select).value
        return TollFilter(customer_number_id=number.id if number else None,
                          text=self.query_one("#toll-text", Input).value,
                          division_id=None if division in (ALL, Select.BLANK) else int(division),
                          operator=None if operator in (ALL, Select.BLANK) else str(operator),
                          country=self.query_one("#toll-country", Input).value.strip().upper() or None)

    def reload(self) -> None:
        if self.app.session is None or self.app.active_customer_number is None:
            return
        day_from, day_to, where = self.day_from, self.day_to, self.current_filter()
        self._shown = (day_from, day_to, where)
        shown = (f"{day_from:%d/%m/%Y}", f"{day_to:%d/%m/%Y}")
        self._days_shown = shown
        for field, text in zip(("toll-from", "toll-to"), shown):
            if self.query_one(f"#{field}", Input).value != text:
                self.query_one(f"#{field}", Input).value = text
        self.query_one("#toll-detail", Static).update("")
        self.query_one("#toll-totals", Label).update(_("Reading the toll transactions…"))
        self.generation += 1
        actor = self.app.session.actor

        def fetch(session, after, limit):
            from store.queries.transactions import toll_transactions

            return toll_transactions(session, actor, day_from, day_to, where, after=after, limit=limit)

        self.query_one(PagedTable).show(fetch, self.cells)
        self.load_totals(self.generation, day_from, day_to, where)

    @work(thread=True, group="toll-totals", exit_on_error=False)
    def load_totals(self, generation: int, day_from: date, day_to: date, where) -> None:
        from store.queries.transactions import followup_divisions, toll_operators, toll_totals
        from store.services.errors import DomainError

        app = self.app
        actor = app.session.actor
        try:
            with app.db.session() as session:
                totals = toll_totals(session, actor, day_from, day_to, where)
                divisions = operators = None
                if self._divisions_of != where.customer_number_id:
                    divisions = followup_divisions(session, actor, where.customer_number_id)
                if not self._operators_read:
                    operators = toll_operators(session, actor)
        except DomainError as exc:
            self.post_message(self.TotalsLoaded(generation, None, None, None, exc.message))
        except Exception:
            log.exception("Toll totals failed")
            self.post_message(self.TotalsLoaded(generation, None, None, None,
                                                _("The totals could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.TotalsLoaded(generation, totals, divisions, operators))

    def period_text(self) -> str:
        if self.day_from == self.day_to:
            return f"{self.day_from:%d/%m/%Y}"
        return _("{start} to {end}").format(start=f"{self.day_from:%d/%m/%Y}", end=f"{self.day_to:%d/%m/%Y}")

    def on_toll_transactions_screen_totals_loaded(self, message: TotalsLoaded) -> None:
        if message.generation != self.generation:
            return
        label = self.query_one("#toll-totals", Label)
        if message.problem:
            label.update("")
            self.query_one(MessageLine).show_error(message.problem)
            return
        label.update(_("{period}: {totals}").format(period=self.period_text(),
                                                   totals=totals_text(message.totals, "toll")))
        if message.divisions is not None:
            number = self.app.active_customer_number
            self._divisions_of = number.id if number else None
            self._set_options("#toll-division", _("Every division"), [(n, str(i)) for i, n in message.divisions])
        if message.operators is not None:
            self._operators_read = True
            self._set_options("#toll-operator", _("Every operator"), [(o, o) for o in message.operators])

    def _set_options(self, select_id: str, everything: str, options: list[tuple[str, str]]) -> None:
        select = self.query_one(select_id, Select)
        value = select.value
        with self.prevent(Select.Changed):
            select.set_options([(everything, ALL)] + options)
            select.value = value if value in {v for _label, v in options} else ALL

    def on_paged_table_loaded(self, message: PagedTable.Loaded) -> None:
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        if message.first:
            if not message.rows:
                line.show_info(_("No toll transaction matches on {period}.").format(period=self.period_text()))
            elif line.kind == "info":
                line.clear()
        self.show_detail(message.table.current)

    def cells(self, row) -> list[str]:
        return [f"{self.app.session.local(row.exit_at):%d/%m %H:%M}",
                card_text(row.obu_number, row.license_plate, row.embossed_name), row.operator, row.country,
                row.vehicle_class, money(row.amount_incl_vat)]

    def detail_text(self, row) -> str:
        local = self.app.session.local
        first = _("{entry} {entry_time} → {exit} {exit_time}").format(
            entry=row.entry_point, entry_time=f"{local(row.entry_at):%d/%m %H:%M}", exit=row.exit_point,
            exit_time=f"{local(row.exit_at):%d/%m %H:%M}")
        second = " · ".join([_("OBU {number}").format(number=row.obu_number or "—"), row.division,
                             row.customer_number])
        third = " · ".join([
            _("excl. VAT € {amount}").format(amount=money(row.amount_excl_vat)),
            _("VAT {rate} %").format(rate=rate_text(row.vat_rate)),
            _("incl. VAT € {amount}").format(amount=money(row.amount_incl_vat)),
        ])
        return f"{first}\n{second}\n{third}"

    def show_detail(self, row) -> None:
        self.query_one("#toll-detail", Static).update(self.detail_text(row) if row is not None else "")

    def on_data_table_row_highlighted(self, event) -> None:
        self.show_detail(self.query_one(PagedTable).current)

    # Events and actions ------------------------------------------------------------------------

    def apply_typed_days(self) -> bool:
        problems, days = [], {}
        for field, name in (("toll-from", _("From")), ("toll-to", pgettext("date bound", "To"))):
            text = self.query_one(f"#{field}", Input).value
            try:
                days[field] = parse_day(text)
            except ValueError:
                days[field] = None
            if days[field] is None:
                problems.append(_("{field}: “{text}” is not a day; type it as dd/mm/yyyy, e.g. 26/11/2026.")
                                .format(field=name, text=text))
        if not problems and days["toll-from"] > days["toll-to"]:
            problems.append(_("The From date is after the To date."))
        if problems:
            self.query_one(MessageLine).show_error(*problems)
            return False
        self.query_one(MessageLine).clear()
        self.day_from, self.day_to = days["toll-from"], days["toll-to"]
        self.reload()
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id in ("toll-from", "toll-to"):
            if not self.apply_typed_days():
                return
        else:
            self.reload()
        self.query_one(PagedTable).focus()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if event.input.id not in ("toll-from", "toll-to"):
            return
        typed = tuple(self.query_one(f"#{f}", Input).value.strip() for f in ("toll-from", "toll-to"))
        if typed != self._days_shown and self.focused not in self.query("#toll-from, #toll-to").nodes:
            self.apply_typed_days()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        # A Select reports its first value when it mounts: no need to read the same list again.
        if (self.is_mounted and self._shown is not None
                and (self.day_from, self.day_to, self.current_filter()) != self._shown):
            self.reload()

    def action_shift(self, direction: int) -> None:
        length = (self.day_to - self.day_from).days + 1
        self.day_from += timedelta(days=direction * length)
        self.day_to += timedelta(days=direction * length)
        self.reload()

    def action_yesterday(self) -> None:
        self.day_from = self.day_to = self.yesterday()
        self.reload()

    def action_choose_day(self) -> None:
        field = self.query_one("#toll-from", Input)
        field.focus()
        field.select_all()

    def action_search(self) -> None:
        self.query_one("#toll-text", Input).focus()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed):
            self.query_one("#toll-division", Select).value = ALL
            self.query_one("#toll-operator", Select).value = ALL
        self.query_one("#toll-text", Input).value = ""
        self.query_one("#toll-country", Input).value = ""
        self.reload()

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self._divisions_of = None
        self._operators_read = False
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
