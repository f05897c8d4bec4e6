"""My cards and OBUs -> Create card/OBU, change a card's settings, copy a card (Fiches 03, 04, 05, 07, 08)."""
from __future__ import annotations

import inspect
from dataclasses import replace
from decimal import Decimal

from sqlmodel import select
from textual.binding import Binding
from textual.widgets import Checkbox, Input, Select, TabbedContent

import tui.screens.card_form
import tui.widgets.limits_editor
from store.models import (
    Card,
    CardLimit,
    CardStatus,
    CodeType,
    Document,
    FleetDivision,
    LimitPeriod,
    PinOrigin,
    Product,
    ProductType,
    Request,
    RequestKind,
    RequestStatus,
)
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.card_form import CardFormScreen, ChangePreviewDialog, ConfirmDialog, ProductTypeDialog
from tui.screens.home import HomeScreen
from tui.widgets.limits_editor import CycleField, LimitsEditor
from tui.widgets.message_line import MessageLine

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def division_id(db, name="Distribution") -> int:
    with db.session() as s:
        return s.exec(select(FleetDivision.id).where(FleetDivision.name == name)).one()


def cards_with_plate(db, plate: str) -> list[Card]:
    with db.session() as s:
        return list(s.exec(select(Card).where(Card.license_plate == plate).order_by(Card.id)).all())


def requests_of(db, card_id: int) -> list[Request]:
    with db.session() as s:
        return list(s.exec(select(Request).where(Request.card_id == card_id).order_by(Request.id)).all())


def limits_of(db, card_id: int) -> dict[Product, CardLimit]:
    with db.session() as s:
        return {row.product: row for row in s.exec(select(CardLimit).where(CardLimit.card_id == card_id)).all()}


def active_card_with_limit(db) -> tuple[int, Product]:
    """An active fleet card of the first customer number with a PIN and an allowed product with a ceiling."""
    with db.session() as s:
        for card in s.exec(select(Card).where(Card.product_type == ProductType.FLEET_CARD,
                                              Card.status == CardStatus.ACTIVE, Card.customer_number_id == 1,
                                              Card.code_type == CodeType.PIN).order_by(Card.id)).all():
            for limit in s.exec(select(CardLimit).where(CardLimit.card_id == card.id)).all():
                if limit.allowed and limit.amount is not None:
                    return card.id, limit.product
    raise AssertionError("the demo has no such card")


async def open_form(pilot, ui, screen: CardFormScreen) -> CardFormScreen:
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.push_screen(screen)
    await ui.settle(pilot)
    assert pilot.app.screen is screen
    return screen


def fill_general(screen: CardFormScreen, db, plate: str) -> None:
    screen.query_one("#f-license_plate", Input).value = plate
    screen.query_one("#f-division_id", Select).value = division_id(db)


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_create_fleet_card_from_the_menu_with_a_limit_and_a_control(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.open_menu_item(next(item for item in MENU if item.id == "cards.create"))
        await ui.settle(pilot)
        assert isinstance(app.screen, ProductTypeDialog)
        await pilot.press("enter")  # the highlighted first type: Fleet Card
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, CardFormScreen) and screen.product_type is ProductType.FLEET_CARD
        assert screen.focused.id == "f-license_plate"
        await pilot.press(*"1-tst-001", "enter")  # typed; Enter moves on
        assert screen.focused.id == "f-embossed_name"
        screen.query_one("#f-division_id", Select).value = division_id(demo_db)
        screen.query_one("#f-driver_name", Input).value = "Jan Peeters"
        # Limits: diesel allowed, 150 EUR per week, notify only.
        await pilot.press("f6")  # next tab; the focus goes to its first field
        await ui.settle(pilot)
        assert screen.query_one(TabbedContent).active == "tab-limits"
        assert screen.focused.id == "f-limits-diesel-allowed"
        await pilot.press("space", "tab", *"150", "tab", "tab", "right", "tab", "space")
        assert screen.query_one("#f-limits-diesel-amount", Input).value == "150"
        screen.query_one("#f-limits-adblue-allowed", Checkbox).value = True
        # Controls: hours.
        screen.query_one("#f-controls-hours_from", Input).value = "06:00"
        screen.query_one("#f-controls-hours_to", Input).value = "20:00"
        screen.query_one("#f-controls-allowed_countries", Input).value = "be, nl"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)

        assert isinstance(app.screen, HomeScreen)
        [message] = notifications(app)
        assert "Fleet Card request #" in message and "follow it in My requests" in message
        [card] = cards_with_plate(demo_db, "1-TST-001")
        assert card.status is CardStatus.NEW and card.driver_name == "Jan Peeters"
        assert (card.allowed_hours_from, card.allowed_hours_to) == ("06:00", "20:00")
        assert card.allowed_countries == ["BE", "NL"]
        limits = limits_of(demo_db, card.id)
        assert set(limits) == {Product.DIESEL, Product.ADBLUE}
        diesel = limits[Product.DIESEL]
        assert (diesel.allowed, diesel.amount, diesel.period.value, diesel.action.value) == (
            True, Decimal("150.00"), "week", "notify")
        assert limits[Product.ADBLUE].amount is None  # allowed without ceiling
        [request] = requests_of(demo_db, card.id)
        assert request.kind is RequestKind.CREATE and request.status is RequestStatus.SUBMITTED


