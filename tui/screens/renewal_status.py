"""My cards and OBUs -> Renewal status (Fiche 12): the cards of the renewal campaign, by expiry month.

Each month shows its dates (notice, reminder, end of update, activation) above its cards; the line under the
list explains the highlighted card (why a Cancelled card is not renewed). Space marks cards as in the card list;
`x` cancels, `r` renews, `c` changes the configuration of the renewed card (tabs: fuel/energy, car wash,
services, controls) — on the marked cards, or on the highlighted one. The store decides what is allowed
(`store.services.renewals`): only Candidate and Cancelled cards, inside the update window.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Label, Static, TabbedContent, TabPane

from tui.i18n import N_, _, ngettext, pgettext
from tui.i18n.labels import NP_, tr
from tui.widgets.controls_editor import ControlsEditor
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.limits_editor import LimitsEditor
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

RENEWAL_LABELS = {  # in a 10-wide column: a context of their own lets a translation abbreviate here only
    "candidate for renewal": NP_("narrow column", "Candidate"),
    "cancelled": NP_("narrow column", "Cancelled"),
    "in renewal": NP_("narrow column", "In renewal"),
    "renewed": N_("Renewed"),
    "none": N_("—"),
}
COLUMNS = (
    ("mark", "", 1),
    ("number", N_("Number"), 18),
    ("rank", N_("Rk"), 2),
    ("plate", N_("Plate/name"), 10),
    ("renewal", N_("Renewal"), 10),
    ("expiry", N_("Expiry"), 10),
    ("reviewed", N_("Seen"), 4),
    ("driver", N_("Driver"), 8),
)


def narrow_titles() -> dict[str, str]:
    """The titles of the columns too narrow for the usual word ("Bestuurder" is 10 wide): a context of their
    own lets a translation abbreviate here only."""
    return {"renewal": pgettext("narrow column", "Renewal"), "driver": pgettext("narrow column", "Driver")}


def month_line(line) -> str:
    return _("{month} · notice {notice} · reminder {reminder} · update until {until} · active {activation}").format(
        month=f"{line.month:%m/%Y}", notice=f"{line.notice:%d/%m}", reminder=f"{line.reminder:%d/%m}",
        until=f"{line.update_until:%d/%m}", activation=f"{line.activation:%d/%m}")


def explanation(card, line) -> str:
    """One line about the highlighted card: what will happen, or why it is Cancelled."""
    status = card.renewal_status.value
    if status == "cancelled":
        return card.reason
    if status == "in renewal":
        return _("The new card (rank {rank}) is being made; it is active from {day}.").format(
            rank=card.rank, day=f"{line.activation:%d/%m/%Y}")
    if not card.editable:
        return _("The update window is closed: the card is renewed as it is.")
    return _("Renewed automatically unless you cancel it by {until}.").format(until=f"{line.update_until:%d/%m/%Y}")


def summary(results) -> tuple[str, list[str]]:
    """The outcome of an action on cards: a count line, and the refusals with their reason."""
    done = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    if len(results) == 1:
        result = results[0]
        return (f"{result.label}: {result.message}", [])
    text = _("{done} of {total} cards done.").format(done=len(done), total=len(results))
    return text, [f"{r.label}: {r.message}" for r in refused]


class ProductLimits(LimitsEditor):
    """The limits editor for some products only (one tab of the configuration)."""

    def __init__(self, products, limits=(), **kwargs: Any) -> None:
        self._products = list(products)
        super().__init__(limits, **kwargs)

    def products(self):  # type: ignore[override]
        return self._products


def product_groups():
    from store.models.cards import FUELS, Product

    fuels = [p for p in Product if p in FUELS]
    services = [p for p in Product if p not in FUELS and p is not Product.CAR_WASH]
    return ((N_("Fuel/energy"), "fuel", fuels), (N_("Car wash"), "wash", [Product.CAR_WASH]),
            (N_("Services"), "services", services))


class RenewalConfigDialog(ModalScreen["str | None"]):
    """Change the configuration the renewed card(s) will carry. One card: its own settings, changed as a whole.
    Several: only the products filled in are set on each card, the controls only when "Replace the controls" is
    ticked. Ctrl+S saves; dismisses with the outcome text, or None."""

    CSS_PATH = "../styles/renewal.tcss"
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="renewal_config_back"),
        Binding("ctrl+s", "save", N_("Save"), id="renewal_config_save", priority=True),
    ]
    HELP = N_("Fuel/energy, car wash and services: tick what the card may buy and set an amount or volume per "
              "period. Controls: days, hours, countries and the technical controls. The renewed card carries the "
              "change; limits and controls work at once. Ctrl+S saves, Esc goes back.")

    def __init__(self, card_ids: list[int], spec=None, version: int | None = None, title: str = "") -> None:
        super().__init__()
        self.card_ids = card_ids
        self.spec = spec
        self.version = version
        self.title_text = title

    def compose(self) -> ComposeResult:
        limits = self.spec.limits if self.spec is not None else ()
        with Vertical(id="renewal-config", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            with TabbedContent(id="renewal-tabs"):
                for label, key, products in product_groups():
                    with TabPane(_(label), id=f"tab-{key}"):
                        yield ProductLimits(products, limits, id=f"limits-{key}")
                with TabPane(_("Controls"), id="tab-controls"):
                    if self.spec is None:
                        yield Checkbox(_("Replace the controls"), compact=True, id="renewal-replace-controls")
                    yield ControlsEditor(self.spec.controls if self.spec is not None else None,
                                         id="renewal-controls", disabled=self.spec is None)
            yield MessageLine(id="renewal-config-message")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        first = self.query("#limits-fuel Checkbox")
        if first:
            first.first().focus()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "renewal-replace-controls":
            self.query_one("#renewal-controls").disabled = not event.value

    def _editors(self) -> list[ProductLimits]:
        return list(self.query(ProductLimits))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        from store.services import renewals
        from store.services.card_specs import InvalidSpec
        from store.services.errors import DomainError

        line = self.query_one(MessageLine)
        controls_editor = self.query_one(ControlsEditor)
        problems: list[tuple[str, str]] = []
        limits: list = []
        for editor in self._editors():
            editor.clear_problems()
            problems += editor.parse_problems()
            limits += list(editor.value)
        controls_editor.clear_problems()
        controls = None
        if self.spec is not None or self.query_one("#renewal-replace-controls", Checkbox).value:
            controls, control_problems = controls_editor.read()
            problems += control_problems
        if not problems:
            app = self.app
            try:
                with app.db.session() as session:
                    now = app.db.clock.now()
                    if self.spec is not None:
                        changes = renewals.change_renewal_configuration(
                            session, app.session.actor, now, self.card_ids[0],
                            replace(self.spec, limits=tuple(limits), controls=controls), self.version)
                        text = (_("Nothing changed.") if not changes else
                                ngettext("{count} setting changed: the renewed card carries it.",
                                         "{count} settings changed: the renewed card carries them.",
                                         len(changes)).format(count=len(changes)))
                        self.dismiss(text)
                        return
                    results = renewals.change_renewal_configurations(session, app.session.actor, now,
                                                                     self.card_ids, limits=tuple(limits),
                                                                     controls=controls)
            except InvalidSpec as error:
                problems = [(p.field, p.message) for p in error.field_problems]
            except DomainError as error:
                line.show_error(error.message)
                return
            else:
                text, refused = summary(results)
                self.dismiss("\n".join([text, *refused]))
                return
        unplaced, first = [], None
        for path, message in problems:
            placed = False
            for editor in self._editors():
                if editor.show_problem(path, message):
                    placed = True
                    first = first or self._tab_of(editor)
            if not placed and controls_editor.show_problem(path, message):
                placed, first = True, first or "tab-controls"
            if not placed:
                unplaced.append(message)
        if first:
            self.query_one(TabbedContent).active = first
        count = ngettext("{count} problem to fix; see under its field.",
                         "{count} problems to fix; see under each field.", len(problems)).format(count=len(problems))
        line.show_error(count, *unplaced)

    @staticmethod
    def _tab_of(editor: Widget) -> str:
        return "tab-" + (editor.id or "").removeprefix("limits-")


class RenewalStatusScreen(Screen[None]):
    CSS_PATH = "../styles/renewal.tcss"
    AUTO_FOCUS = "#renewal-table"
    TITLE = N_("Renewal status")
    HELP = N_("The cards of the renewal campaign (Fiche 12), by expiry month, with the dates that matter. A "
              "Candidate is renewed automatically with its configuration; a Cancelled card is not renewed (not used "
              "in the last 3 months, or cancelled by you). Only Candidate and Cancelled cards can be changed, "
              "until the end of the update window. Space marks cards; the actions work on the marked cards, or on "
              "the highlighted one.")
    HELP_KEYS = (
        (N_("Space"), N_("Mark or unmark the card")),
        (N_("x"), N_("Cancel: the card is not renewed (it stays active until its expiry date)")),
        (N_("r"), N_("Renew: a Cancelled card becomes Candidate for renewal again")),
        (N_("c"), N_("Change the configuration the renewed card carries")),
    )
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back"),
        Binding("space", "mark", N_("Mark"), id="renewal_mark"),
        Binding("x", "cancel_renewal", N_("Cancel"), id="renewal_cancel"),
        Binding("r", "renew", N_("Renew"), id="renewal_renew"),
        Binding("c", "configure", N_("Configuration"), id="renewal_configure"),
        Binding("f5", "refresh", N_("Refresh"), id="renewal_refresh", show=False),
    ]

    class Loaded(Message):
        def __init__(self, months: list, problem: str | None = None) -> None:
            super().__init__()
            self.months = months
            self.problem = problem

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, tuple[Any, Any]] = {}  # row key -> (card row, timeline)
        self.months: dict[str, Any] = {}  # row key of a month's line -> its timeline
        self.marked: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        table = DataTable(id="renewal-table", cursor_type="row", zebra_stripes=False)
        narrow = narrow_titles()
        for key, label, width in COLUMNS:
            table.add_column(narrow.get(key) or _(label), key=key, width=width)
        yield table
        yield Static("", id="renewal-explain", markup=False)
        yield MessageLine(id="renewal-message")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "active_customer_number", lambda _n=None: self.reload(), init=False)
        self.reload()

    def reload(self) -> None:
        if self.app.session is None or self.app.active_customer_number is None:
            return
        self.fetch(self.app.active_customer_number.id)

    @work(thread=True, exclusive=True, group="renewal-status", exit_on_error=False)
    def fetch(self, number_id: int) -> None:
        from store.services.errors import DomainError
        from store.services.renewals import renewal_status_list

        app = self.app
        try:
            with app.db.session() as session:
                months = renewal_status_list(session, app.session.actor, app.db.clock.now(), number_id)
        except DomainError as error:
            self.post_message(self.Loaded([], error.message))
        except Exception:
            log.exception("Renewal status failed")
            self.post_message(self.Loaded([], _("The renewal status could not be read right now. Try again in a "
                                                "moment.")))
        else:
            self.post_message(self.Loaded(months))

    def on_renewal_status_screen_loaded(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        self.cards.clear()
        self.months.clear()
        if message.problem:
            self.query_one(MessageLine).show_error(message.problem)
        for month in message.months:
            key = f"m{month.timeline.month:%Y%m}"
            self.months[key] = month.timeline
            count = len(month.cards)
            # The deadline is a label and its value, in two cells (no sentence cut in two).
            table.add_row("", f"{month.timeline.month:%m/%Y}", "",
                          ngettext("{count} card", "{count} cards", count).format(count=count), _("Deadline"),
                          f"{month.timeline.update_until:%d/%m/%Y}", "", "", key=key)
            for card in month.cards:
                key = str(card.card_id)
                self.cards[key] = (card, month.timeline)
                table.add_row(*self.cells(card), key=key)
        if not message.months and not message.problem:
            self.query_one("#renewal-explain", Static).update(
                _("No card is in a renewal campaign: cards join it 3 months before the month they expire."))
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1))
            self.explain()

    def cells(self, card) -> list[str]:
        return ["✓" if card.card_id in self.marked else "", card.number, str(card.rank),
                card.license_plate or card.embossed_name or "", tr(RENEWAL_LABELS[card.renewal_status.value]),
                f"{card.expiry_date:%d/%m/%Y}",
                "" if not card.editable else _("yes") if card.reviewed else _("no"), card.driver_name or ""]

    def highlighted_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def highlighted(self):
        return self.cards.get(self.highlighted_key() or "")

    def explain(self) -> None:
        """Two lines: the dates of the highlighted row's month, and what happens to the highlighted card."""
        key = self.highlighted_key()
        found = self.cards.get(key or "")
        line = found[1] if found else self.months.get(key or "")
        text = month_line(line) if line else ""
        if found:
            text += "\n" + explanation(*found)
        self.query_one("#renewal-explain", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.explain()

    def action_mark(self) -> None:
        found = self.highlighted()
        if found is None:
            return
        card = found[0]
        if card.card_id in self.marked:
            del self.marked[card.card_id]
        else:
            self.marked[card.card_id] = card.number
        table = self.query_one(DataTable)
        table.update_cell(str(card.card_id), "mark", "✓" if card.card_id in self.marked else "")
        if table.cursor_row + 1 < table.row_count:
            table.move_cursor(row=table.cursor_row + 1)
        count = len(self.marked)
        self.query_one(MessageLine).show_info(
            ngettext("{count} card marked.", "{count} cards marked.", count).format(count=count))

    def targets(self) -> list[int]:
        if self.marked:
            return list(self.marked)
        found = self.highlighted()
        return [found[0].card_id] if found else []

    def _run(self, action: str) -> None:
        from store.services import renewals
        from store.services.errors import DomainError

        ids = self.targets()
        line = self.query_one(MessageLine)
        if not ids:
            line.show_info(_("Highlight a card, or mark cards with Space."))
            return
        do = renewals.cancel_renewals if action == "cancel" else renewals.restore_renewals
        app = self.app
        try:
            with app.db.session() as session:
                results = do(session, app.session.actor, app.db.clock.now(), ids)
        except DomainError as error:
            line.show_error(error.message)
            return
        self.marked.clear()
        self.show_results(results)
        self.reload()

    def show_results(self, results) -> None:
        text, refused = summary(results)
        line = self.query_one(MessageLine)
        if refused or not all(r.ok for r in results):
            line.show_error(text, *refused)
        else:
            line.show_success(text)

    def action_cancel_renewal(self) -> None:
        self._run("cancel")

    def action_renew(self) -> None:
        self._run("renew")

    def action_configure(self) -> None:
        from store.services.cards import spec_from_card
        from store.services.renewals import renewal_refusal

        ids = self.targets()
        line = self.query_one(MessageLine)
        if not ids:
            line.show_info(_("Highlight a card, or mark cards with Space."))
            return
        if len(ids) > 1:
            title = _("Configuration of the {count} renewed cards").format(count=len(ids))
            self.app.push_screen(RenewalConfigDialog(ids, title=title), self.configured)
            return
        card, _dates = self.cards[str(ids[0])]
        if not card.editable:
            from store.models import Card

            with self.app.db.session() as session:
                row = session.get(Card, card.card_id)
                today = self.app.session.local(self.app.db.clock.now()).date()
                reason = renewal_refusal(row, today, "configure") if row else None
            line.show_error(reason or _("This card can no longer be changed."))
            return
        with self.app.db.session() as session:
            spec = spec_from_card(session, card.card_id)
        title = _("Configuration of the renewed card {number}").format(number=card.number)
        self.app.push_screen(RenewalConfigDialog(ids, spec, card.version, title), self.configured)

    def configured(self, text: str | None) -> None:
        if not text:
            return
        self.marked.clear()
        lines = text.split("\n")
        line = self.query_one(MessageLine)
        if len(lines) > 1:
            line.show_error(*lines)
        else:
            line.show_success(lines[0])
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()
