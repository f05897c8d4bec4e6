"""Quick find: from any screen, one key (and the command palette) finds a card by number or plate and offers
its actions — a lost card is blocked with a duplicate in a few keystrokes."""
from __future__ import annotations

from sqlmodel import select

from store.models import Card, CardStatus, Request, RequestKind
from tui.app import CardCommands, CardsOnlineApp
from tui.screens.card_actions import ActionsMenu, BlockDialog
from tui.screens.home import HomeScreen
from tui.screens.quick_find import QuickFindScreen
from tui.widgets.message_line import MessageLine


def card_id_by_plate(db, plate: str) -> int:
    with db.session() as s:
        return s.exec(select(Card.id).where(Card.license_plate == plate).order_by(Card.id)).first()


async def test_quick_find_key_is_an_app_binding_with_an_id():
    binding = next(b for b in CardsOnlineApp.BINDINGS if b.id == "quick_find")
    assert binding.key == "f4" and binding.action == "quick_find"
    keys = {b.key for b in CardsOnlineApp.BINDINGS if b.id != "quick_find"}
    assert "f4" not in keys


async def test_quick_find_needs_a_login(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.settle(pilot)
        await pilot.press("f4")
        await ui.settle(pilot)
        assert not isinstance(app.screen, QuickFindScreen)


async def test_f4_from_home_finds_plate_and_blocks_with_duplicate(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("f4")
        await ui.settle(pilot)
        finder = app.screen
        assert isinstance(finder, QuickFindScreen)
        await pilot.press(*"1lvt9", "enter")  # typed without dashes, Enter at once: the first match
        await pilot.pause(0.3)
        await ui.settle(pilot)
        menu = app.screen
        assert isinstance(menu, ActionsMenu) and menu.card.id == card_id
        await pilot.press("b")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BlockDialog)
        await pilot.press("right", "enter")  # loss
        await pilot.press("tab", "space")  # order a duplicate
        assert dialog.query_one("#block-duplicate").value is True
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is finder
        with demo_db.session() as s:
            card = s.get(Card, card_id)
            assert card.status is CardStatus.BLOCKED and card.block_reason.value == "loss"
            duplicate = s.exec(select(Request).where(Request.kind == RequestKind.DUPLICATE)
                               .order_by(Request.id.desc())).first()
            assert s.get(Card, duplicate.card_id).duplicate_of_id == card_id
        assert finder.query_one(MessageLine).has_class("-success")
        await pilot.press("escape")
        await ui.settle(pilot)
        assert isinstance(app.screen, HomeScreen)


async def test_command_palette_finds_a_card_by_plate(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        provider = CardCommands(app.screen)
        assert [hit async for hit in provider.search("lv")] == []  # fewer than 3 characters
        hits = [hit async for hit in provider.search("LVT-919")]
        assert len(hits) == 1
        hits[0].command()
        await pilot.pause(0.3)
        await ui.settle(pilot)
        assert isinstance(app.screen, ActionsMenu) and app.screen.card.id == card_id
        assert isinstance(app.screen_stack[-2], QuickFindScreen)


async def test_command_palette_typing_opens_the_card(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    card_id = card_id_by_plate(demo_db, "1-LVT-919")
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "fleetadmin", "Fleet#2026")
        await pilot.press("ctrl+p")
        await ui.settle(pilot)
        await pilot.press(*"1-LVT-919")
        await pilot.pause(0.5)
        await ui.settle(pilot)
        await pilot.press("enter")
        await pilot.pause(0.3)
        await ui.settle(pilot)
        assert isinstance(app.screen, ActionsMenu) and app.screen.card.id == card_id