async def test_errors_on_two_tabs_jump_to_the_first_and_keep_the_input(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.FLEET_CARD))
        screen.query_one("#f-driver_name", Input).value = "Kept Driver"
        screen.query_one("#f-controls-hours_from", Input).value = "25:00"
        screen.query_one("#f-controls-hours_to", Input).value = "26:00"
        screen.query_one("#f-limits-diesel-amount", Input).value = "1.2.3"
        screen.query_one(TabbedContent).active = "tab-controls"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        # The first problem in form order is on General: the plate (and the division).
        assert screen.query_one(TabbedContent).active == "tab-general"
        assert screen.focused.id == "f-license_plate"
        assert "licence plate" in str(screen.query_one("#e-license_plate").content)
        assert screen.query_one("#e-division_id").has_class("-shown")
        assert screen.query_one("#e-controls-hours_from").has_class("-shown")
        assert "not a number" in str(screen.query_one("#e-limits-diesel").content)
        message = screen.query_one(MessageLine)
        assert message.has_class("-error") and "problems to fix" in message.text
        assert screen.query_one("#f-driver_name", Input).value == "Kept Driver"

        # Fix General and the limit: typing in a field hides its problem; the first one left is on Controls.
        fill_general(screen, demo_db, "1-TST-002")
        await pilot.pause()
        assert not screen.query_one("#e-license_plate").has_class("-shown")
        assert screen.query_one("#e-controls-hours_from").has_class("-shown")
        screen.query_one("#f-limits-diesel-allowed", Checkbox).value = True
        screen.query_one("#f-limits-diesel-amount", Input).value = "90"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert screen.query_one(TabbedContent).active == "tab-controls"
        assert screen.focused.id == "f-controls-hours_from"
        assert screen.query_one("#f-controls-hours_from", Input).value == "25:00"
        assert not screen.query_one("#e-license_plate").has_class("-shown")
        assert app.screen is screen and cards_with_plate(demo_db, "1-TST-002") == []


async def test_validate_and_create_copy_keeps_settings_and_clears_plate_and_pin(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.FLEET_CARD))
        fill_general(screen, demo_db, "1-CPY-001")
        screen.query_one("#f-driver_name", Input).value = "Pool"
        screen.query_one("#f-limits-diesel-allowed", Checkbox).value = True
        screen.query_one("#f-limits-diesel-amount", Input).value = "75"
        screen.query_one("#f-pin_origin", CycleField).value = PinOrigin.CUSTOMER
        await pilot.pause()
        screen.query_one("#f-pin", Input).value = "4711"
        await pilot.press("ctrl+n")
        await ui.settle(pilot)

        assert app.screen is screen
        assert "a copy is ready" in screen.query_one(MessageLine).text
        assert screen.query_one("#f-license_plate", Input).value == ""
        assert screen.query_one("#f-pin", Input).value == ""
        assert screen.query_one("#f-driver_name", Input).value == "Pool"
        assert screen.query_one("#f-limits-diesel-amount", Input).value == "75"
        assert screen.query_one("#f-pin_origin", CycleField).value is PinOrigin.CUSTOMER

        screen.query_one("#f-license_plate", Input).value = "1-CPY-002"
        screen.query_one("#f-pin", Input).value = "0815"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen), screen.query_one(MessageLine).text
        [first], [second] = cards_with_plate(demo_db, "1-CPY-001"), cards_with_plate(demo_db, "1-CPY-002")
        assert first.id != second.id
        for card in (first, second):
            assert card.driver_name == "Pool" and card.pin_origin is PinOrigin.CUSTOMER and card.pin_hash
            assert limits_of(demo_db, card.id)[Product.DIESEL].amount == Decimal("75.00")
        assert first.pin_hash != second.pin_hash


