"""The dialogs of the card actions (Fiches 09, 12, 13): block, delete, cancel, renew, PIN reissue, view,
and the actions menu of a card. Every rule is the store's: a dialog only asks, calls the service in a worker
and shows what the service answered.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from tui.i18n import N_, _, ngettext
from tui.i18n.labels import (
    NP_,
    block_reason_label,
    code_type_label,
    limit_action_label,
    period_label,
    product_label,
    product_type_label,
    tr,
    weekday_short,
)
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

# The actions, in menu order: (action value, key, label). The keys are the card list's direct keys.
ACTION_KEYS: tuple[tuple[str, str, str], ...] = (
    ("view", "v", N_("View details")),
    ("change", "c", N_("Change settings")),
    ("copy", "o", N_("Create copy")),
    ("block", "b", N_("Block")),
    ("delete", "d", N_("Delete")),
    ("cancel", "x", N_("Cancel (do not renew)")),
    ("renew", "r", N_("Renew")),
    ("pin reissue", "p", N_("Reissue PIN")),
)

BLOCK_REASONS: tuple[tuple[str, str], ...] = (
    ("theft", N_("Theft")),
    ("loss", N_("Loss")),
    ("not received", N_("Not received")),
    ("defect", N_("Defect")),
)

STATUS_LABELS = {
    "new": NP_("card status", "New"),
    "in production": N_("In production"),
    "active": N_("Active"),
    "blocked": N_("Blocked"),
    "deleted": N_("Deleted"),
    "expired": N_("Expired"),
}
RENEWAL_LABELS = {
    "none": N_("Not in renewal"),
    "candidate for renewal": N_("Candidate for renewal"),
    "cancelled": N_("Cancelled (not renewed)"),
    "in renewal": N_("In renewal"),
    "renewed": N_("Renewed"),
}


def status_text(value: str) -> str:
    return tr(STATUS_LABELS.get(value, value))


def renewal_text(value: str) -> str:
    return _(RENEWAL_LABELS.get(value, value))


def day_text(day: date | None) -> str:
    return f"{day:%d/%m/%Y}" if day else "—"


@dataclass(frozen=True)
class CardInfo:
    """What a dialog needs to know about a card: plain values, read in a worker."""

    id: int
    label: str  # the number, else the plate or name
    is_obu: bool
    status: str
    renewal_status: str
    expiry_date: date | None
    plate: str | None
    allowed: tuple[str, ...]  # the CardAction values the card's state allows
    refusals: dict  # CardAction value -> the store's reason, for the refused ones


def load_card_info(db, actor, card_id: int) -> CardInfo:
    """Read one card fresh (runs in a worker thread)."""
    from store.models import Card
    from store.services.cards import CardAction, card_label, refusal
    from store.services.errors import NotFound

    with db.session() as session:
        card = session.get(Card, card_id)
        if card is None:
            raise NotFound(_("This card or OBU does not exist."))
        actor.require_customer_number(card.customer_number_id)
        refusals = {action.value: refusal(card, action) for action in CardAction}
        return CardInfo(
            id=card.id, label=card_label(card), is_obu=card.product_type.is_obu, status=card.status.value,
            renewal_status=card.renewal_status.value, expiry_date=card.expiry_date, plate=card.license_plate,
            allowed=tuple(a for a, reason in refusals.items() if reason is None),
            refusals={a: reason for a, reason in refusals.items() if reason},
        )


class ActionsMenu(ModalScreen["str | None"]):
    """The actions of one card: only those its state allows, each with its direct key."""

    CSS_PATH = "../styles/card_actions.tcss"
    BINDINGS = [Binding("escape", "close", N_("Back"), id="close")]
    TITLE = N_("Card actions")
    HELP = N_("The actions this card's status allows. Choose one with the arrows and Enter, or press its key.")

    def __init__(self, card: CardInfo) -> None:
        super().__init__()
        self.card = card
        self.actions = [(a, key, label) for a, key, label in ACTION_KEYS if a in card.allowed]

    def compose(self) -> ComposeResult:
        with Vertical(id="actions-dialog", classes="dialog"):
            yield Label(_("Actions for {card}").format(card=self.card.label), classes="dialog-title", markup=False)
            yield OptionList(
                *(Option(Content(f"{key}  {_(label)}"), id=action) for action, key, label in self.actions),
                id="actions-list",
            )
            yield Label(_("Enter or the key: choose · Esc: back"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event) -> None:
        for action, key, _label in self.actions:
            if event.key == key:
                event.stop()
                self.dismiss(action)
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


class ActionDialog(ModalScreen["str | None"]):
    """A confirmation whose dangerous button is never the default: the focus starts on Back, confirming
    takes Ctrl+Y or a deliberate move to the confirm button. Dismissed with the success message."""

    CSS_PATH = "../styles/card_actions.tcss"
    BINDINGS = [
        Binding("escape", "close", N_("Back"), id="close"),
        Binding("ctrl+y", "confirm", N_("Confirm"), id="confirm"),
    ]
    CONFIRM_LABEL = N_("Confirm")
    DIALOG_ID = "action-dialog"

    class Done(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Failed(Message):
        def __init__(self, problems: list[str]) -> None:
            super().__init__()
            self.problems = problems

    def __init__(self, card: CardInfo) -> None:
        super().__init__()
        self.card = card
        self.busy = False
        self.finished = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id=self.DIALOG_ID, classes="dialog action-dialog"):
            yield Label(self.title_text(), classes="dialog-title", markup=False)
            yield from self.body()
            yield MessageLine(id="dialog-message")
            with Horizontal(classes="buttons"):
                yield Button(_(self.CONFIRM_LABEL), id="confirm", variant="error")
                yield Button(_("Back"), id="back")
            yield Label(_("Ctrl+Y: {confirm} · Esc: back").format(confirm=_(self.CONFIRM_LABEL)),
                        classes="dialog-hint", markup=False)

    def title_text(self) -> str:
        """The dialog's title; every dialog defines it."""
        raise TypeError(f"{type(self).__name__} defines no title_text()")

    def body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.first_focus().focus()

    def first_focus(self):
        """Where the focus starts: never on the dangerous button."""
        return self.query_one("#back", Button)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.action_close()

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(None)

    async def action_confirm(self) -> None:
        if self.busy or self.finished:
            return
        # Keys typed just before (Space on the duplicate box) must have landed before the choices are read.
        await self.app.flush_focused()
        self.busy = True
        self.query_one("#confirm", Button).disabled = True
        self.query_one(MessageLine).show_busy(_("Sending to the issuer…"))
        self.perform(self.gather())

    def gather(self) -> dict:
        """What the user chose in the dialog, read on the UI thread."""
        return {}

    def call(self, session, actor, now, **choices) -> str:
        """Run the service; return the success message. Every dialog defines it."""
        raise TypeError(f"{type(self).__name__} defines no call()")

    @work(thread=True, exclusive=True, group="card-action", exit_on_error=False)
    def perform(self, choices: dict) -> None:
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                text = self.call(session, app.session.actor, app.db.clock.now(), **choices)
        except DomainError as exc:
            self.post_message(self.Failed(list(exc.problems)))
        except Exception:
            log.exception("Card action failed")
            self.post_message(self.Failed([_("This could not be done right now. Try again in a moment.")]))
        else:
            self.post_message(self.Done(text))

    def on_action_dialog_done(self, message: Done) -> None:
        self.busy = False
        self.dismiss(message.text)

    def on_action_dialog_failed(self, message: Failed) -> None:
        self.busy = False
        self.query_one("#confirm", Button).disabled = False
        self.query_one(MessageLine).show_error(*message.problems)


