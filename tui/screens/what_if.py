"""What-if (issue 8): a changed limit or control replayed against the last months of transactions, before it is saved.

Opened with F8 from the card form (the form's current, unsaved limits and controls, for the card being changed)
and from the bulk template (the template laid over each marked card, at most `MAX_CARDS` of them). The replay is
the store's (`store.services.what_if.what_if`, in a thread worker): it checks the actor's rights and the values,
and changes nothing. The screen shows the totals under the card's current configuration next to the changed one
and, for one card, every transaction the change would have refused or reported with the rule and its values in
words; for several cards, one line per card, and Enter shows that card's transactions. `[` and `]` (or typing in
the months field and Enter) replay fewer or more months (1 to 24). Esc goes back: nothing is saved here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import get_current_worker

from tui.i18n import N_, _, format_number, ngettext
from tui.widgets.footer import Footer
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CSS = "../styles/what_if.tcss"
DEFAULT_MONTHS = 3
MAX_MONTHS = 24  # the store's store.services.what_if.MAX_MONTHS (not imported at start-up)
MAX_CARDS = 50  # a template is replayed on at most this many marked cards
RULE_WIDTH = 17  # the rule column; the whole sentence of the highlighted line reads below the table
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))
OUTCOMES = {"refused": N_("refused"), "reported": N_("reported")}
UNAVAILABLE = N_("The replay could not be done right now; nothing was changed. Try again in a moment.")

# A finding's values in a sentence, per rule (store.models.AnomalyRule values) and, for limits, per period.
LIMIT_SENTENCES = {
    ("amount limit reached", "transaction"): N_("{product}: amount limit € {limit} per transaction exceeded: "
                                                "€ {total}"),
    ("amount limit reached", "day"): N_("{product}: daily amount limit € {limit} exceeded: € {total}"),
    ("amount limit reached", "week"): N_("{product}: weekly amount limit € {limit} exceeded: € {total}"),
    ("amount limit reached", "month"): N_("{product}: monthly amount limit € {limit} exceeded: € {total}"),
    ("volume limit reached", "transaction"): N_("{product}: volume limit {limit} {unit} per transaction "
                                                "exceeded: {total} {unit}"),
    ("volume limit reached", "day"): N_("{product}: daily volume limit {limit} {unit} exceeded: {total} {unit}"),
    ("volume limit reached", "week"): N_("{product}: weekly volume limit {limit} {unit} exceeded: "
                                         "{total} {unit}"),
    ("volume limit reached", "month"): N_("{product}: monthly volume limit {limit} {unit} exceeded: "
                                          "{total} {unit}"),
}


def right(text: str):
    """A table cell aligned to the right (numbers)."""
    from rich.text import Text

    return Text(text, justify="right")


def money(amount: Decimal) -> str:
    return _("€ {amount}").format(amount=format_number(amount, 2))  # where the sign goes is the language's


def number_text(value: Any) -> str:
    """A quantity as the store wrote it ("100.000"), without trailing zeros ("100", "120.5")."""
    try:
        text = f"{Decimal(str(value)):f}"
    except Exception:
        return str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _local(moment_text: str, zone) -> str:
    try:
        return f"{datetime.fromisoformat(moment_text).astimezone(zone):%d/%m/%Y %H:%M}"
    except (TypeError, ValueError):
        return str(moment_text)


def _day(iso: str) -> str:
    try:
        return f"{datetime.fromisoformat(iso):%d/%m/%Y}"
    except (TypeError, ValueError):
        return str(iso)


def finding_text(finding: Any, zone=None) -> str:
    """One rule the transaction breaks, with the values that broke it, as a sentence."""
    from store.queries.transactions import unit_of
    from tui.screens.anomalies import details_text, volume_text
    from tui.screens.daily_transactions import UNIT_LABELS, product_text, rule_text

    rule = getattr(finding.rule, "value", str(finding.rule))
    d = finding.details
    product_name = d.get("product")
    product = product_text(_product(product_name)) if product_name else ""
    if (rule, d.get("period")) in LIMIT_SENTENCES:
        unit = unit_of(_product(product_name)) if product_name else ""
        unit = _(UNIT_LABELS[unit]) if unit in UNIT_LABELS else unit
        if rule == "amount limit reached":
            return _(LIMIT_SENTENCES[rule, d["period"]]).format(product=product, limit=d.get("limit"),
                                                                total=d.get("total"))
        return _(LIMIT_SENTENCES[rule, d["period"]]).format(product=product, limit=volume_text(d.get("limit")),
                                                            total=volume_text(d.get("total")), unit=unit)
    if rule == "product not allowed":
        if d.get("reason") == "blocked":
            return _("{product} blocked until {until}: a block limit was exceeded earlier").format(
                product=product, until=_local(d.get("blocked_until", ""), zone))
        return _("{product} is not allowed on the card").format(product=product)
    if rule == "forbidden day":
        if d.get("reason") == "weekday not allowed":
            weekday = d.get("weekday")
            name = _(WEEKDAYS[weekday - 1]) if isinstance(weekday, int) and 1 <= weekday <= 7 else str(weekday)
            return _("{weekday} {day}: not an allowed weekday").format(weekday=name, day=_day(d.get("date", "")))
        return _("{day} is a forbidden day").format(day=_day(d.get("date", "")))
    if rule == "outside allowed hours":
        return _("at {time}, outside the allowed hours {start}–{end}").format(
            time=d.get("time"), start=d.get("allowed_from"), end=d.get("allowed_to"))
    if rule == "country not allowed":
        return _("country {country} not allowed (allowed: {allowed})").format(
            country=d.get("country"), allowed=", ".join(d.get("allowed_countries", ())))
    if rule == "volume above tank capacity":
        return _("{quantity} l is more than the tank capacity of {capacity} l").format(
            quantity=volume_text(d.get("quantity")), capacity=volume_text(d.get("tank_capacity_l")))
    if rule == "too many transactions":
        return _("transaction {count} of the day: at most {max} allowed").format(count=d.get("count"),
                                                                                 max=d.get("max"))
    if rule == "odometer implausible":
        if d.get("reason") == "implausible distance":
            return _("odometer: {driven} km in {hours} h, at most {max} km is plausible").format(
                driven=d.get("driven_km"), hours=d.get("hours"), max=d.get("max_km"))
        return _("odometer {km} km: lower than the previous reading {previous} km").format(
            km=d.get("odometer_km"), previous=d.get("previous_km"))
    return f"{rule_text(finding.rule)}: {details_text(d, rule)}"


def _product(value: str):
    from store.models import Product

    try:
        return Product(value)
    except ValueError:
        return value


def findings_text(findings, zone=None) -> str:
    return "; ".join(finding_text(finding, zone) for finding in findings)


def totals_lines(current: Any, changed: Any) -> str:
    """Current and changed configuration side by side: transactions, refused and reported (count · amount)."""
    def both(count: int, amount: Decimal) -> str:
        return f"{format_number(count)} · {money(amount)}"

    rows = [
        ("", _("Current configuration"), _("Changed")),
        (_("Transactions"), format_number(current.transactions), format_number(changed.transactions)),
        (_("Refused"), both(current.refused, current.refused_amount), both(changed.refused, changed.refused_amount)),
        (_("Reported"), both(current.reported, current.reported_amount),
         both(changed.reported, changed.reported_amount)),
    ]
    return "\n".join(f"{label:<14}{left:>24}  {right:>24}" for label, left, right in rows)


class MonthsInput(Input):
    """The number of months: digits only, so every other key (`[`, `]`) is left to the screen's bindings."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()


