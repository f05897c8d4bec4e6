"""Daily follow-up -> Anomalies (Fiches 02, 12): the uses of a card that deviated from its configuration.

The list shows the anomalies of the active customer number (F3 switches it), newest first, a few pages at a
time (`tui.widgets.paged_table`), filtered by status (new by default), kind of anomaly, card number or plate,
and the days they were detected (dd/mm/yyyy, the customer's time zone). Space marks anomalies; `a`
acknowledges the marked ones (or the highlighted one) with an optional comment, in one go
(`store.services.anomaly_review`). `c` opens the highlighted anomaly's card with the actions its status allows
(the card list's actions menu), so that a card used against its rules can be blocked at once; `b` goes straight
to blocking it.
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
from textual.widgets import Input, Label, Select, Static

from tui.i18n import N_, _, format_number, ngettext, pgettext
from tui.i18n.labels import NP_, anomaly_rules, tr
from tui.screens.card_actions import ActionsMenu, CardInfo, load_card_info, start_card_action
from tui.screens.daily_transactions import card_text, money, product_text, rule_text
from tui.screens.my_requests import parse_day
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

log = logging.getLogger(__name__)

CSS = "../styles/daily_followup.tcss"
ALL = "all"
STATUS_FILTERS = (
    ("new", NP_("anomaly status", "New")),
    ("acknowledged", N_("Acknowledged")),
    (ALL, N_("Every status")),
)
COLUMNS = (
    ("mark", "", 1),
    ("detected", N_("Detected"), 11),
    ("card", N_("Card/plate"), 11),  # nl "Kaart/plaat"
    ("rule", N_("Anomaly"), 26),
    ("amount", N_("Amount"), 8),
    ("status", N_("Status"), 7),  # fr "Nouveau"
)
SHORT_STATUS = {"new": NP_("anomaly status, short", "New"), "acknowledged": N_("Ack.")}  # the list's narrow column
UNAVAILABLE = N_("This could not be done right now; nothing was changed. Try again in a moment.")


# The details that are volumes, per rule (store.models.AnomalyRule values): shown by `volume_text`.
VOLUME_DETAILS = {"volume limit reached": ("limit", "quantity", "total"),
                  "volume above tank capacity": ("quantity", "tank_capacity_l")}


def volume_text(value) -> str:
    """A volume in an anomaly's details, as the app shows volumes: 3 decimals, the language's decimal mark
    ("51.500" in English, "51,500" in Dutch and French), whether the store wrote "51.5" or "51.500"."""
    from decimal import Decimal, InvalidOperation

    try:
        return format_number(Decimal(str(value)), 3)
    except (InvalidOperation, ValueError):
        return str(value)


def details_text(details: dict, rule=None) -> str:
    """The values that broke the rule, as `name: value` pairs; `rule` (an AnomalyRule or its value) tells
    which of them are volumes."""
    volumes = VOLUME_DETAILS.get(getattr(rule, "value", rule), ())

    def shown(key: str, value) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value) or "—"
        return volume_text(value) if key in volumes else str(value)

    return " · ".join(f"{key.replace('_', ' ')}: {shown(key, value)}" for key, value in details.items())


def acknowledged_text(result) -> str:
    """What acknowledging did, in one sentence per kind of outcome."""
    parts = []
    if result.acknowledged:
        parts.append(ngettext("{count} anomaly acknowledged.", "{count} anomalies acknowledged.",
                              result.acknowledged).format(count=result.acknowledged))
    if result.comments_changed:
        parts.append(ngettext("The comment of {count} anomaly acknowledged earlier was changed.",
                              "The comment of {count} anomalies acknowledged earlier was changed.",
                              result.comments_changed).format(count=result.comments_changed))
    if result.unchanged:
        parts.append(ngettext("{count} anomaly was acknowledged already: left as it was.",
                              "{count} anomalies were acknowledged already: left as they were.",
                              result.unchanged).format(count=result.unchanged))
    return " ".join(parts)


class AcknowledgeDialog(ModalScreen["str | None"]):
    """Acknowledge the chosen anomalies with an optional comment: Enter or Ctrl+S saves, Esc cancels. A refusal
    shows here and the comment stays; dismissed with the outcome's text."""

    CSS_PATH = CSS
    AUTO_FOCUS = "#acknowledge-comment"
    TITLE = N_("Acknowledge anomalies")
    HELP = N_("Acknowledging says the anomalies were seen and dealt with: they leave the list of new anomalies "
              "and keep who acknowledged them and when. The comment is optional. Acknowledging never blocks a "
              "card: for that, open the card (c) and block it.")
    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel"), id="anomaly_acknowledge_cancel"),
        Binding("ctrl+s", "save", N_("Acknowledge"), id="anomaly_acknowledge_save"),
    ]

    class Saved(Message):
        def __init__(self, text: str | None, problems: list[str] | None) -> None:
            super().__init__()
            self.text, self.problems = text, problems

    def __init__(self, names: list[str], save: Callable[[str], str]) -> None:
        super().__init__()
        self.names = names
        self.save_fn = save
        self.saving = False

    def compose(self) -> ComposeResult:
        from store.services.anomaly_review import COMMENT_MAX

        count = len(self.names)
        shown = ", ".join(self.names[:4]) + ("…" if count > 4 else "")
        with Vertical(id="acknowledge-dialog", classes="dialog"):
            yield Label(ngettext("Acknowledge {count} anomaly", "Acknowledge {count} anomalies", count).format(
                count=count), classes="dialog-title", markup=False)
            yield Static(shown, markup=False, classes="dialog-note")
            yield Label(_("Comment (optional, at most {count} characters)").format(count=COMMENT_MAX),
                        classes="field-label")
            yield Input(id="acknowledge-comment", max_length=COMMENT_MAX)
            yield MessageLine(id="acknowledge-message")
            yield Label(_("Enter or Ctrl+S: acknowledge · Esc: cancel"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.query_one(MessageLine).show_busy(_("Acknowledging…"))
        self.run_save(self.query_one("#acknowledge-comment", Input).value)

    @work(thread=True, group="anomaly-acknowledge", exit_on_error=False)
    def run_save(self, comment: str) -> None:
        from store.services.errors import DomainError

        try:
            self.post_message(self.Saved(self.save_fn(comment), None))
        except DomainError as exc:
            self.post_message(self.Saved(None, list(exc.problems)))
        except Exception:
            log.exception("Acknowledging anomalies failed")
            self.post_message(self.Saved(None, [_(UNAVAILABLE)]))

    def on_acknowledge_dialog_saved(self, message: Saved) -> None:
        self.saving = False
        if message.problems:
            self.query_one(MessageLine).show_error(*message.problems)
            return
        self.dismiss(message.text)

    def action_cancel(self) -> None:
        if not self.saving:
            self.dismiss(None)


class AnomaliesScreen(Screen[None]):
    CSS_PATH = CSS
    AUTO_FOCUS = "#anomaly-table"
    TITLE = N_("Anomalies")
    HELP = N_("Uses of your cards that deviated from their configuration, newest first, for the active "
              "customer number (F3 switches it). Mark several with the space bar and acknowledge them at once; "
              "open a card (c) to block it if it is being misused.")
    HELP_KEYS = (  # the footer's keys are listed after these
        (N_("/"), N_("Filter by card number or plate")),
        (N_("Ctrl+R"), N_("Clear the filters (back to the new ones)")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("space", "mark", N_("Mark"), id="anomaly_mark"),
        Binding("a", "acknowledge", N_("Acknowledge"), id="anomaly_acknowledge"),
        Binding("c", "card('menu')", N_("Card"), id="anomaly_card"),
        Binding("b", "card('block')", N_("Block card"), id="anomaly_block_card"),
        Binding("slash", "search", N_("Filter"), id="anomaly_search", show=False),
        Binding("ctrl+r", "clear_filters", N_("Clear filters"), id="anomaly_clear", show=False),
        Binding("f5", "refresh", N_("Refresh"), id="anomaly_refresh", show=False),
    ]

    class Counted(Message):
        def __init__(self, generation: int, count: int | None) -> None:
            super().__init__()
            self.generation, self.count = generation, count

    class CardRead(Message):
        def __init__(self, action: str, card: CardInfo | None, problem: str | None = None) -> None:
            super().__init__()
            self.action, self.card, self.problem = action, card, problem

    def __init__(self) -> None:
        super().__init__()
        self.marked: dict[int, str] = {}  # anomaly id -> a short label; kept across pages
        self.generation = 0
        self.count: int | None = None
        self._dates_shown: tuple[str, str] = ("", "")
        self._shown = None  # the filter the list shows

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="anomaly-filters", classes="followup-bar"):
            yield Select([(tr(label), value) for value, label in STATUS_FILTERS], value="new", allow_blank=False,
                         id="anomaly-status", compact=True)
            yield Select([(_("Every kind"), ALL)] + [(_(label), value) for value, label in anomaly_rules()],
                         value=ALL, allow_blank=False, id="anomaly-rule", compact=True)
            yield Input(placeholder=_("Card or plate"), id="anomaly-text", compact=True)
        with Horizontal(id="anomaly-dates", classes="followup-bar"):
            yield Label(_("From"), classes="followup-label")
            yield Input(id="anomaly-from", max_length=10, compact=True, placeholder=_("dd/mm/yyyy"))
            yield Label(pgettext("date bound", "To"), classes="followup-label")
            yield Input(id="anomaly-to", max_length=10, compact=True, placeholder=_("dd/mm/yyyy"))
            yield Label("", id="anomaly-count", classes="followup-hint", markup=False)
        table = PagedTable(id="anomaly-table", classes="followup-table",
                           failure=_("The anomalies could not be read right now. Try again in a moment."))
        for key, label, width in COLUMNS:
            table.add_column(_(label) if label else "", key=key, width=width)
        yield table
        yield Static("", id="anomaly-detail", classes="followup-detail", markup=False)
        yield MessageLine(id="anomaly-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", self._customer_changed, init=False)
        self.reload()

    def _customer_changed(self, _number: object = None) -> None:
        self.marked.clear()
        self.query_one(MessageLine).clear()
        self.reload()

    # Loading -----------------------------------------------------------------------------------

    def current_filter(self):
        """The filters as an AnomalyFilter, or None after showing which date is not valid."""
        from store.models import AnomalyRule, AnomalyStatus
        from store.queries.transactions import AnomalyFilter

        problems, days = [], {}
        for field, name in (("anomaly-from", _("From")), ("anomaly-to", pgettext("date bound", "To"))):
            text = self.query_one(f"#{field}", Input).value
            try:
                days[field] = parse_day(text)
            except ValueError:
                problems.append(_("{field}: “{text}” is not a date; type it as dd/mm/yyyy, e.g. 26/11/2026.")
                                .format(field=name, text=text))
        if not problems and days["anomaly-from"] and days["anomaly-to"] and days["anomaly-from"] > days["anomaly-to"]:
            problems.append(_("The From date is after the To date."))
        if problems:
            self.query_one(MessageLine).show_error(*problems)
            return None
        number = self.app.active_customer_number
        status = self.query_one("#anomaly-status", Select).value
        rule = self.query_one("#anomaly-rule", Select).value
        return AnomalyFilter(
            customer_number_id=number.id if number else None,
            statuses=() if status in (ALL, Select.BLANK) else (AnomalyStatus(status),),
            rule=None if rule in (ALL, Select.BLANK) else AnomalyRule(rule),
            date_from=days["anomaly-from"], date_to=days["anomaly-to"],
            text=self.query_one("#anomaly-text", Input).value)

    def reload(self, keep_cursor: bool = False) -> None:
        if self.app.session is None or self.app.active_customer_number is None:
            return
        where = self.current_filter()
        if where is None:
            return
        same_list, self._shown = where == self._shown, where
        self._dates_shown = tuple(self.query_one(f"#{f}", Input).value.strip()
                                  for f in ("anomaly-from", "anomaly-to"))
        self.generation += 1
        self.count = None
        self.show_count()
        actor = self.app.session.actor

        def fetch(session, after, limit):
            from store.queries.transactions import search_anomalies

            return search_anomalies(session, actor, where, after=after, limit=limit)

        table = self.query_one(PagedTable)
        if keep_cursor and same_list:
            table.reload()  # after an action: the same pages again, where the user was
        else:
            table.show(fetch, self.cells)
        self.count_matches(self.generation, where)

    @work(thread=True, group="anomaly-count", exit_on_error=False)
    def count_matches(self, generation: int, where) -> None:
        from store.queries.transactions import count_anomalies
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                count = count_anomalies(session, app.session.actor, where)
        except DomainError:  # the list shows the refusal
            count = None
        except Exception:
            log.exception("Counting the anomalies failed")
            count = None
        self.post_message(self.Counted(generation, count))

    def on_anomalies_screen_counted(self, message: Counted) -> None:
        if message.generation == self.generation:
            self.count = message.count
            self.show_count()

    def show_count(self) -> None:
        parts = []
        if self.count is not None:
            parts.append(ngettext("{count} anomaly", "{count} anomalies", self.count).format(
                count=format_number(self.count)))
        if self.marked:
            parts.append(_("{count} marked").format(count=len(self.marked)))
        self.query_one("#anomaly-count", Label).update(" · ".join(parts))

    def on_paged_table_loaded(self, message: PagedTable.Loaded) -> None:
        line = self.query_one(MessageLine)
        if message.problem:
            line.show_error(message.problem)
            return
        if message.first and not message.rows and line.kind in (None, "info"):
            status = self.query_one("#anomaly-status", Select).value
            line.show_info(_("No new anomaly: every anomaly that matches has been acknowledged.") if status == "new"
                           else _("No anomaly matches these filters."))
        elif message.first and line.kind == "info":
            line.clear()
        self.show_detail(message.table.current)

    def cells(self, row) -> list[str]:
        return ["✓" if row.id in self.marked else "", f"{self.app.session.local(row.detected_at):%d/%m %H:%M}",
                card_text(row.card_number, row.license_plate, row.embossed_name), rule_text(row.rule),
                money(row.amount_incl_vat) if row.amount_incl_vat is not None else "",
                tr(SHORT_STATUS.get(row.status.value, row.status.value))]

    def detail_text(self, row) -> str:
        local = self.app.session.local
        if row.occurred_at is not None:
            what = [_("{time} {place} ({country})").format(time=f"{local(row.occurred_at):%d/%m/%Y %H:%M}",
                                                          place=row.place, country=row.country)]
            if row.product is not None:
                what.append(product_text(row.product))
            if row.amount_incl_vat is not None:
                what.append(_("€ {amount}").format(amount=money(row.amount_incl_vat)))
        else:
            what = [_("Detected {time}").format(time=f"{local(row.detected_at):%d/%m/%Y %H:%M}"),
                    _("card {number}").format(number=row.card_number or card_text(None, row.license_plate,
                                                                                  row.embossed_name))]
        lines = [" · ".join(what)]
        values = details_text(row.details, row.rule)
        line = _("{rule}: {values}").format(rule=rule_text(row.rule), values=values) if values else rule_text(row.rule)
        if row.action.value == "block":  # notifying is the usual action: only a block is worth a word
            line += " · " + _("the card's limit blocks this product until the period ends")
        lines.append(line)
        if row.status.value == "acknowledged":
            when = f"{local(row.acknowledged_at):%d/%m/%Y %H:%M}" if row.acknowledged_at else "—"
            user = row.acknowledged_by or "—"
            lines.append(_("Acknowledged by {user} on {when}: {comment}").format(user=user, when=when,
                                                                                 comment=row.comment)
                         if row.comment else _("Acknowledged by {user} on {when}").format(user=user, when=when))
        return "\n".join(lines)

    def show_detail(self, row) -> None:
        self.query_one("#anomaly-detail", Static).update(self.detail_text(row) if row is not None else "")

    def on_data_table_row_highlighted(self, event) -> None:
        self.show_detail(self.query_one(PagedTable).current)

    # Filters -----------------------------------------------------------------------------------

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        # A Select reports its first value when it mounts: no need to read the same list again.
        if self.is_mounted and self._shown is not None and self.current_filter() != self._shown:
            self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()
        if self.query_one(MessageLine).kind != "error":
            self.query_one(PagedTable).focus()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        dates = tuple(self.query_one(f"#{f}", Input).value.strip() for f in ("anomaly-from", "anomaly-to"))
        if event.input.id in ("anomaly-from", "anomaly-to") and dates != self._dates_shown:
            self.reload()

    def action_search(self) -> None:
        self.query_one("#anomaly-text", Input).focus()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed):
            self.query_one("#anomaly-status", Select).value = "new"
            self.query_one("#anomaly-rule", Select).value = ALL
        for field in ("anomaly-text", "anomaly-from", "anomaly-to"):
            self.query_one(f"#{field}", Input).value = ""
        self.query_one(MessageLine).clear()
        self.reload()

    def action_refresh(self) -> None:
        self.query_one(MessageLine).clear()
        self.reload(keep_cursor=True)

    # Marks and acknowledging -------------------------------------------------------------------

    def action_mark(self) -> None:
        table = self.query_one(PagedTable)
        row = table.current
        if row is None:
            return
        if row.id in self.marked:
            self.marked.pop(row.id)
        else:
            self.marked[row.id] = _("{rule} on {card}").format(
                rule=rule_text(row.rule), card=card_text(row.card_number, row.license_plate, row.embossed_name))
        table.redraw(row)
        table.action_cursor_down()
        self.show_count()

    def selection(self) -> dict[int, str]:
        """The marked anomalies, else the highlighted one."""
        if self.marked:
            return dict(self.marked)
        row = self.query_one(PagedTable).current
        if row is None:
            return {}
        return {row.id: _("{rule} on {card}").format(
            rule=rule_text(row.rule), card=card_text(row.card_number, row.license_plate, row.embossed_name))}

    def action_acknowledge(self) -> None:
        from store.services.anomaly_review import acknowledge_anomalies

        chosen = self.selection()
        if not chosen:
            self.query_one(MessageLine).show_warning(_("Highlight or mark (space) an anomaly first."))
            return
        app, ids = self.app, list(chosen)

        def save(comment: str) -> str:
            with app.db.session() as session:
                result = acknowledge_anomalies(session, app.session.actor, app.db.clock.now(), ids, comment)
            return acknowledged_text(result)

        def closed(text: str | None) -> None:
            if text:
                self.marked.clear()
                self.query_one(MessageLine).show_success(text)
                self.reload(keep_cursor=True)

        self.app.push_screen(AcknowledgeDialog(list(chosen.values()), save), closed)

    # The card ----------------------------------------------------------------------------------

    def action_card(self, action: str) -> None:
        row = self.query_one(PagedTable).current
        if row is None:
            self.app.bell()
            return
        if "cards.manage" not in self.app.session.rights:
            self.query_one(MessageLine).show_warning(
                _("Opening a card to block or change it needs the right to manage cards. Ask an administrator to "
                  "grant it."))
            return
        self.query_one(MessageLine).clear()
        self.read_card(action, row.card_id)

    @work(thread=True, exclusive=True, group="anomaly-card", exit_on_error=False)
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

    def on_anomalies_screen_card_read(self, message: CardRead) -> None:
        card, line = message.card, self.query_one(MessageLine)
        if card is None:
            line.show_error(message.problem or "")
            return
        if message.action == "menu":
            self.app.push_screen(ActionsMenu(card), lambda chosen: self.start(chosen, card) if chosen else None)
        else:
            self.start(message.action, card)

    def start(self, action: str, card: CardInfo) -> None:
        start_card_action(self.app, action, card, self.card_done, self.query_one(MessageLine))

    def card_done(self, text: str | None) -> None:
        if text:
            self.query_one(MessageLine).show_success(text)
            self.reload(keep_cursor=True)

    def action_back(self) -> None:
        self.app.pop_screen()