async def test_create_obu_with_registration_certificate(demo_db, ui, tmp_path):
    certificate = tmp_path / "grijze-kaart.pdf"
    certificate.write_bytes(PDF)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.PASSANGO_OBU))
        assert [p.id for p in screen.query("TabPane")] == [
            "tab-general", "tab-obu", "tab-toll", "tab-documents", "tab-address"]
        fill_general(screen, demo_db, "1-OBU-001")
        screen.query_one("#f-obu-vehicle_class", Select).value = "N3"
        for name, value in (("weight_kg", "18000"), ("length_cm", "1650"), ("width_cm", "255"),
                            ("height_cm", "400"), ("axles", "5")):
            screen.query_one(f"#f-obu-{name}", Input).value = value
        screen.query_one("#f-obu-euro_class", Select).value = "EURO 6"
        screen.query_one("#f-toll-asfinag_at", Checkbox).value = True
        assert "connection costs: € 25.00" in str(screen.query_one("#f-toll-asfinag_at", Checkbox).label)
        # Attach the certificate: type the path, Enter attaches.
        screen.query_one(TabbedContent).active = "tab-documents"
        await pilot.pause()
        path_input = screen.query_one("#f-documents", Input)
        screen.set_focus(path_input)
        path_input.value = str(certificate)
        await pilot.press("enter")
        listed = str(screen.query_one("#document-list").content)
        assert "grijze-kaart.pdf" in listed and "application/pdf" in listed and "registration certificate" in listed
        await pilot.press("ctrl+s")
        await ui.settle(pilot)

        assert isinstance(app.screen, HomeScreen), screen.query_one(MessageLine).text
        [card] = cards_with_plate(demo_db, "1-OBU-001")
        assert card.product_type is ProductType.PASSANGO_OBU and card.axles == 5 and card.euro_class == "EURO 6"
        [request] = requests_of(demo_db, card.id)
        assert request.kind is RequestKind.CREATE and request.status is RequestStatus.SUBMITTED
        assert request.fee == Decimal("25.00")
        with demo_db.session() as s:
            [document] = s.exec(select(Document).where(Document.card_id == card.id)).all()
            assert document.filename == "grijze-kaart.pdf" and document.content == PDF


async def test_obu_document_that_is_not_accepted_is_shown_under_its_field(demo_db, ui, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a scan")
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.PASSANGO_OBU))
        screen.query_one("#f-documents", Input).value = str(tmp_path / "missing.pdf")
        screen.attach_document()
        assert "cannot be read" in str(screen.query_one("#e-documents").content)
        screen.query_one("#f-documents", Input).value = str(text_file)
        screen.attach_document()
        fill_general(screen, demo_db, "1-OBU-002")
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        # OBU settings come first in form order; the document's type problem is under the documents field.
        assert screen.query_one(TabbedContent).active == "tab-obu"
        assert "not a PDF, JPEG or PNG" in str(screen.query_one("#e-documents").content)


