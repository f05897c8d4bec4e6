"""Daily follow-up -> Daily transactions (Fiche 02): the fuel and service transactions of one day.

The day is a local day in the customer's time zone; it opens on yesterday (the issuer's daily file). `[` and
`]` go to the previous and next day, Ctrl+D types a date (dd/mm/yyyy), `t` goes back to yesterday. Filters:
card number or plate, fleet division, product, country of the station, and "with anomalies only" (`a`). The
totals line counts every matching transaction (quantity per unit, amounts excluding and including VAT); the
list reads a few pages at a time (`tui.widgets.paged_table`), never the whole day into the table. The
highlighted transaction's station, price, VAT, odometer, driver code and anomalies show below the list.
Everything is read through `store.queries.transactions`; nothing here changes anything.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, Input, Label, Select, Static

from tui.i18n import N_, _, format_number, ngettext
from tui.i18n.labels import ANOMALY_RULE_LABELS, product_label
from tui.screens.my_requests import parse_day
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

log = logging.getLogger(__name__)

CSS = "../styles/daily_followup.tcss"
ALL = "all"
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))
COLUMNS = (
    ("time", N_("Time"), 5),
    ("card", N_("Card/plate"), 11),
    ("product", N_("Product"), 11),
    ("quantity", N_("Quantity"), 11),
    ("excl", N_("Excl. VAT"), 9),
    ("incl", N_("Incl. VAT"), 9),
    ("country", N_("Ctry"), 4),
    ("anomaly", "!", 1),
)
UNIT_LABELS = {"l": N_("l"), "kg": N_("kg"), "kWh": N_("kWh"), "pcs": N_("pcs")}


def money(amount: Decimal | None) -> str:
    return "—" if amount is None else format_number(amount, 2)


def rate_text(rate: Decimal) -> str:
    """A VAT rate without trailing zeros: 21, 5.5."""
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity_text(quantity: Decimal, unit: str) -> str:
    if unit == "pcs":
        return f"{format_number(quantity, 0)} {_(UNIT_LABELS[unit])}"
    return f"{format_number(quantity, 2)} {_(UNIT_LABELS.get(unit, unit))}"


def product_text(product) -> str:
    return product_label(product)


def rule_text(rule) -> str:
    value = getattr(rule, "value", str(rule))
    return _(ANOMALY_RULE_LABELS.get(value, value))


def card_text(number: str | None, plate: str | None, name: str | None) -> str:
    """What identifies a card in a narrow column: the plate, else the name, else the end of the number."""
    return plate or name or (f"…{number[-8:]}" if number else "—")


def day_text(day: date) -> str:
    return _("{weekday} {day}").format(weekday=_(WEEKDAYS[day.weekday()]), day=f"{day:%d/%m/%Y}")


def totals_text(totals, what: str = "transactions") -> str:
    if what == "toll":
        count = ngettext("{count} toll transaction", "{count} toll transactions", totals.count)
    else:
        count = ngettext("{count} transaction", "{count} transactions", totals.count)
    parts = [count.format(count=format_number(totals.count))]
    parts += [quantity_text(quantity, unit) for unit, quantity in totals.quantities]
    parts.append(_("excl. VAT € {amount}").format(amount=money(totals.amount_excl_vat)))
    parts.append(_("incl. VAT € {amount}").format(amount=money(totals.amount_incl_vat)))
    return " · ".join(parts)


class DailyTransactionsScreen(Screen[None]):
    CSS_PATH = CSS
    AUTO_FOCUS = "#daily-table"
    TITLE = N_("Daily transactions")
    HELP = N_("The fuel and service transactions of one day for the active customer number (F3 switches it), "
              "in your company's time zone; it opens on yesterday. The line above the list totals every "
              "matching transaction; the highlighted one's details show below it.")
    HELP_KEYS = (  # the footer's keys are listed after these
        (N_("t"), N_("Back to yesterday")),
        (N_("/"), N_("Filter by card number or plate")),
        (N_("Ctrl+R"), N_("Clear the filters")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("left_square_bracket", "previous_day", N_("Prev. day"), id="daily_previous_day"),
        Binding("right_square_bracket", "next_day", N_("Next day"), id="daily_next_day"),
        Binding("ctrl+d", "choose_day", N_("Type day"), id="daily_choose_day", priority=True),
        Binding("a", "toggle_anomalies", N_("Anomalies"), id="daily_anomalies_only"),
        Binding("t", "yesterday", N_("Yesterday"), id="daily_yesterday", show=False),
        Binding("slash", "search", N_("Filter"), id="daily_search", show=False),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="daily_clear", show=False),
        Binding("f5", "refresh", N_("Refresh"), id="daily_refresh", show=False),
    ]

    class TotalsLoaded(Message):
        def __init__(self, generation: int, totals, divisions: list | None, problem: str | None = None) -> None:
            super().__init__()
            self.generation, self.totals, self.divisions, self.problem = generation, totals, divisions, problem

    class DetailLoaded(Message):
        def __init__(self, transaction_id: int, anomalies: list) -> None:
            super().__init__()
            self.transaction_id, self.anomalies = transaction_id, anomalies

    def __init__(self, day: date | None = None) -> None:
        super().__init__()
        self.day = day
        self.generation = 0
        self.divisions: list[tuple[int, str]] = []
        self._divisions_of: int | None = None
        self._day_shown = ""
        self._shown: tuple | None = None  # the (day, filter) the list shows

    def compose(self) -> ComposeResult:
        from store.models import Product

        yield SessionHeader()
        with Horizontal(id="daily-day-bar", classes="followup-bar"):
            yield Label(_("Day"), classes="followup-label")
            yield Input(id="daily-day", max_length=10, compact=True, placeholder=_("dd/mm/yyyy"))
            yield Label("", id="daily-weekday", markup=False)
            yield Label(_("[ ] previous/next day"), classes="followup-hint", markup=False)
        with Horizontal(id="daily-filters", classes="followup-bar"):
            yield Input(placeholder=_("Card or plate"), id="daily-text", compact=True)
            yield Select([(_("Every division"), ALL)], value=ALL, allow_blank=False, id="daily-division",
                         compact=True)
            yield Select([(_("Every product"), ALL)] + [(product_text(p), p.value) for p in Product],
                         value=ALL, allow_blank=False, id="daily-product", compact=True)
            yield Input(placeholder=_("Ctry"), id="daily-country", max_length=2, restrict=r"[A-Za-z]*",
                        compact=True)
            yield Checkbox(_("Anomalies"), id="daily-anomalies", compact=True)
        yield Label("", id="daily-totals", classes="followup-totals", markup=False)
        table = PagedTable(id="daily-table", classes="followup-table",
                           failure=_("The transactions could not be read right now. Try again in a moment."))
        for key, label, width in COLUMNS:
            table.add_column(_(label) if label != "!" else label, key=key, width=width)
        yield table
        yield Static("", id="daily-detail", classes="followup-detail", markup=False)
        yield MessageLine(id="daily-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.day is None:
            self.day = self.yesterday()
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def yesterday(self) -> date:
        return self.app.session.local(self.app.db.clock.now()).date() - timedelta(days=1) \
            if self.app.session is not None else date.today() - timedelta(days=1)

    def _customer_changed(self, _number: object = None) -> None:
        self.query_one(MessageLine).clear()
        self.reload()

    # The filters -------------------------------------------------------------------------------

    def current_filter(self):
        from store.models import Product
        from store.queries.transactions import TransactionFilter

        number = self.app.active_customer_number
        division = self.query_one("#daily-division", Select).value
        product = self.query_one("#daily-product", Select).value
        return TransactionFilter(
            customer_number_id=number.id if number else None,
            text=self.query_one("#daily-text", Input).value,
            division_id=None if division in (ALL, Select.BLANK) else int(division),
            product=None if product in (ALL, Select.BLANK) else Product(product),
            country=self.query_one("#daily-country", Input).value.strip().upper() or None,
            with_anomaly=self.query_one("#daily-anomalies", Checkbox).value,
        )

    def reload(self) -> None:
        if self.app.session is None or self.app.active_customer_number is None:
            return
        day, where = self.day, self.current_filter()
        self._shown = (day, where)
        text = f"{day:%d/%m/%Y}"
        self._day_shown = text
        field = self.query_one("#daily-day", Input)
        if field.value != text:
            field.value = text
        self.query_one("#daily-weekday", Label).update(_(WEEKDAYS[day.weekday()]))
        self.query_one("#daily-detail", Static).update("")
        self.generation += 1
        self.query_one("#daily-totals", Label).update(_("Reading the transactions of {day}…").format(
            day=day_text(day)))
        actor = self.app.session.actor

        def fetch(session, after, limit):
            from store.queries.transactions import daily_transactions

            return daily_transactions(session, actor, day, where, after=after, limit=limit)

        self.query_one(PagedTable).show(fetch, self.cells)
        self.load_totals(self.generation, day, where)

    @work(thread=True, group="daily-totals", exit_on_error=False)
    def load_totals(self, generation: int, day: date, where) -> None:
        from store.queries.transactions import daily_totals, followup_divisions
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                totals = daily_totals(session, app.session.actor, day, where)
                divisions = None
                if self._divisions_of != where.customer_number_id:
                    divisions = followup_divisions(session, app.session.actor, where.customer_number_id)
        except DomainError as exc:
            self.post_message(self.TotalsLoaded(generation, None, None, exc.message))
        except Exception:
            log.exception("Daily totals failed")
            self.post_message(self.TotalsLoaded(generation, None, None,
                                                _("The totals could not be read right now. Try again in a moment.")))
        else:
            self.post_message(self.TotalsLoaded(generation, totals, divisions))

    def on_daily_transactions_screen_totals_loaded(self, message: TotalsLoaded) -> None:
        if message.generation != self.generation:
            return
        label = self.query_one("#daily-totals", Label)
        if message.problem:
            label.update("")
            self.query_one(MessageLine).show_error(message.problem)
            return
        label.update(_("{day}: {totals}").format(day=day_text(self.day), totals=totals_text(message.totals)))
        if message.divisions is not None:
            self._set_divisions(message.divisions)

    def _set_divisions(self, divisions: list[tuple[int, str]]) -> None:
        number = self.app.active_customer_number
        self._divisions_of = number.id if number else None
        self.divisions = divisions
        select = self.query_one("#daily-division", Select)
        value = select.value
        with self.prevent(Select.Changed):
            select.set_options([(_("Every division"), ALL)] + [(name, str(i)) for i, name in divisions])
            select.value = value if value in {str(i) for i, _n in divisions} else ALL

    def on_paged_table_loaded(self, message: PagedTable.Loaded) -> None:
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        if message.first:
            if not message.rows:
                line.show_info(_("No transaction matches on {day}. [ and ] go to the previous and next day.")
                               .format(day=day_text(self.day)))
            elif line.kind == "info":
                line.clear()
        self.show_detail(message.table.current)

    # The list ----------------------------------------------------------------------------------

    def cells(self, row) -> list[str]:
        return [f"{self.app.session.local(row.occurred_at):%H:%M}",
                card_text(row.card_number, row.license_plate, row.embossed_name), product_text(row.product),
                quantity_text(row.quantity, row.unit), money(row.amount_excl_vat), money(row.amount_incl_vat),
                row.country, "⚠" if row.anomalies else ""]

    def detail_text(self, row, anomalies: list | None = None) -> str:
        """Three lines: where, driver code and driver; the card, price, VAT and odometer; the anomalies."""
        local = self.app.session.local(row.occurred_at)
        first = " · ".join([_("{time} {station}, {city} ({country})").format(
            time=f"{local:%H:%M}", station=row.station, city=row.city, country=row.country)]
            + ([_("driver code {code}").format(code=row.driver_code)] if row.driver_code else [])
            + ([row.driver_name] if row.driver_name else []))
        second = [_("card {number} rank {rank}").format(number=row.card_number or "—", rank=row.rank),
                  _("{price} €/{unit}").format(price=format_number(row.unit_price, 4),
                                               unit=_(UNIT_LABELS.get(row.unit, row.unit))),
                  _("VAT {rate} %").format(rate=rate_text(row.vat_rate))]
        if row.odometer_km is not None:
            second.append(_("{km} km").format(km=format_number(row.odometer_km)))
        lines = [first, " · ".join(second)]
        if anomalies:
            lines.append("⚠ " + ", ".join(rule_text(rule) for rule, _details, _status in anomalies))
        elif row.anomalies:
            lines.append(ngettext("⚠ {count} anomaly", "⚠ {count} anomalies", row.anomalies).format(
                count=row.anomalies))
        return "\n".join(lines)

    def show_detail(self, row) -> None:
        detail = self.query_one("#daily-detail", Static)
        if row is None:
            detail.update("")
            return
        detail.update(self.detail_text(row))
        if row.anomalies:
            self.load_detail(row.id)

    @work(thread=True, exclusive=True, group="daily-detail", exit_on_error=False)
    def load_detail(self, transaction_id: int) -> None:
        from store.queries.transactions import transaction_anomalies

        app = self.app
        try:
            with app.db.session() as session:
                anomalies = transaction_anomalies(session, app.session.actor, transaction_id)
        except Exception:  # noqa: BLE001 - the short text stays; the list shows refusals
            log.exception("Reading a transaction's anomalies failed")
            return
        self.post_message(self.DetailLoaded(transaction_id, anomalies))

    def on_daily_transactions_screen_detail_loaded(self, message: DetailLoaded) -> None:
        row = self.query_one(PagedTable).current
        if row is not None and row.id == message.transaction_id:
            self.query_one("#daily-detail", Static).update(self.detail_text(row, message.anomalies))

    def on_data_table_row_highlighted(self, event) -> None:
        self.show_detail(self.query_one(PagedTable).current)

    # Events and actions ------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "daily-day":
            if not self.apply_typed_day():
                return
        else:
            self.reload()
        self.query_one(PagedTable).focus()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if event.input.id == "daily-day" and event.input.value.strip() != self._day_shown:
            self.apply_typed_day()

    def apply_typed_day(self) -> bool:
        field = self.query_one("#daily-day", Input)
        try:
            day = parse_day(field.value)
        except ValueError:
            day = None
        if day is None:
            self.query_one(MessageLine).show_error(
                _("“{text}” is not a day; type it as dd/mm/yyyy, e.g. 26/11/2026.").format(text=field.value))
            return False
        self.query_one(MessageLine).clear()
        self.day = day
        self.reload()
        return True

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        # A Select reports its first value when it mounts: no need to read the same list again.
        if self.is_mounted and self._shown is not None and (self.day, self.current_filter()) != self._shown:
            self.reload()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.reload()

    def action_previous_day(self) -> None:
        self.day -= timedelta(days=1)
        self.reload()

    def action_next_day(self) -> None:
        self.day += timedelta(days=1)
        self.reload()

    def action_yesterday(self) -> None:
        self.day = self.yesterday()
        self.reload()

    def action_choose_day(self) -> None:
        field = self.query_one("#daily-day", Input)
        field.focus()
        field.select_all()

    def action_toggle_anomalies(self) -> None:
        box = self.query_one("#daily-anomalies", Checkbox)
        box.value = not box.value  # Checkbox.Changed reloads

    def action_search(self) -> None:
        self.query_one("#daily-text", Input).focus()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed, Checkbox.Changed):
            self.query_one("#daily-text", Input).value = ""
            self.query_one("#daily-country", Input).value = ""
            self.query_one("#daily-division", Select).value = ALL
            self.query_one("#daily-product", Select).value = ALL
            self.query_one("#daily-anomalies", Checkbox).value = False
        self.reload()

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self._divisions_of = None
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