class BlockDialog(ActionDialog):
    TITLE = N_("Block a card or OBU")
    HELP = N_("Blocking is final for this plastic: it can never be used again. Choose the reason and whether a "
              "duplicate (a new card with a new number and the same settings) must be ordered.")
    CONFIRM_LABEL = N_("Block for good")
    DIALOG_ID = "block-dialog"

    def title_text(self) -> str:
        return (_("Block OBU {card}") if self.card.is_obu else _("Block card {card}")).format(card=self.card.label)

    def body(self) -> ComposeResult:
        yield Static(_("Blocking is final for this plastic: it can never be used again."),
                     id="block-warning", classes="dialog-warning", markup=False)
        yield Label(_("Reason"), classes="field-label")
        with RadioSet(id="block-reason"):
            for index, (_value, label) in enumerate(BLOCK_REASONS):
                yield RadioButton(_(label), value=index == 0)
        yield Checkbox(_("Order a duplicate: a new card, new number, same settings"),
                       id="block-duplicate")

    def first_focus(self):
        return self.query_one(RadioSet)

    def gather(self) -> dict:
        index = self.query_one(RadioSet).pressed_index
        return {"reason": BLOCK_REASONS[max(index, 0)][0],
                "duplicate": self.query_one("#block-duplicate", Checkbox).value}

    def call(self, session, actor, now, reason: str, duplicate: bool) -> str:
        from store.models import BlockReason
        from store.services.cards import block_card

        result = block_card(session, actor, now, self.card.id, BlockReason(reason), duplicate)
        if result.duplicate_request is not None:
            return _("{card} is blocked. A duplicate is ordered: request {request} (a new card with a new "
                     "number); follow it in My requests.").format(card=self.card.label,
                                                                   request=result.duplicate_request.id)
        return _("{card} is blocked.").format(card=self.card.label)