async def test_change_card_preview_lists_effects_then_applies(demo_db, ui):
    card_id, product = active_card_with_limit(demo_db)
    key = product.name.lower()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen("change", card_id=card_id))
        assert screen.query_one("#f-license_plate", Input).value
        assert "ctrl+n" not in [b.key for b in screen.active_bindings if screen.check_action("validate_copy", ())]
        screen.query_one("#f-license_plate", Input).value = "2-NEW-123"
        screen.query_one(f"#f-limits-{key}-amount", Input).value = "321"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)

        dialog = app.screen
        assert isinstance(dialog, ChangePreviewDialog)
        effects = {change.field: change.effect.value for change in dialog.changes}
        assert effects == {"license_plate": "reproduction", f"limits.{key}.amount": "immediate"}
        shown = [str(line.content) for line in dialog.query(".change-line, .change-effect")]
        assert any("Licence plate:" in line and "→ 2-NEW-123" in line for line in shown)
        assert any(line.strip().startswith("reproduction (new plastic, same number, rank + 1") for line in shown)
        assert any(line.strip() == "immediate" for line in shown)
        await pilot.press("ctrl+s")  # confirm
        await ui.settle(pilot)

        assert isinstance(app.screen, HomeScreen)
        assert any("follow it in My requests" in n for n in notifications(app))
        with demo_db.session() as s:
            card = s.get(Card, card_id)
            assert card.license_plate == "2-NEW-123" and card.version == 2
        assert limits_of(demo_db, card_id)[product].amount == Decimal("321.00")
        assert requests_of(demo_db, card_id)[-1].kind is RequestKind.CHANGE


async def test_change_preview_back_keeps_the_form(demo_db, ui):
    card_id, _product = active_card_with_limit(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen("change", card_id=card_id))
        screen.query_one("#f-driver_name", Input).value = "Someone Else"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert isinstance(app.screen, ChangePreviewDialog)
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen and screen.query_one("#f-driver_name", Input).value == "Someone Else"


async def test_change_stale_version_says_meanwhile_and_keeps_input(demo_db, ui):
    from store.services.cards import apply_change, spec_from_card

    card_id, _product = active_card_with_limit(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen("change", card_id=card_id))
        # Someone else changes the card after the form was opened.
        with demo_db.session() as s:
            spec = spec_from_card(s, card_id)
            apply_change(s, app.session.actor, demo_db.clock.now(), card_id,
                         replace(spec, driver_name="Other Writer"), 1)
        screen.query_one("#f-vehicle_type", Input).value = "Tipper XL"
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        await pilot.press("ctrl+s")  # confirm the preview
        await ui.settle(pilot)

        assert app.screen is screen
        message = screen.query_one(MessageLine)
        assert message.has_class("-error") and "meanwhile" in message.text
        assert screen.query_one("#f-vehicle_type", Input).value == "Tipper XL"
        with demo_db.session() as s:
            assert s.get(Card, card_id).vehicle_type != "Tipper XL"


async def test_blocked_card_form_is_refused_with_the_reason(demo_db, ui):
    with demo_db.session() as s:
        blocked = s.exec(select(Card.id).where(Card.status == CardStatus.BLOCKED)).first()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.push_screen(CardFormScreen("change", card_id=blocked))
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert any("blocked" in n and "cannot be changed" in n for n in notifications(app))


async def test_copy_a_card_asks_only_plate_and_pin(demo_db, ui):
    source_id, product = active_card_with_limit(demo_db)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen("copy", card_id=source_id))
        assert {w.id for w in screen.query(Input)} == {"f-license_plate", "f-pin"}
        await pilot.press(*"1-cop-777", "ctrl+s")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert any("Copy request #" in n for n in notifications(app))
        [copy] = cards_with_plate(demo_db, "1-COP-777")
        assert limits_of(demo_db, copy.id)[product].amount == limits_of(demo_db, source_id)[product].amount
        assert requests_of(demo_db, copy.id)[0].kind is RequestKind.COPY


async def test_cancel_asks_before_discarding_typed_input(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.FLEET_CARD))
        await pilot.press(*"1-ABC")
        await pilot.press("escape")
        await ui.settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await ui.settle(pilot)
        assert app.screen is screen and screen.query_one("#f-license_plate", Input).value == "1-ABC"
        await pilot.press("escape", "y")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_limits_editor_value_round_trip(demo_db, ui):
    from store.models import LimitAction, LimitPeriod
    from store.services.card_specs import LimitSpec

    limits = (LimitSpec(Product.DIESEL, amount=Decimal("100.50"), period=LimitPeriod.MONTH),
              LimitSpec(Product.SHOP, allowed=False),
              LimitSpec(Product.TOLLS, volume=Decimal("20"), action=LimitAction.NOTIFY))
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.FLEET_CARD))
        editor = screen.query_one(LimitsEditor)
        editor.value = limits
        await pilot.pause()
        # A product that is not allowed and has no ceiling is simply not listed: it may not be bought.
        assert editor.value == (limits[0], limits[2])
        assert editor.region.width <= 78
        # Up/Down keep the column.
        screen.query_one(TabbedContent).active = "tab-limits"
        await pilot.pause()
        screen.set_focus(screen.query_one("#f-limits-diesel-period", CycleField))
        await pilot.press("down")
        assert screen.focused.id == "f-limits-petrol_95-period"


