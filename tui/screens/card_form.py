"""My cards and OBUs -> Create card/OBU (Fiches 03, 05), change its settings (Fiches 07, 08), copy (Fiche 04).

One screen, three modes:
- create: choose the type (a small dialog), then the form in tabs; Validate, or Validate and create copy.
- change: the card's settings in the same tabs; Validate shows what changes and what each change does
  (reproduction, immediate, confirmation by the issuer with its fee) before anything is saved.
- copy: only the licence plate and the PIN (and documents for an OBU); everything else from the source.

The screen decides no business rule: it turns the text typed into a CardSpec, asks `validate_spec` for
instant feedback and the card services (in a thread worker: PIN hashing is slow) for the verdict, and
shows every problem under its field. Nothing typed is lost on an error.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from tui.i18n import N_, _, ngettext
from tui.i18n.labels import product_type_label
from tui.widgets.controls_editor import ControlsEditor, parse_number, widget_id
from tui.widgets.footer import Footer
from tui.widgets.header import SessionHeader
from tui.widgets.limits_editor import CycleField, LimitsEditor
from tui.widgets.message_line import MessageLine

log = logging.getLogger(__name__)

CSS = "../styles/card_form.tcss"
DIGITS = r"[0-9]*"
# Whole titles and messages per card type (a translator needs the type to make the sentence agree with it).
FORM_TITLES = {  # (mode, ProductType value) -> title
    ("new", "fleet card"): N_("New Fleet Card"),
    ("new", "passango obu"): N_("New PASSango OBU"),
    ("new", "libert obu"): N_("New Liber-t OBU"),
    ("change", "fleet card"): N_("Change Fleet Card {label}"),
    ("change", "passango obu"): N_("Change PASSango OBU {label}"),
    ("change", "libert obu"): N_("Change Liber-t OBU {label}"),
    ("copy", "fleet card"): N_("Copy Fleet Card {label}"),
    ("copy", "passango obu"): N_("Copy PASSango OBU {label}"),
    ("copy", "libert obu"): N_("Copy Liber-t OBU {label}"),
}
CREATED_MESSAGES = {  # (copy after?, ProductType value) -> message
    (False, "fleet card"): N_("Fleet Card request #{request} created: follow it in My requests."),
    (False, "passango obu"): N_("PASSango OBU request #{request} created: follow it in My requests."),
    (False, "libert obu"): N_("Liber-t OBU request #{request} created: follow it in My requests."),
    (True, "fleet card"): N_("Fleet Card request #{request} created; a copy is ready."),
    (True, "passango obu"): N_("PASSango OBU request #{request} created; a copy is ready."),
    (True, "libert obu"): N_("Liber-t OBU request #{request} created; a copy is ready."),
}


def effect_text(change: Any) -> str:
    """What a change does, as the confirmation lists it (Fiches 07, 08)."""
    from store.services.cards import ChangeEffect

    if change.effect is ChangeEffect.REPRODUCTION:
        return _("reproduction (new plastic, same number, rank + 1; the old one stays valid until its expiry)")
    if change.effect is ChangeEffect.CONFIRMATION:
        return _("confirmation by the issuer, fee € {fee}").format(fee=f"{change.fee or 0:.2f}")
    return _("immediate")


def money(value: Any) -> str:
    return f"€ {value:.2f}"


@dataclass
class Reference:
    """What the form shows from the database, read once in a worker."""

    divisions: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # number id -> (name, id)
    shipping: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    pin_mailing: dict[int, str] = field(default_factory=dict)
    spec: Any = None  # CardSpec to start from
    card: Any = None  # the card being changed or copied (detached)
    version: int | None = None
    refusal: str | None = None
    link_label: str = ""
    card_label: str = ""


# --- dialogs ----------------------------------------------------------------------------------------


class ProductTypeDialog(ModalScreen["Any | None"]):
    """Create card/OBU, step 1: the type."""

    CSS_PATH = CSS
    BINDINGS = [Binding("escape", "cancel", N_("Cancel"), id="cancel")]
    TITLE = N_("Create card/OBU")
    HELP = N_("Choose what to order: a Fleet Card for fuel and services, a PASSango OBU for European tolls or "
              "a Liber-t OBU for French tolls.")

    def compose(self) -> ComposeResult:
        from store.models import ProductType

        with Vertical(id="type-dialog", classes="dialog"):
            yield Label(_("What do you want to order?"), classes="dialog-title")
            yield OptionList(*(Option(product_type_label(t), id=t.name) for t in ProductType), id="product-types")
            yield Label(_("Enter: choose · Esc: cancel"), classes="dialog-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        from store.models import ProductType

        event.stop()
        self.dismiss(ProductType[event.option.id])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; Enter or Y confirms, Esc or N goes back."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape,n", "answer(False)", N_("No"), id="confirm_no"),
        Binding("y", "answer(True)", N_("Yes"), id="confirm_yes"),
    ]

    def __init__(self, title: str, text: str, yes: str, no: str) -> None:
        super().__init__()
        self.title_text, self.text, self.yes, self.no = title, text, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.text, markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.yes, id="yes", variant="primary", compact=True)
                yield Button(self.no, id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ChangePreviewDialog(ModalScreen[bool]):
    """Before a change is saved: each changed field, before → after, and what it does (Fiche 07)."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape", "answer(False)", N_("Back to the form"), id="preview_back"),
        Binding("ctrl+s", "answer(True)", N_("Confirm"), id="preview_confirm"),
    ]
    TITLE = N_("Confirm the changes")
    HELP = N_("Each change is listed with its old and new value and what it does: a reproduction orders a new "
              "plastic (same number, next rank), an immediate change applies at once, toll conditions with "
              "connection costs wait for the issuer's confirmation.")

    def __init__(self, changes: list[Any]) -> None:
        super().__init__()
        self.changes = changes

    def compose(self) -> ComposeResult:
        from store.services.cards import ChangeEffect

        with Vertical(id="preview-dialog", classes="dialog"):
            yield Label(_("Confirm the changes"), classes="dialog-title")
            with VerticalScroll(id="preview-changes"):
                for index, change in enumerate(self.changes):
                    yield Static(f"{change.label}: {change.before} → {change.after}", markup=False,
                                 classes="change-line", id=f"change-{index}")
                    yield Static("  " + effect_text(change), markup=False,
                                 classes=f"change-effect -{change.effect.name.lower()}")
            if any(c.effect is ChangeEffect.REPRODUCTION for c in self.changes):
                yield Static(_("A new plastic follows within 24 hours; destroy the old one once it has arrived."),
                             classes="dialog-hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(_("Confirm (Ctrl+S)"), id="confirm", variant="primary", compact=True)
                yield Button(_("Back (Esc)"), id="back", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


# --- the form -------------------------------------------------------------------------------------


class CardFormScreen(Screen[None]):
    CSS_PATH = CSS
    BINDINGS = [
        Binding("ctrl+s", "validate", N_("Validate"), id="card_form.validate", priority=True),
        Binding("ctrl+n", "validate_copy", N_("Validate + copy"), id="card_form.validate_copy", priority=True),
        Binding("f6", "next_tab", N_("Next tab"), id="card_form.next_tab"),
        Binding("escape", "cancel", N_("Cancel"), id="card_form.cancel"),
        # F8, not Ctrl+W: an Input deletes the word before the cursor with Ctrl+W.
        Binding("f8", "what_if", N_("What-if"), id="card_form.what_if"),
        # The same key on a new card only says why there is nothing to replay: not worth a place in the footer.
        Binding("f8", "what_if_new_card", N_("What-if"), id="card_form.what_if_new_card", show=False),
    ]
    TITLE = N_("Create card/OBU")
    HELP = N_("Fill in the tabs; fields marked * are required. Validate sends the request to the issuer, who "
              "handles it within 24 hours; follow it in My requests. Every problem is shown under its field "
              "and the form jumps to the first one; nothing you typed is lost. When changing a card, you see "
              "which changes need a new plastic before you confirm, and F8 (What-if) replays the last months "
              "of its transactions against the limits and controls as typed, before anything is saved.")
    HELP_KEYS = (
        (N_("Tab / Shift+Tab"), N_("Move between the fields")),
        (N_("← → on the tabs, F6"), N_("Switch tabs")),
        (N_("Space"), N_("Tick a box, or cycle a choice ‹ … ›")),
        (N_("↑ ↓ in the limits"), N_("Same column, row above or below")),
    )

    class Loaded(Message):
        def __init__(self, reference: Reference) -> None:
            super().__init__()
            self.reference = reference

    class Refused(Message):
        def __init__(self, problems: list[tuple[str, str]]) -> None:
            super().__init__()
            self.problems = problems

    class Saved(Message):
        def __init__(self, text: str, copy_spec: Any = None) -> None:
            super().__init__()
            self.text = text
            self.copy_spec = copy_spec

    class Previewed(Message):
        def __init__(self, changes: list[Any], spec: Any) -> None:
            super().__init__()
            self.changes = changes
            self.spec = spec

    class Stale(Message):
        def __init__(self, text: str, version: int | None) -> None:
            super().__init__()
            self.text = text
            self.version = version

    def __init__(self, mode: str = "create", card_id: int | None = None, product_type: Any = None,
                 initial: Any = None) -> None:
        if mode not in ("create", "change", "copy"):
            raise ValueError(f"Unknown card form mode {mode!r}")
        if mode != "create" and card_id is None:
            raise ValueError(f"The {mode} form needs the card_id")
        super().__init__()
        self.mode = mode
        self.card_id = card_id
        self.product_type = product_type if initial is None else initial.product_type
        self.initial = initial
        self.reference: Reference | None = None
        self.saving = False
        self.documents: list[Any] = []  # DocumentSpecs attached so far
        self._snapshot: Any = None
        self._number_id: int | None = None
        self._checked_values: dict[str, str] = {}

    # Titles ------------------------------------------------------------------------------------------

    @property
    def is_obu(self) -> bool:
        return self.product_type is not None and self.product_type.is_obu

    def form_title(self) -> str:
        if self.product_type is None:
            return _("Create card/OBU")
        mode = self.mode if self.mode in ("change", "copy") else "new"
        title = _(FORM_TITLES[mode, self.product_type.value])
        return title.format(label=self.reference.card_label) if mode != "new" else title

    # Loading -----------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.mode == "create" and self.product_type is None:
            self.app.push_screen(ProductTypeDialog(), self._type_chosen)
        else:
            self.load()

    def _type_chosen(self, product_type: Any) -> None:
        if product_type is None:
            self.dismiss(None)
            return
        self.product_type = product_type
        self.load()

    @work(thread=True, exclusive=True, group="card-form-load", exit_on_error=False)
    def load(self) -> None:
        from sqlmodel import select

        from store.models import Address, AddressKind, Card, FleetDivision
        from store.services.cards import CardAction, card_label, refusal, spec_from_card

        app = self.app
        numbers = [n.id for n in app.session.customer_numbers]
        reference = Reference()
        try:
            with app.db.session() as s:
                for division in s.exec(select(FleetDivision).where(FleetDivision.customer_number_id.in_(numbers))
                                       .order_by(FleetDivision.name)).all():
                    reference.divisions.setdefault(division.customer_number_id, []).append(
                        (division.name, division.id))
                for address in s.exec(select(Address).where(Address.customer_number_id.in_(numbers))
                                      .order_by(Address.id)).all():
                    text = f"{address.name}, {address.street}, {address.postal_code} {address.city} ({address.country})"
                    if address.kind is AddressKind.SHIPPING:
                        reference.shipping.setdefault(address.customer_number_id, []).append((text, address.id))
                    elif address.kind is AddressKind.PIN_MAILING:
                        reference.pin_mailing.setdefault(address.customer_number_id, text)
                if self.card_id is not None:
                    card = s.get(Card, self.card_id)
                    if card is None or card.customer_number_id not in numbers:
                        reference.refusal = _("This card or OBU does not exist.")
                    else:
                        reference.card_label = card_label(card)
                        reference.version = card.version
                        reference.spec = spec_from_card(s, card.id)
                        if self.mode == "change":
                            reference.refusal = refusal(card, CardAction.CHANGE)
                        if card.linked_card_id:
                            linked = s.get(Card, card.linked_card_id)
                            reference.link_label = card_label(linked) if linked else ""
                        s.expunge(card)
                        reference.card = card
        except Exception:
            log.exception("Loading the card form failed")
            reference.refusal = _("The form could not be loaded right now. Try again in a moment.")
        self.post_message(self.Loaded(reference))

    async def on_card_form_screen_loaded(self, message: Loaded) -> None:
        reference = message.reference
        if reference.refusal:
            self.app.notify(reference.refusal, title=_("Change card/OBU"), severity="error")
            self.dismiss(None)
            return
        self.reference = reference
        if reference.spec is not None:
            self.product_type = reference.spec.product_type
            if self.initial is None:
                self.initial = reference.spec
        await self.recompose()
        self._after_compose()

    def _after_compose(self) -> None:
        self._number_id = self._spec().customer_number_id
        first = "#f-license_plate"
        self.set_focus(self.query_one(first, Input))
        self._sync_code_fields()
        self._snapshot = self._values()

    # Composing ---------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        if self.reference is None:
            yield Static(_("Loading…"), id="form-loading")
            yield Footer()
            return
        yield Label(self.form_title(), id="form-title")
        if self.mode == "copy":
            yield from self._compose_copy()
        else:
            with TabbedContent(id="form-tabs"):
                yield from self._compose_tabs()
        yield MessageLine(id="form-message")
        with Horizontal(id="form-buttons"):
            yield Button(_("Validate (Ctrl+S)"), id="validate", variant="primary", compact=True)
            if self.mode == "create":
                yield Button(_("Validate + copy (Ctrl+N)"), id="validate-copy", compact=True)
            yield Button(_("Cancel (Esc)"), id="cancel", compact=True)
        yield Footer()

    def _spec(self) -> Any:
        from store.services.card_specs import CardSpec

        if self.initial is not None:
            return self.initial
        active = self.app.active_customer_number
        number_id = active.id if active else None
        divisions = self.reference.divisions.get(number_id, [])
        return CardSpec(product_type=self.product_type, customer_number_id=number_id,
                        division_id=divisions[0][1] if len(divisions) == 1 else None)

    def _row(self, label: str, widget: Widget, path: str, required: bool = False) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label + (" *" if required else ""), classes="form-label")
            yield widget
        yield Static("", classes="field-error", id="e-" + widget_id(path)[2:], markup=False)

    def _text(self, label: str, path: str, value: Any, required: bool = False, short: bool = False,
              **kwargs: Any) -> ComposeResult:
        yield from self._row(label, Input("" if value is None else str(value), id=widget_id(path), compact=True,
                                          classes="short" if short else None, **kwargs), path, required)

    def _select(self, options: list[tuple[str, Any]], value: Any, path: str, prompt: str | None = None) -> Select:
        values = [v for _label, v in options]
        return Select(options, value=value if value in values else Select.NULL, id=widget_id(path), compact=True,
                      prompt=prompt or _("Choose…"))

    def _compose_tabs(self) -> ComposeResult:
        spec = self._spec()
        with TabPane(_("General"), id="tab-general"):
            with VerticalScroll(classes="form-pane", can_focus=False):
                yield from self._compose_general(spec)
        if not self.is_obu:
            with TabPane(_("Limits"), id="tab-limits"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield Static(_("Tick what the card may buy; an empty amount or volume means no ceiling."),
                                 classes="form-hint", markup=False)
                    yield LimitsEditor(spec.limits, id="limits")
            with TabPane(_("Controls"), id="tab-controls"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_controls(spec)
            with TabPane(_("Address and code"), id="tab-address"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_address(spec, with_code=True)
        else:
            with TabPane(_("OBU settings"), id="tab-obu"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_obu(spec)
            with TabPane(_("Toll conditions"), id="tab-toll"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_toll(spec)
            with TabPane(_("Documents"), id="tab-documents"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_documents()
            with TabPane(_("Address"), id="tab-address"):
                with VerticalScroll(classes="form-pane", can_focus=False):
                    yield from self._compose_address(spec, with_code=False)

    def _compose_general(self, spec: Any) -> ComposeResult:
        numbers = self.app.session.customer_numbers
        number_options = [(f"{n.number}  {n.name}", n.id) for n in numbers]
        if len(numbers) > 1 and self.mode == "create":
            yield from self._row(_("Customer number"), self._select(number_options, spec.customer_number_id,
                                                                    "customer_number_id"),
                                 "customer_number_id", required=True)
        else:
            shown = next((text for text, number_id in number_options if number_id == spec.customer_number_id), "")
            yield from self._row(_("Customer number"), Static(shown, classes="form-value", markup=False),
                                 "customer_number_id")
        yield from self._text(_("Licence plate"), "license_plate", spec.license_plate, required=True,
                              max_length=15)
        yield from self._text(_("Name on the card"), "embossed_name", spec.embossed_name, max_length=27)
        yield from self._row(_("Fleet division"), self._select(
            self.reference.divisions.get(spec.customer_number_id, []), spec.division_id, "division_id"),
            "division_id", required=True)
        yield from self._text(_("Driver name"), "driver_name", spec.driver_name, max_length=60)
        yield from self._text(_("Card category"), "category", spec.category, max_length=30)
        yield from self._text(_("Vehicle type"), "vehicle_type", spec.vehicle_type, max_length=30)
        yield from self._text(_("Additional mention"), "additional_mention", spec.additional_mention, max_length=27)
        link = _("Linked card (no./plate)") if self.is_obu else _("Linked OBU (no./plate)")
        link_value = self.reference.link_label if spec.linked_card_id is not None else ""
        yield from self._text(link, "linked_card_id", link_value)
        yield Static(_("* required; a card needs a licence plate or a name."), classes="form-hint", markup=False)

    def _compose_controls(self, spec: Any) -> ComposeResult:
        yield ControlsEditor(spec.controls, id="controls-editor")

    def _compose_address(self, spec: Any, with_code: bool) -> ComposeResult:
        from store.models import CodeType, PinOrigin

        number_id = spec.customer_number_id
        shipping = self.reference.shipping.get(number_id, [])
        value = spec.shipping_address_id if spec.shipping_address_id is not None else (
            shipping[0][1] if shipping else None)
        yield from self._row(_("Shipping address"), self._select(shipping, value, "shipping_address_id"),
                             "shipping_address_id", required=True)
        if not with_code:
            return
        yield from self._row(_("Code type"), CycleField(
            [(_("PIN (4 digits)"), CodeType.PIN), (_("driver code (8 digits)"), CodeType.DRIVER_CODE)],
            spec.code_type, id=widget_id("code_type")), "code_type")
        yield from self._row(_("PIN chosen by"), CycleField(
            [(_("the issuer"), PinOrigin.ISSUER), (_("me (the customer)"), PinOrigin.CUSTOMER)],
            spec.pin_origin, id=widget_id("pin_origin")), "pin_origin")
        placeholder = _("keep the current PIN") if self.mode == "change" else _("4 digits")
        yield from self._text(_("PIN"), "pin", None, password=True, restrict=DIGITS, max_length=4,
                              placeholder=placeholder, short=True)
        yield from self._row(_("PIN mailing address"), Static(
            self.reference.pin_mailing.get(number_id, _("none registered")), id="pin-mailing",
            classes="form-value read-only", markup=False), "pin_mailing")
        yield Static(_("The PIN mailing address only changes by written request to your contact person."),
                     classes="form-hint", markup=False)

    def _compose_obu(self, spec: Any) -> ComposeResult:
        from store.services.card_specs import EURO_CLASSES, VEHICLE_CLASSES, ObuSettings

        obu = spec.obu or ObuSettings()
        yield from self._row(_("Vehicle class"), self._select([(c, c) for c in VEHICLE_CLASSES], obu.vehicle_class,
                                                              "obu.vehicle_class"), "obu.vehicle_class", True)
        for name, label in (("weight_kg", _("Weight (kg)")), ("length_cm", _("Length (cm)")),
                            ("width_cm", _("Width (cm)")), ("height_cm", _("Height (cm)")), ("axles", _("Axles"))):
            yield from self._text(label, f"obu.{name}", getattr(obu, name), required=True, restrict=DIGITS,
                                  max_length=5, short=True)
        yield from self._row(_("Euro class"), self._select([(c, c) for c in EURO_CLASSES], obu.euro_class,
                                                           "obu.euro_class"), "obu.euro_class", True)
        yield Static(_("Copy these from the vehicle registration certificate: they decide the toll tariff."),
                     classes="form-hint", markup=False)

    def _compose_toll(self, spec: Any) -> ComposeResult:
        from store.models import TollOperator
        from store.services.card_specs import connection_fee

        yield Static(_("Tick the toll operators for which you want a reduced rate."), classes="form-hint",
                     markup=False)
        yield Static("", classes="field-error", id="e-toll_operators", markup=False)
        for operator in TollOperator:
            fee = connection_fee(operator)
            label = operator.value
            if fee is not None:
                label = _("{operator} — with connection costs: {fee}, confirmed by the issuer").format(
                    operator=operator.value, fee=money(fee))
            yield Checkbox(label, operator in spec.toll_operators, compact=True,
                           id=widget_id(f"toll.{operator.name.lower()}"), classes="toll-operator")

    def _compose_documents(self) -> ComposeResult:
        from store.models import DocumentKind

        yield Static(_("The issuer produces the OBU once a copy of the vehicle registration certificate has "
                       "arrived. PDF, JPEG or PNG, at most 5 MB."), classes="form-hint", markup=False)
        yield from self._row(_("File path"), Input(id="f-documents", compact=True,
                                                   placeholder=_("/path/to/certificate.pdf — Enter attaches")),
                             "documents")
        yield from self._row(_("Kind"), CycleField(
            [(_("registration certificate"), DocumentKind.REGISTRATION_CERTIFICATE), (_("other"), DocumentKind.OTHER)],
            DocumentKind.REGISTRATION_CERTIFICATE, id="document-kind"), "document_kind")
        with Horizontal(classes="buttons-inline"):
            yield Button(_("Attach"), id="attach", compact=True)
            yield Button(_("Remove last"), id="remove-document", compact=True)
        yield Static(self._documents_text(), id="document-list", markup=False)

    def _compose_copy(self) -> ComposeResult:
        spec = self.reference.spec
        with VerticalScroll(classes="form-pane", id="copy-pane", can_focus=False):
            yield Static(_("Every setting (limits, controls, addresses) comes from {label}; enter what is new.")
                         .format(label=self.reference.card_label), classes="form-hint", markup=False)
            yield from self._text(_("Licence plate"), "license_plate", None, required=True, max_length=15)
            if not self.is_obu and spec.code_type.value == "pin":
                yield from self._text(_("PIN (empty: issuer)"), "pin", None, password=True, restrict=DIGITS,
                                      max_length=4, placeholder=_("4 digits, or empty"))
            if self.is_obu:
                yield from self._compose_documents()

    # Values ------------------------------------------------------------------------------------------

    def _values(self) -> tuple:
        """Everything the user can type or tick, to tell whether anything changed."""
        values = []
        for widget in self.query("Input, Checkbox, Select, CycleField"):
            values.append((widget.id, getattr(widget, "value", None)))
        return tuple(values) + (len(self.documents),)

    @property
    def dirty(self) -> bool:
        return self._snapshot is not None and self._values() != self._snapshot

    def _input(self, path: str) -> str:
        found = self.query("#" + widget_id(path))
        return found.first(Input).value if found else ""

    def _selected(self, path: str) -> Any:
        found = self.query("#" + widget_id(path))
        if not found:
            return None
        value = found.first().value
        return None if value is Select.NULL else value

    def build_spec(self) -> tuple[Any, list[tuple[str, str]]]:
        """The spec the form holds, and the text it cannot read (numbers, dates) as (field, message)."""
        from store.models import TollOperator
        from store.services.card_specs import ObuSettings

        problems: list[tuple[str, str]] = []
        base = self._spec()

        def number(path: str, whole: bool = False) -> Any:
            return parse_number(self._input(path), path, problems, whole)

        def text(path: str) -> str | None:
            return self._input(path) or None

        customer_number_id = self._selected("customer_number_id") if self.query(
            "#" + widget_id("customer_number_id")) else base.customer_number_id
        spec = replace(
            base,
            customer_number_id=customer_number_id,
            division_id=self._selected("division_id"),
            license_plate=text("license_plate"),
            embossed_name=text("embossed_name"),
            driver_name=text("driver_name"),
            category=text("category"),
            vehicle_type=text("vehicle_type"),
            additional_mention=text("additional_mention"),
            shipping_address_id=self._selected("shipping_address_id"),
            documents=tuple(self.documents),
        )
        if self.is_obu:
            spec = replace(spec, obu=ObuSettings(
                vehicle_class=self._selected("obu.vehicle_class"),
                weight_kg=number("obu.weight_kg", True), length_cm=number("obu.length_cm", True),
                width_cm=number("obu.width_cm", True), height_cm=number("obu.height_cm", True),
                axles=number("obu.axles", True), euro_class=self._selected("obu.euro_class"),
                technical_properties=dict(base.obu.technical_properties) if base.obu else {}),
                toll_operators=tuple(op for op in TollOperator
                                     if self.query_one("#" + widget_id(f"toll.{op.name.lower()}"), Checkbox).value),
                pin=None)
        else:
            editor = self.query_one(LimitsEditor)
            problems.extend(editor.parse_problems())
            controls, control_problems = self.query_one(ControlsEditor).read()
            problems.extend(control_problems)
            spec = replace(spec, controls=controls, limits=editor.value,
                           code_type=self.query_one("#" + widget_id("code_type"), CycleField).value,
                           pin_origin=self.query_one("#" + widget_id("pin_origin"), CycleField).value,
                           pin=text("pin"))
        return spec, problems

    def link_text(self) -> str:
        return self._input("linked_card_id").strip()

    # Code fields ---------------------------------------------------------------------------------------

    def _sync_code_fields(self) -> None:
        """The PIN field answers only when the customer chooses the PIN of a PIN card."""
        from store.models import CodeType, PinOrigin

        code = self.query("#" + widget_id("code_type"))
        origin = self.query("#" + widget_id("pin_origin"))
        pin = self.query("#" + widget_id("pin"))
        if not code or not origin or not pin or self.mode == "copy":
            return
        is_pin = code.first(CycleField).value is CodeType.PIN
        origin.first(CycleField).disabled = not is_pin
        customer = is_pin and origin.first(CycleField).value is PinOrigin.CUSTOMER
        pin_input = pin.first(Input)
        if not customer:
            pin_input.value = ""
        pin_input.disabled = not customer

    def on_cycle_field_changed(self, event: CycleField.Changed) -> None:
        if event.field.id in (widget_id("code_type"), widget_id("pin_origin")):
            self._sync_code_fields()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != widget_id("customer_number_id") or self.reference is None:
            return
        number_id = None if event.value is Select.NULL else event.value
        if number_id == self._number_id:
            return  # the value it was built with
        self._number_id = number_id
        divisions = self.reference.divisions.get(number_id, [])
        division = self.query_one("#" + widget_id("division_id"), Select)
        division.set_options(divisions)
        if len(divisions) == 1:
            division.value = divisions[0][1]
        shipping = self.reference.shipping.get(number_id, [])
        address = self.query_one("#" + widget_id("shipping_address_id"), Select)
        address.set_options(shipping)
        if shipping:
            address.value = shipping[0][1]
        mailing = self.query("#pin-mailing")
        if mailing:
            mailing.first(Static).update(self.reference.pin_mailing.get(number_id, _("none registered")))

    # Documents -------------------------------------------------------------------------------------

    def _documents_text(self) -> str:
        from store.services.card_specs import content_type_of

        if not self.documents:
            return _("No document attached.")
        lines = []
        for document in self.documents:
            kind = _("registration certificate") if document.kind.name == "REGISTRATION_CERTIFICATE" else _("other")
            size = len(document.content)
            shown = f"{size / 1024:.1f} kB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"
            lines.append(f"• {document.filename} — {kind}, "
                         f"{content_type_of(document.content) or _('type not accepted')}, {shown}")
        return "\n".join(lines)

    def attach_document(self) -> None:
        from store.services.card_specs import MAX_DOCUMENT_BYTES, DocumentSpec

        path_input = self.query_one("#f-documents", Input)
        error = self.query_one("#e-documents", Static)
        path = Path(path_input.value.strip()).expanduser()
        if not path_input.value.strip():
            self._set_error(error, _("Type the path of the file to attach."))
            return
        try:
            if path.stat().st_size > MAX_DOCUMENT_BYTES * 2:
                raise OSError(_("the file is far larger than 5 MB"))
            content = path.read_bytes()
        except OSError as exc:
            self._set_error(error, _("{path} cannot be read: {reason}").format(
                path=str(path), reason=exc.strerror or str(exc)))
            return
        kind = self.query_one("#document-kind", CycleField).value
        self.documents.append(DocumentSpec(kind=kind, filename=path.name, content=content))
        path_input.value = ""
        self._set_error(error, "")
        self.query_one("#document-list", Static).update(self._documents_text())

    def remove_document(self) -> None:
        if self.documents:
            self.documents.pop()
            self.query_one("#document-list", Static).update(self._documents_text())

    # Problems --------------------------------------------------------------------------------------

    @staticmethod
    def _set_error(error: Static, text: str) -> None:
        error.update(text)
        error.set_class(bool(text), "-shown")

    def clear_problems(self) -> None:
        for error in self.query(".field-error"):
            self._set_error(error, "")
        for editor in self.query(LimitsEditor):
            editor.clear_problems()
        self.query_one(MessageLine).clear()

    def _target(self, field_path: str) -> tuple[Widget | None, Static | None]:
        """The input to focus and the error line of a spec field path, trying shorter paths ("documents.0")."""
        if not field_path:
            return None, None
        parts = field_path.split(".")
        if field_path == "toll_operators":
            boxes = self.query(".toll-operator")
            return (boxes.first() if boxes else None), self.query_one("#e-toll_operators", Static)
        if field_path == "obu":
            parts = ["obu", "vehicle_class"]
        while parts:
            wid = widget_id(".".join(parts))
            widgets = self.query("#" + wid)
            errors = self.query("#e-" + wid[2:])
            if widgets or errors:
                widget = widgets.first() if widgets else None
                if widget is not None and not widget.focusable:
                    widget = next((w for w in widget.query("*") if w.focusable), widget)
                return widget, (errors.first(Static) if errors else None)
            parts.pop()
        return None, None

    def show_problems(self, problems: list[tuple[str, str]]) -> None:
        """Each problem under its field, a summary line, and the focus on the first field (in form order)."""
        self.clear_problems()
        self._checked_values = {w.id: w.value for w in self.query(Input) if w.id}
        order = {w: i for i, w in enumerate(self.query("*"))}
        placed = []
        unplaced = []
        for index, (path, message) in enumerate(problems):
            widget, error = self._target(path)
            shown = False
            if path.startswith("limits."):
                shown = any(editor.show_problem(path, message) for editor in self.query(LimitsEditor))
            elif error is not None:
                text = str(error.content)
                self._set_error(error, f"{text}\n{message}" if text else message)
                shown = True
            if not shown:
                unplaced.append(message)
            placed.append((order.get(widget, len(order) + index), widget, message))
        placed.sort(key=lambda item: item[0])
        first_widget = placed[0][1] if placed else None
        count = len(problems)
        summary = ngettext("{count} problem to fix: {message}", "{count} problems to fix; the first: {message}",
                           count).format(count=count, message=placed[0][2])
        extra = [m for m in unplaced if m != placed[0][2]]
        message_line = self.query_one(MessageLine)
        if extra:
            message_line.show_error(summary, *extra)
        else:
            message_line.show_error(summary)
        if first_widget is not None:
            self.focus_field(first_widget)

    def focus_field(self, widget: Widget) -> None:
        """Switch to the widget's tab and focus it."""
        pane = next((a for a in widget.ancestors if isinstance(a, TabPane)), None)
        tabs = self.query(TabbedContent)
        if pane is not None and tabs:
            tabs.first().active = pane.id
        self.set_focus(widget)
        self.call_after_refresh(widget.scroll_visible)

    # Actions ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("validate", "validate_copy", "next_tab") and self.reference is None:
            return False
        if action == "validate_copy" and self.mode != "create":
            return False
        if action == "next_tab" and self.mode == "copy":
            return False
        if action == "what_if":  # the limits and controls of a fleet card, typed in this form
            return self.reference is not None and self.mode == "change" and not self.is_obu
        if action == "what_if_new_card":
            return self.reference is not None and self.mode == "create" and not self.is_obu
        return True

    def screen_commands(self) -> list[tuple[str, str, Any]]:
        """The command palette's entries for this screen: (title, help, callback)."""
        if not self.check_action("what_if", ()):
            return []
        return [(_("What-if"), _("Replay the last months of transactions against the limits and controls as "
                                 "typed, before saving"), self.action_what_if)]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button == "validate":
            self.action_validate()
        elif button == "validate-copy":
            self.action_validate_copy()
        elif button == "cancel":
            self.action_cancel()
        elif button == "attach":
            self.attach_document()
        elif button == "remove-document":
            self.remove_document()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Editing a field hides the problem shown under it: what remains to fix stays visible."""
        field_id = event.input.id or ""
        if self.saving or not field_id.startswith("f-") or field_id.startswith("f-limits-"):
            return
        if self._checked_values.get(field_id) == event.input.value:
            return  # the value the problem is about (a late message from before the check)
        errors = self.query("#e-" + field_id[2:])
        if errors and errors.first().has_class("-shown"):
            self._set_error(errors.first(Static), "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "f-documents":
            self.attach_document()
        else:
            self.focus_next()

    def action_next_tab(self) -> None:
        tabs = self.query(TabbedContent)
        if not tabs:
            return
        tabbed = tabs.first(TabbedContent)
        panes = [pane.id for pane in tabbed.query(TabPane)]
        tabbed.active = panes[(panes.index(tabbed.active) + 1) % len(panes)]
        self._focus_first_in_pane()
        self.call_after_refresh(self._focus_first_in_pane)  # again, once the switch has been laid out

    def _focus_first_in_pane(self) -> None:
        pane = self.query_one(TabbedContent).active_pane
        if pane is None or (self.focused is not None and pane in self.focused.ancestors):
            return
        first = next((w for w in pane.query("Input, Checkbox, Select, CycleField, Button, LimitsEditor Checkbox")
                      if w.focusable), None)
        if first is not None:
            self.set_focus(first)

    def action_cancel(self) -> None:
        if self.saving:
            return
        if not self.dirty:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmDialog(_("Leave the form?"), _("What you typed is not saved."),
                                           _("Discard (Y)"), _("Keep editing (N)")), answered)

    def action_what_if(self) -> None:
        """The form's current limits and controls, unsaved, replayed on the card's past transactions."""
        from store.services.card_specs import validate_spec
        from tui.screens.what_if import WhatIfScreen

        if self.saving or self.reference is None or self.mode != "change" or self.is_obu:
            return
        self.clear_problems()
        spec, problems = self.build_spec()
        problems += [(p.field, p.message) for p in validate_spec(spec, self.reference.card)]
        # The replay reads the limits and controls: their problems are shown as the save shows them.
        problems = [(path, message) for path, message in problems if path.startswith(("limits", "controls"))]
        if problems:
            self.show_problems(problems)
            return
        card = self.reference.card
        label = self.reference.card_label
        if card is not None and card.license_plate and card.license_plate != label:
            label = f"{label} · {card.license_plate}"
        self.app.push_screen(WhatIfScreen(spec, card_id=self.card_id, label=label))

    def action_what_if_new_card(self) -> None:
        self.query_one(MessageLine).show_info(_("A new card has no transactions yet: the what-if replays the "
                                                "history of an existing card (change a card, then F8)."))

    def action_validate(self) -> None:
        self.submit(copy_after=False)

    def action_validate_copy(self) -> None:
        self.submit(copy_after=True)

    def _set_saving(self, saving: bool, text: str | None = None) -> None:
        self.saving = saving
        for button in self.query("#form-buttons Button"):
            button.disabled = saving
        if text:
            self.query_one(MessageLine).show_busy(text)

    def submit(self, copy_after: bool = False) -> None:
        from store.services.card_specs import validate_spec

        if self.saving or self.reference is None:
            return
        self.clear_problems()
        if self.mode == "copy":
            plate = self._input("license_plate") or None
            pin = self._input("pin") or None
            self._set_saving(True, _("Sending the copy request…"))
            self.save_copy(plate, pin, tuple(self.documents))
            return
        spec, problems = self.build_spec()
        card = self.reference.card if self.mode == "change" else None
        problems += [(p.field, p.message) for p in validate_spec(spec, card)]
        if problems:
            self.show_problems(problems)
            return
        if self.mode == "change":
            self._set_saving(True, _("Checking what changes…"))
            self.preview(spec, self.link_text())
        else:
            self._set_saving(True, _("Sending the request…"))
            self.save_create(spec, self.link_text(), copy_after)

    # Workers -----------------------------------------------------------------------------------------

    def _resolve_link(self, session: Any, spec: Any, text: str) -> Any:
        """The card or OBU to link, from its number or plate as typed; InvalidSpec when none matches."""
        from sqlmodel import or_, select

        from store.models import Card
        from store.services.card_specs import FieldProblem, InvalidSpec, clean_plate

        if not text:
            return replace(spec, linked_card_id=None)
        if text == self.reference.link_label and self.initial is not None and self.initial.linked_card_id:
            return replace(spec, linked_card_id=self.initial.linked_card_id)
        found = session.exec(select(Card.id).where(
            Card.customer_number_id == spec.customer_number_id,
            or_(Card.number == text.replace(" ", ""), Card.license_plate == clean_plate(text)),
        ).order_by(Card.id.desc())).first()
        if found is None:
            raise InvalidSpec([FieldProblem("linked_card_id", _("No card or OBU of this customer number has the "
                                                                "number or plate “{text}”.").format(text=text))])
        return replace(spec, linked_card_id=found)

    def _refused(self, exc: Exception) -> None:
        from store.services.card_specs import InvalidSpec
        from store.services.errors import StaleObject

        if isinstance(exc, InvalidSpec):
            self.post_message(self.Refused([(p.field, p.message) for p in exc.field_problems]))
        elif isinstance(exc, StaleObject):
            version = None
            try:
                from store.models import Card

                with self.app.db.session() as s:
                    card = s.get(Card, self.card_id)
                    version = card.version if card else None
            except Exception:
                log.exception("Reading the card's version failed")
            self.post_message(self.Stale(exc.message, version))
        else:
            self.post_message(self.Refused([(exc.field or "", exc.message)]))

    @work(thread=True, exclusive=True, group="card-form-save", exit_on_error=False)
    def save_create(self, spec: Any, link_text: str, copy_after: bool) -> None:
        from store.services.cards import create_card
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as s:
                spec = self._resolve_link(s, spec, link_text)
                card, request = create_card(s, app.session.actor, app.db.clock.now(), spec)
                product_type = card.product_type.value
                request_id = request.id
        except DomainError as exc:
            self._refused(exc)
            return
        except Exception:
            log.exception("Creating a card failed")
            self.post_message(self.Refused([("", _("The request could not be sent right now. Try again in a "
                                                   "moment; what you typed is kept."))]))
            return
        if copy_after:
            text = _(CREATED_MESSAGES[True, product_type]).format(request=request_id)
            copy_spec = replace(spec, license_plate=None, embossed_name=None, pin=None, documents=())
            self.post_message(self.Saved(text, copy_spec))
        else:
            self.post_message(self.Saved(_(CREATED_MESSAGES[False, product_type]).format(request=request_id)))

    @work(thread=True, exclusive=True, group="card-form-save", exit_on_error=False)
    def save_copy(self, plate: str | None, pin: str | None, documents: tuple) -> None:
        from store.services.cards import copy_card
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as s:
                card, request = copy_card(s, app.session.actor, app.db.clock.now(), self.card_id, plate, pin,
                                          documents)
                text = _("Copy request #{request} created: follow it in My requests.").format(request=request.id)
        except DomainError as exc:
            self._refused(exc)
            return
        except Exception:
            log.exception("Copying a card failed")
            self.post_message(self.Refused([("", _("The copy could not be requested right now. Try again in a "
                                                   "moment."))]))
            return
        self.post_message(self.Saved(text))

    @work(thread=True, exclusive=True, group="card-form-save", exit_on_error=False)
    def preview(self, spec: Any, link_text: str) -> None:
        from store.services.cards import preview_change
        from store.services.errors import DomainError

        try:
            with self.app.db.session() as s:
                spec = self._resolve_link(s, spec, link_text)
                changes = preview_change(s, self.card_id, spec)
        except DomainError as exc:
            self._refused(exc)
            return
        except Exception:
            log.exception("Previewing a change failed")
            self.post_message(self.Refused([("", _("The change could not be checked right now. Try again in a "
                                                   "moment."))]))
            return
        self.post_message(self.Previewed(changes, spec))

    @work(thread=True, exclusive=True, group="card-form-save", exit_on_error=False)
    def apply(self, spec: Any) -> None:
        from store.services.cards import apply_change
        from store.services.errors import DomainError

        app = self.app
        try:
            with app.db.session() as s:
                result = apply_change(s, app.session.actor, app.db.clock.now(), self.card_id, spec,
                                      self.reference.version)
                requests = [r for r in (result.reproduction_request, result.toll_request) if r is not None]
                if requests:
                    text = _("Change saved; request {requests} sent: follow it in My requests.").format(
                        requests=", ".join(f"#{r.id}" for r in requests))
                elif result.changes:
                    text = _("Change saved: it applies at once.")
                else:
                    text = _("Nothing changed.")
        except DomainError as exc:
            self._refused(exc)
            return
        except Exception:
            log.exception("Changing a card failed")
            self.post_message(self.Refused([("", _("The change could not be saved right now. Try again in a "
                                                   "moment; what you typed is kept."))]))
            return
        self.post_message(self.Saved(text))

    # Worker results --------------------------------------------------------------------------------

    def on_card_form_screen_refused(self, message: Refused) -> None:
        self._set_saving(False)
        self.show_problems(message.problems)

    def on_card_form_screen_stale(self, message: Stale) -> None:
        self._set_saving(False)
        if message.version is not None:
            self.reference.version = message.version
        self.query_one(MessageLine).show_error(message.text)

    def on_card_form_screen_previewed(self, message: Previewed) -> None:
        self._set_saving(False)
        if not message.changes and not message.spec.documents:
            self.query_one(MessageLine).show_info(_("Nothing changed: there is nothing to save."))
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._set_saving(True, _("Saving the change…"))
                self.apply(message.spec)
            else:
                self.query_one(MessageLine).show_info(_("Not saved yet: change what you want, then validate."))

        self.app.push_screen(ChangePreviewDialog(message.changes), confirmed)

    async def on_card_form_screen_saved(self, message: Saved) -> None:
        self._set_saving(False)
        if message.copy_spec is not None:
            self.initial = message.copy_spec
            self.documents = []
            await self.recompose()
            self._after_compose()
            self.query_one(MessageLine).show_success(message.text)
            return
        self.app.notify(message.text, title=self.form_title())
        self.dismiss(None)