@dataclass(frozen=True)
class CardReplay:
    """One card's replay: the store's report, or why it could not be replayed."""

    card_id: int
    label: str
    report: Any = None  # store.services.what_if.WhatIfReport
    problem: str | None = None


@dataclass(frozen=True)
class SummedTotals:
    transactions: int = 0
    refused: int = 0
    reported: int = 0
    refused_amount: Decimal = Decimal("0.00")
    reported_amount: Decimal = Decimal("0.00")

    def plus(self, totals: Any) -> SummedTotals:
        return SummedTotals(self.transactions + totals.transactions, self.refused + totals.refused,
                            self.reported + totals.reported, self.refused_amount + totals.refused_amount,
                            self.reported_amount + totals.reported_amount)


class WhatIfScreen(ModalScreen[None]):
    """The replay of a changed configuration on one card (`card_id`) or on marked cards (`selection`)."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#what-if-table"
    BINDINGS = [
        Binding("escape", "close", N_("Back"), id="what_if.close"),
        # [ and ] change the months wherever the focus is (the months field takes digits only).
        Binding("left_square_bracket", "months(-1)", N_("Fewer months"), id="what_if.fewer_months", priority=True),
        Binding("right_square_bracket", "months(1)", N_("More months"), id="what_if.more_months", priority=True),
        # Priority, or the table's own Enter (hidden) would hide it from the footer.
        Binding("enter", "card_detail", N_("Card's transactions"), id="what_if.card_detail", priority=True),
    ]
    TITLE = N_("What-if")
    HELP = N_("Replays the last months of transactions against the changed limits and controls, before they are "
              "saved: the totals under the current configuration and under the changed one, then each "
              "transaction the change would have refused (a block limit, a product the card would not carry) or "
              "reported, with the rule and its values. For a template on several cards, one line per card; Enter "
              "shows that card's transactions. Nothing is saved here; Esc goes back with everything you typed.")
    HELP_KEYS = (
        (N_("Tab, type, Enter"), N_("Type the number of months to replay (1 to 24)")),
    )

    class Progress(Message):
        def __init__(self, generation: int, done: int, total: int) -> None:
            super().__init__()
            self.generation, self.done, self.total = generation, done, total

    class Replayed(Message):
        def __init__(self, generation: int, replays: list[CardReplay], marked: int, problem: str | None = None,
                     field: str | None = None) -> None:
            super().__init__()
            self.generation, self.replays, self.marked = generation, replays, marked
            self.problem, self.field = problem, field

    def __init__(self, config: Any, *, card_id: int | None = None, label: str = "", selection: Any = None,
                 months: int = DEFAULT_MONTHS, replay: CardReplay | None = None) -> None:
        """`config`: a CardSpec (the card form) or BulkParams (a template). Either `card_id` (one card, `label`
        names it) or `selection` (the marked card ids, or a CardFilter: a template on several cards). `replay`:
        a replay already made (the detail of one card of a bulk replay), shown without replaying again."""
        if (card_id is None) == (selection is None):
            raise ValueError("Give either card_id or selection")
        super().__init__()
        self.config = config
        self.card_id = card_id
        self.label = label
        self.selection = selection
        self.months = months
        self.generation = 0
        self.replays: list[CardReplay] = [replay] if replay is not None else []
        self.marked = 1 if card_id is not None else 0
        self.running = False
        self._initial = replay

    @property
    def bulk(self) -> bool:
        return self.selection is not None

    # Layout ------------------------------------------------------------------------------------------------

    def heading(self) -> str:
        if self.bulk:
            return _("What-if: the template on the marked cards — nothing is saved")
        return _("What-if: {label} — nothing is saved").format(label=self.label or f"#{self.card_id}")

    def compose(self) -> ComposeResult:
        with Vertical(id="what-if-dialog", classes="dialog"):
            yield Label(self.heading(), id="what-if-title", classes="dialog-title", markup=False)
            with Horizontal(id="what-if-months-row"):
                yield Label(_("Months replayed"), classes="what-if-label")
                yield MonthsInput(str(self.months), id="what-if-months", restrict=r"[0-9]*", max_length=2,
                                  compact=True)
                yield Label("", id="what-if-period", markup=False)
            yield Static("", id="what-if-totals", markup=False)
            table = DataTable(id="what-if-table", cursor_type="row", zebra_stripes=True)
            if self.bulk:
                table.add_column(_("Card"), key="card", width=15)
                table.add_column(_("Trans."), key="transactions", width=6)
                table.add_column(_("Refused"), key="refused", width=7)
                table.add_column(_("€ refused"), key="refused_amount", width=10)
                table.add_column(_("Reported"), key="reported", width=8)
                table.add_column(_("€ reported"), key="reported_amount", width=10)
            else:
                table.add_column(_("Date/time"), key="when", width=14)
                table.add_column(_("Product"), key="product", width=9)
                table.add_column(_("Qty"), key="quantity", width=6)
                table.add_column(_("Amount €"), key="amount", width=8)
                table.add_column(_("Outcome"), key="outcome", width=8)
                table.add_column(_("Rule"), key="rule", width=RULE_WIDTH)
            yield table
            yield Static("", id="what-if-detail", markup=False)
            yield MessageLine(id="what-if-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self._initial is not None:
            self.show_replays(self.replays)
            self.query_one(MessageLine).show_info(self.outcome_text())
        else:
            self.replay()

    # Replaying ---------------------------------------------------------------------------------------------

    def replay(self) -> None:
        self.generation += 1
        self.running = True
        self.refresh_bindings()
        self.query_one(Input).value = str(self.months)
        self.query_one(MessageLine).show_busy(
            ngettext("Replaying {months} month…", "Replaying {months} months…", self.months).format(
                months=self.months))
        self.run_replay(self.generation, self.months)

    @work(thread=True, exclusive=True, group="what-if", exit_on_error=False)
    def run_replay(self, generation: int, months: int) -> None:
        from store.models import Card, Right
        from store.services.card_specs import InvalidSpec
        from store.services.cards import card_label
        from store.services.errors import DomainError
        from store.services.what_if import what_if

        app = self.app
        worker = get_current_worker()
        actor = app.session.actor
        replays: list[CardReplay] = []
        try:
            ids = self._card_ids()
            marked = len(ids)
            ids = ids[:MAX_CARDS]
            for index, card_id in enumerate(ids):
                if worker.is_cancelled:
                    return
                with app.db.session() as session:
                    card = session.get(Card, card_id)
                    label = self.label if not self.bulk and self.label else (
                        (card.license_plate or card.embossed_name or card_label(card)) if card else f"#{card_id}")
                    try:
                        report = what_if(session, actor, app.db.clock.now(), card_id, self.config, months=months)
                    except InvalidSpec:
                        raise  # the values: the same for every card
                    except DomainError as exc:
                        # The right to manage cards and the months are the same for every card: said once. A
                        # card that is gone, or of a customer number not the user's, is said on its line.
                        if not self.bulk or exc.field == "months" or not actor.has(Right.CARD_MANAGE):
                            raise
                        replays.append(CardReplay(card_id, label, problem=exc.message))
                        continue
                replays.append(CardReplay(card_id, label, report))
                if self.bulk:
                    self.post_message(self.Progress(generation, index + 1, len(ids)))
        except InvalidSpec as exc:
            self.post_message(self.Replayed(generation, [], 0, " ".join(p.message for p in exc.field_problems),
                                            exc.field))
        except DomainError as exc:
            self.post_message(self.Replayed(generation, [], 0, exc.message, exc.field))
        except Exception:
            log.exception("The what-if replay failed")
            self.post_message(self.Replayed(generation, [], 0, _(UNAVAILABLE)))
        else:
            self.post_message(self.Replayed(generation, replays, marked))

    def _card_ids(self) -> list[int]:
        """The cards to replay (worker thread): the one card, or the selection (a filter resolved by the store)."""
        if not self.bulk:
            return [self.card_id]
        if isinstance(self.selection, (list, tuple)):
            return list(self.selection)
        from store.services.bulk import resolve_selection

        with self.app.db.session() as session:
            return resolve_selection(session, self.app.session.actor, self.selection)

    def on_what_if_screen_progress(self, message: Progress) -> None:
        if message.generation == self.generation and message.total > 1:
            self.query_one(MessageLine).show_busy(_("Replaying {months} months… card {done} of {total}").format(
                months=self.months, done=message.done, total=message.total))

    def on_what_if_screen_replayed(self, message: Replayed) -> None:
        if message.generation != self.generation:
            return
        self.running = False
        self.refresh_bindings()
        line = self.query_one(MessageLine)
        if message.problem:
            self.replays = []
            self.query_one(DataTable).clear()
            self.query_one("#what-if-totals", Static).update("")
            self.query_one("#what-if-period", Label).update("")
            self._detail("")
            line.show_error(message.problem)
            if message.field == "months":
                self.query_one(Input).focus()
            return
        self.replays = message.replays
        self.marked = message.marked
        self.show_replays(message.replays)
        text = self.outcome_text()
        capped = self.bulk and self.marked > len(self.replays)
        if capped or any(replay.problem for replay in self.replays):
            line.show_warning(text)
        else:
            line.show_info(text)

    # Showing -----------------------------------------------------------------------------------------------

    def outcome_text(self) -> str:
        replayed = [replay for replay in self.replays if replay.report is not None]
        parts = []
        if self.bulk:
            if self.marked > len(self.replays):
                parts.append(_("Replayed on the first {count} of the {marked} marked cards only.").format(
                    count=len(self.replays), marked=format_number(self.marked)))
            else:
                parts.append(ngettext("Replayed on {count} card.", "Replayed on {count} cards.",
                                      len(self.replays)).format(count=len(self.replays)))
            refused = len(self.replays) - len(replayed)
            if refused:
                parts.append(_("{count} could not be replayed (see the line).").format(count=refused))
            if replayed:
                parts.append(_("Enter: a card's transactions."))
            return " ".join(parts)
        if not replayed:
            return ""
        totals = replayed[0].report.totals
        affected = totals.refused + totals.reported
        if not totals.transactions:
            return _("No transaction in these months: nothing to replay.")
        if not affected:
            return _("None of the {count} transactions would have been refused or reported.").format(
                count=format_number(totals.transactions))
        return _("{affected} of {count} transactions would have been refused or reported.").format(
            affected=format_number(affected), count=format_number(totals.transactions))

    def show_replays(self, replays: list[CardReplay]) -> None:
        reports = [replay.report for replay in replays if replay.report is not None]
        table = self.query_one(DataTable)
        table.clear()
        self._detail("")
        if not reports:
            self.query_one("#what-if-totals", Static).update("")
            self.query_one("#what-if-period", Label).update("")
            if self.bulk:
                for replay in replays:
                    table.add_row(replay.label, "", "", "", "", "", key=str(replay.card_id))
            return
        local = self.app.session.local if self.app.session is not None else (lambda moment: moment)
        since, until = local(reports[0].since), local(reports[0].until)
        self.query_one("#what-if-period", Label).update(
            _("from {since} to {until}").format(since=f"{since:%d/%m/%Y}", until=f"{until:%d/%m/%Y %H:%M}"))
        current, changed = SummedTotals(), SummedTotals()
        for report in reports:
            current, changed = current.plus(report.current), changed.plus(report.totals)
        self.query_one("#what-if-totals", Static).update(totals_lines(current, changed))
        if self.bulk:
            for replay in replays:
                if replay.report is None:
                    table.add_row(replay.label, "—", "—", "", "", "", key=str(replay.card_id))
                    continue
                t = replay.report.totals
                table.add_row(replay.label, *(right(text) for text in (
                    format_number(t.transactions), format_number(t.refused), format_number(t.refused_amount, 2), format_number(t.reported),
                    format_number(t.reported_amount, 2))), key=str(replay.card_id))
            return
        from tui.screens.daily_transactions import product_text

        zone = self.app.session.zone if self.app.session is not None else None
        for index, item in enumerate(reports[0].items):
            table.add_row(f"{local(item.occurred_at):%d/%m/%y %H:%M}", product_text(item.product),
                          right("" if item.toll else number_text(item.quantity)), right(format_number(item.amount, 2)),
                          _(OUTCOMES.get(item.outcome, item.outcome)), findings_text(item.findings, zone),
                          key=str(index))

    def _detail(self, text: str) -> None:
        detail = self.query_one("#what-if-detail", Static)
        detail.update(text)
        detail.display = bool(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted line in full below the table: every rule, or why a card could not be replayed."""
        key = event.row_key.value if event.row_key is not None else None
        if key is None or not self.replays:
            self._detail("")
            return
        if self.bulk:
            replay = next((r for r in self.replays if str(r.card_id) == key), None)
            self._detail(f"{replay.label}: {replay.problem}" if replay is not None and replay.problem else "")
            return
        report = self.replays[0].report
        if report is None:
            return
        item = report.items[int(key)]
        zone = self.app.session.zone if self.app.session is not None else None
        self._detail(findings_text(item.findings, zone))

    # Actions -----------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "card_detail":
            return self.bulk
        return True

    def action_months(self, step: int) -> None:
        months = min(MAX_MONTHS, max(1, self.months + step))
        if months == self.months and not self._months_typed_differ():
            self.app.bell()
            return
        self.months = months
        self.replay()

    def _months_typed_differ(self) -> bool:
        return self.query_one(Input).value != str(self.months)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.months_entered()

    def months_entered(self) -> None:
        text = self.query_one(Input).value.strip()
        if not text:
            self.query_one(MessageLine).show_error(
                _("Type the number of months to replay, from 1 to {max}.").format(max=MAX_MONTHS))
            return
        self.months = int(text)  # out of range: the store says so
        self.replay()
        self.query_one(DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_card_detail()

    def action_card_detail(self) -> None:
        if isinstance(self.focused, Input):
            self.months_entered()  # Enter in the months field
            return
        if not self.bulk or self.running:
            return
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        replay = next((r for r in self.replays if str(r.card_id) == key), None)
        if replay is None or replay.report is None:
            self.app.bell()
            return
        self.app.push_screen(WhatIfScreen(self.config, card_id=replay.card_id, label=replay.label,
                                          months=self.months, replay=replay))

    def action_close(self) -> None:
        self.workers.cancel_group(self, "what-if")
        self.dismiss(None)