class DeleteDialog(ActionDialog):
    TITLE = N_("Delete a new card or OBU")
    HELP = N_("A new card or OBU that is not produced yet can be deleted: that stops its production.")
    CONFIRM_LABEL = N_("Delete")
    DIALOG_ID = "delete-dialog"

    def __init__(self, card: CardInfo, note: str | None = None) -> None:
        super().__init__(card)
        self.note = note

    def title_text(self) -> str:
        return (_("Delete OBU {card}") if self.card.is_obu else _("Delete card {card}")).format(card=self.card.label)

    def body(self) -> ComposeResult:
        if self.note:
            yield Static(self.note, id="delete-note", classes="dialog-note", markup=False)
        yield Static(_("Deleting stops its production: it will not be made or sent. This cannot be undone."),
                     id="delete-text", classes="dialog-warning", markup=False)

    def call(self, session, actor, now) -> str:
        from store.services.cards import delete_card

        delete_card(session, actor, now, self.card.id)
        return _("{card} is deleted: its production is stopped.").format(card=self.card.label)


class CancelDialog(ActionDialog):
    TITLE = N_("Cancel a card or OBU")
    HELP = N_("A cancelled card is not renewed after its expiry date but stays active until then. Cancelling "
              "is not blocking: a lost or stolen card must be blocked.")
    CONFIRM_LABEL = N_("Cancel the card")
    DIALOG_ID = "cancel-dialog"

    def title_text(self) -> str:
        return (_("Cancel OBU {card}") if self.card.is_obu else _("Cancel card {card}")).format(card=self.card.label)

    def body(self) -> ComposeResult:
        yield Static(_("Cancelling is not blocking: the card stays active until its expiry on {day} and will not be "
                       "renewed. A lost or stolen card must be blocked.").format(day=day_text(self.card.expiry_date)),
                     id="cancel-text", classes="dialog-warning", markup=False)

    def call(self, session, actor, now) -> str:
        from store.services.cards import cancel_card

        cancel_card(session, actor, now, self.card.id)
        return _("{card} is cancelled: it stays active until {day} and will not be renewed.").format(
            card=self.card.label, day=day_text(self.card.expiry_date))


class RenewDialog(ActionDialog):
    TITLE = N_("Renew a cancelled card or OBU")
    HELP = N_("Renew undoes a cancel: the card is renewed after all when its expiry date comes.")
    CONFIRM_LABEL = N_("Renew")
    DIALOG_ID = "renew-dialog"

    def title_text(self) -> str:
        return (_("Renew OBU {card}") if self.card.is_obu else _("Renew card {card}")).format(card=self.card.label)

    def body(self) -> ComposeResult:
        yield Static(_("This card was cancelled. Renewing it undoes that: it will be renewed with the same "
                       "settings when it expires on {day}.").format(day=day_text(self.card.expiry_date)),
                     id="renew-text", markup=False)

    def call(self, session, actor, now) -> str:
        from store.services.cards import renew_card

        renew_card(session, actor, now, self.card.id)
        return _("{card} will be renewed.").format(card=self.card.label)