async def test_limits_keys_typed_right_after_up_down_go_to_the_new_row(demo_db, ui):
    """Keys arriving in one read with ↑/↓ (fast typing, tmux, SSH) land in the row moved to: the digits after
    "↓" once went to the row left behind ("100" became "10050") and the new row stayed empty."""
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen(product_type=ProductType.FLEET_CARD))
        screen.query_one(TabbedContent).active = "tab-limits"
        await pilot.pause()
        amount = {key: screen.query_one(f"#f-limits-{key}-amount", Input)
                  for key in ("diesel", "petrol_95", "petrol_98")}
        amount["diesel"].value = "100"
        screen.set_focus(amount["diesel"])
        await pilot.pause()
        ui.send_burst(app, ["down", *"50", "down", "7", "up", "up"])
        await ui.settle_burst(pilot, lambda: screen.focused is amount["diesel"] and amount["petrol_98"].value)
        assert {key: field.value for key, field in amount.items()} == {
            "diesel": "100", "petrol_95": "50", "petrol_98": "7"}
        assert screen.focused is amount["diesel"]
        # Space right after ↓ cycles the period of the row below, not that of the row above.
        period = {key: screen.query_one(f"#f-limits-{key}-period", CycleField)
                  for key in ("diesel", "petrol_95")}
        screen.set_focus(period["diesel"])
        await pilot.pause()
        ui.send_burst(app, ["down", "space"])
        await ui.settle_burst(pilot, lambda: screen.focused is not period["diesel"]
                              and LimitPeriod.WEEK in (period["diesel"].value, period["petrol_95"].value))
        assert (period["diesel"].value, period["petrol_95"].value) == (LimitPeriod.DAY, LimitPeriod.WEEK)


def test_every_card_form_binding_has_an_id():
    for module in (tui.screens.card_form, tui.widgets.limits_editor):
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for binding in getattr(cls, "BINDINGS", []):
                assert isinstance(binding, Binding) and binding.id, (cls.__name__, binding)


async def test_copy_an_obu_with_the_new_vehicles_certificate(demo_db, ui, tmp_path):
    certificate = tmp_path / "certificate.png"
    certificate.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    from store.services.auth import LoginPolicy, authenticate
    from store.services.card_specs import CardSpec, ObuSettings
    from store.services.cards import create_card

    with demo_db.session() as s:  # a source OBU with complete vehicle data
        actor = authenticate(s, "fleetadmin", "Fleet#2026", demo_db.clock.now(), LoginPolicy()).actor
        source, _request = create_card(s, actor, demo_db.clock.now(), CardSpec(
            product_type=ProductType.PASSANGO_OBU, customer_number_id=1, division_id=division_id(demo_db),
            license_plate="1-SRC-001", obu=ObuSettings(vehicle_class="N2", weight_kg=7500, length_cm=800,
                                                       width_cm=250, height_cm=350, axles=2, euro_class="EURO 6")))
        source_id = source.id
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_form(pilot, ui, CardFormScreen("copy", card_id=source_id))
        assert not screen.query("#f-pin")  # an OBU has no PIN
        await pilot.press(*"1-obc-555")
        screen.query_one("#f-documents", Input).value = str(certificate)
        screen.attach_document()
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen), screen.query_one(MessageLine).text
        [copy] = cards_with_plate(demo_db, "1-OBC-555")
        [request] = requests_of(demo_db, copy.id)
        assert request.kind is RequestKind.COPY and request.status is RequestStatus.SUBMITTED


async def test_escape_on_the_type_choice_leaves_the_form(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        app.push_screen(CardFormScreen())
        await ui.settle(pilot)
        assert isinstance(app.screen, ProductTypeDialog)
        await pilot.press("escape")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)