@dataclass(frozen=True)
class PinResult:
    label: str
    ok: bool
    message: str
    request_id: int | None = None


def pin_result_line(result: PinResult) -> str:
    """One card's outcome; the request number has its own place in the sentence (no text glued after)."""
    if not result.ok:
        return _("✗ {card}: {text}").format(card=result.label, text=result.message)
    if result.request_id:
        return _("✓ {card} (request {request}): {text}").format(card=result.label, request=result.request_id,
                                                                text=result.message)
    return _("✓ {card}: {text}").format(card=result.label, text=result.message)


class PinReissueDialog(ModalScreen[bool]):
    """Fiche 13: a new PIN (a new plastic: same number, next rank) for each selected card. Dismissed with
    True when something was sent, so the list reloads."""

    CSS_PATH = "../styles/card_actions.tcss"
    BINDINGS = [
        Binding("escape", "close", N_("Back"), id="close"),
        Binding("ctrl+y", "confirm", N_("Reissue PIN"), id="confirm"),
    ]
    TITLE = N_("Reissue PIN")
    HELP = N_("Each selected card gets a new plastic (same number, next rank) with a PIN the issuer computes "
              "and sends by post. Cards that cannot get a new PIN are listed with the reason.")

    class Done(Message):
        def __init__(self, results: list[PinResult]) -> None:
            super().__init__()
            self.results = results

    class Failed(Message):
        def __init__(self, problems: list[str]) -> None:
            super().__init__()
            self.problems = problems

    def __init__(self, cards: Sequence[tuple[int, str]]) -> None:
        """`cards`: (id, label) of the selected cards."""
        super().__init__()
        self.cards = list(cards)
        self.busy = False
        self.results: list[PinResult] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="pin-dialog", classes="dialog action-dialog"):
            yield Label(ngettext("Reissue the PIN of {count} card", "Reissue the PIN of {count} cards",
                                 len(self.cards)).format(count=len(self.cards)),
                        classes="dialog-title", markup=False)
            yield Static(_("Each card gets a new plastic with the same number and a new PIN, sent by post."),
                         markup=False)
            yield Static("\n".join(f"• {label}" for _id, label in self.cards), id="pin-cards", markup=False)
            yield Static("", id="pin-results", markup=False)
            yield MessageLine(id="dialog-message")
            with Horizontal(classes="buttons"):
                yield Button(_("Reissue PIN"), id="confirm", variant="warning")
                yield Button(_("Back"), id="back")
            yield Label(_("Ctrl+Y: reissue · Esc: back"), classes="dialog-hint", id="pin-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#back", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.action_close()

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(self.results is not None and any(r.ok for r in self.results))

    def action_confirm(self) -> None:
        if self.busy or self.results is not None:
            return
        self.busy = True
        self.query_one("#confirm", Button).disabled = True
        self.query_one(MessageLine).show_busy(_("Sending to the issuer…"))
        self.perform([card_id for card_id, _label in self.cards])

    @work(thread=True, exclusive=True, group="card-action", exit_on_error=False)
    def perform(self, card_ids: list[int]) -> None:
        from store.services.cards import reissue_pins
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as session:
                results = reissue_pins(session, app.session.actor, app.db.clock.now(), card_ids)
                session.commit()
        except DomainError as exc:
            self.post_message(self.Failed(list(exc.problems)))
        except Exception:
            log.exception("PIN reissue failed")
            self.post_message(self.Failed([_("This could not be done right now. Try again in a moment.")]))
        else:
            shown = [PinResult(result.label, result.ok, result.message, result.request_id if result.ok else None)
                     for result in results]
            self.post_message(self.Done(shown))

    def on_pin_reissue_dialog_done(self, message: Done) -> None:
        self.busy = False
        self.results = message.results
        lines = [pin_result_line(r) for r in message.results]
        self.query_one("#pin-cards").display = False
        self.query_one("#pin-results", Static).update("\n".join(lines))
        done = sum(r.ok for r in message.results)
        line = self.query_one(MessageLine)
        if done == len(message.results):
            line.show_success(_("A new PIN is requested for every selected card."))
        elif done:
            line.show_warning(_("A new PIN is requested for {done} of {count} cards; see why for the others.")
                              .format(done=done, count=len(message.results)))
        else:
            line.show_error(_("No card could get a new PIN; see why above."))
        self.query_one("#confirm", Button).display = False
        self.query_one("#back", Button).label = _("Close")
        self.query_one("#pin-hint", Label).update(_("Esc: close"))
        self.query_one("#back", Button).focus()

    def on_pin_reissue_dialog_failed(self, message: Failed) -> None:
        self.busy = False
        self.query_one("#confirm", Button).disabled = False
        self.query_one(MessageLine).show_error(*message.problems)


def card_details(db, actor, card_id: int, local) -> list[tuple[str, str]]:
    """The card's settings, limits, controls and plastics as (label, value) lines, read-only (worker thread).
    `local` turns an aware UTC datetime into the customer's zone."""
    from sqlmodel import select

    from store.models import Card, CardLimit, FleetDivision, TollCondition
    from store.queries.cards import plastics
    from store.services.errors import NotFound

    def when(moment: datetime | None) -> str:
        return f"{local(moment):%d/%m/%Y %H:%M}" if moment else "—"

    def text(value) -> str:
        return "—" if value in (None, "", [], {}) else str(value)

    with db.session() as session:
        card = session.get(Card, card_id)
        if card is None:
            raise NotFound(_("This card or OBU does not exist."))
        actor.require_customer_number(card.customer_number_id)
        division = session.get(FleetDivision, card.division_id)
        lines: list[tuple[str, str]] = [
            ("", _("General")),
            (_("Type"), product_type_label(card.product_type)),
            (_("Number"), text(card.number)),
            (_("Rank"), str(card.rank)),
            (_("Status"), status_text(card.status.value)),
            (_("Renewal"), renewal_text(card.renewal_status.value)),
            (_("Expiry"), day_text(card.expiry_date)),
            (_("Licence plate"), text(card.license_plate)),
            (_("Embossed name"), text(card.embossed_name)),
            (_("Driver"), text(card.driver_name)),
            (_("Fleet division"), division.name if division else "—"),
            (_("Category"), text(card.category)),
            (_("Vehicle type"), text(card.vehicle_type)),
            (_("Code type"), code_type_label(card.code_type)),
            (_("Last use"), when(card.last_used_at)),
            (_("Created"), when(card.created_at)),
        ]
        if card.block_reason:
            lines.append((_("Blocked"), _("{reason} on {when}").format(
                reason=block_reason_label(card.block_reason), when=when(card.blocked_at))))
        lines.append(("", _("Limits")))
        limits = session.exec(select(CardLimit).where(CardLimit.card_id == card.id).order_by(CardLimit.id)).all()
        for limit in limits:
            if not limit.allowed:
                value = _("not allowed")
            else:
                parts = []
                if limit.amount is not None:
                    parts.append(_("€ {amount}").format(amount=limit.amount))
                if limit.volume is not None:
                    parts.append(_("{volume} l").format(volume=limit.volume))
                value = _("{limit} per {period}, {action}").format(
                    limit=" / ".join(parts), period=period_label(limit.period),
                    action=limit_action_label(limit.action)) if parts else _("allowed, no limit")
            lines.append((product_label(limit.product), value))
        if not limits:
            lines.append((_("Limits"), _("none")))
        lines += [
            ("", _("Controls")),
            (_("Odometer prompt"), _("yes") if card.odometer_prompt else _("no")),
            (_("Tank capacity"), _("{volume} l").format(volume=card.tank_capacity_l)
             if card.tank_capacity_l is not None else "—"),
            (_("Allowed days"), " ".join(weekday_short(d) for d in card.allowed_weekdays) or "—"),
            (_("Allowed hours"), f"{card.allowed_hours_from}–{card.allowed_hours_to}"
             if card.allowed_hours_from else _("any time")),
            (_("Forbidden days"), ", ".join(card.forbidden_days) or "—"),
            (_("Countries"), ", ".join(card.allowed_countries) or _("everywhere")),
            (_("Transactions a day"), text(card.max_transactions_per_day)),
        ]
        if card.product_type.is_obu:
            tolls = session.exec(select(TollCondition).where(TollCondition.card_id == card.id)).all()
            lines += [
                ("", _("OBU")),
                (_("Vehicle class"), text(card.vehicle_class)),
                (_("Weight"), _("{kg} kg").format(kg=card.weight_kg) if card.weight_kg else "—"),
                (_("Axles"), text(card.axles)),
                (_("Euro class"), text(card.euro_class)),
                (_("Toll operators"), ", ".join(t.operator.value for t in tolls) or "—"),
            ]
        lines.append(("", _("Plastics")))
        for plastic in plastics(session, card.id):
            lines.append((_("Rank {rank}").format(rank=plastic.rank), _("{status}, expires {day}").format(
                status=status_text(plastic.status.value), day=day_text(plastic.expiry_date))))
        return lines


class CardViewDialog(ModalScreen[None]):
    CSS_PATH = "../styles/card_actions.tcss"
    BINDINGS = [Binding("escape", "close", N_("Close"), id="close")]
    TITLE = N_("Card details")
    HELP = N_("Everything about this card or OBU, read-only. Use Change settings to change it.")

    class Loaded(Message):
        def __init__(self, lines: list[tuple[str, str]] | None, problem: str | None = None) -> None:
            super().__init__()
            self.lines = lines
            self.problem = problem

    def __init__(self, card: CardInfo) -> None:
        super().__init__()
        self.card = card

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog", classes="dialog"):
            yield Label((_("OBU {card}") if self.card.is_obu else _("Card {card}")).format(card=self.card.label),
                        classes="dialog-title", markup=False)
            with VerticalScroll(id="view-body", can_focus=True):
                yield Static(_("Loading…"), id="view-text", markup=False)
            yield MessageLine(id="dialog-message")
            yield Label(_("↑ ↓ PgUp PgDn: scroll · Esc: close"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#view-body").focus()
        self.load()

    @work(thread=True, exclusive=True, group="card-view", exit_on_error=False)
    def load(self) -> None:
        from store.services.errors import DomainError

        app = self.app
        try:
            lines = card_details(app.db, app.session.actor, self.card.id, app.session.local)
        except DomainError as exc:
            self.post_message(self.Loaded(None, exc.message))
        except Exception:
            log.exception("Card details failed")
            self.post_message(self.Loaded(None, _("The details could not be read right now.")))
        else:
            self.post_message(self.Loaded(lines))

    def on_card_view_dialog_loaded(self, message: Loaded) -> None:
        if message.lines is None:
            self.query_one("#view-text", Static).update("")
            self.query_one(MessageLine).show_error(message.problem or "")
            return
        content = Content("\n").join(
            Content.styled(value, "bold") if not label
            else Content.assemble((f"{label:<20}", "dim"), value)
            for label, value in message.lines
        )
        self.query_one("#view-text", Static).update(content)

    def action_close(self) -> None:
        self.dismiss(None)


def start_card_action(app, action: str, card: CardInfo, done, line: MessageLine | None = None) -> None:
    """Open the dialog of `action` for `card`, unless the card's status refuses it (the store's reason).
    `done(text | None)` is called when the dialog closes."""
    reason = card.refusals.get(action)
    if reason:
        if line is not None:
            line.show_error(reason)
        if action == "block" and "delete" in card.allowed:
            app.push_screen(DeleteDialog(card, note=reason), done)
        return
    if action == "view":
        app.push_screen(CardViewDialog(card))
    elif action in ("change", "copy"):
        from tui.screens.card_form import CardFormScreen

        app.push_screen(CardFormScreen(mode=action, card_id=card.id), lambda _r=None: done(None))
    elif action == "block":
        app.push_screen(BlockDialog(card), done)
    elif action == "delete":
        app.push_screen(DeleteDialog(card), done)
    elif action == "cancel":
        app.push_screen(CancelDialog(card), done)
    elif action == "renew":
        app.push_screen(RenewDialog(card), done)
    elif action == "pin reissue":
        app.push_screen(PinReissueDialog([(card.id, card.label)]),
                        lambda sent: done(_("A new PIN is requested for {card}.").format(card=card.label)
                                          if sent else None))
