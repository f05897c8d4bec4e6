"""Daily follow-up with the keyboard (issue 8): Daily transactions (change the day with [ ] and by typing it,
filter, the totals line, paging through a bounded window), Anomalies (mark several with space, acknowledge
them with a comment, jump to the card and block it), PASSango transactions."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlmodel import select
from textual.widgets import Input, Label, Select

from store.models import (
    Anomaly,
    AnomalyRule,
    AnomalyStatus,
    AuditEvent,
    Card,
    CardStatus,
    FuelTransaction,
    LimitAction,
    Product,
    ProductType,
    User,
)
from store.queries.transactions import (
    TollFilter,
    TransactionFilter,
    daily_totals,
    daily_transactions,
    toll_transactions,
)
from store.services.context import actor_for
from tui.app import CardsOnlineApp
from tui.menu import MENU
from tui.screens.anomalies import AcknowledgeDialog, AnomaliesScreen
from tui.screens.card_actions import ActionsMenu, BlockDialog
from tui.screens.daily_transactions import DailyTransactionsScreen
from tui.screens.toll_transactions import TollTransactionsScreen
from tui.widgets.message_line import MessageLine
from tui.widgets.paged_table import PagedTable

UTC = timezone.utc
YESTERDAY = date(2026, 11, 25)  # the demo clock is 26/11/2026 09:00 UTC, 10:00 in Brussels


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


async def open_screen(pilot, ui, menu_id: str, screen_class):
    await ui.login(pilot, "fleetadmin", "Fleet#2026")
    pilot.app.open_menu_item(item(menu_id))
    await ui.settle(pilot)
    assert isinstance(pilot.app.screen, screen_class)
    return pilot.app.screen


def fleetadmin(db):
    session = db.session()
    return session, actor_for(session, session.exec(select(User).where(User.username == "fleetadmin")).one())


def expected_ids(db, day: date, **where) -> list[int]:
    session, actor = fleetadmin(db)
    with session:
        return [row.id for row in daily_transactions(session, actor, day, TransactionFilter(customer_number_id=1,
                                                                                          **where), limit=10_000)]


def shown_ids(screen) -> list[int]:
    return [row.id for row in screen.query_one(PagedTable).records]


def add_fuel(db, card_id: int, at: datetime, n: int, **values) -> int:
    with db.session() as session:
        card = session.get(Card, card_id)
        t = FuelTransaction(issuer_transaction_id=f"TUI-{card_id}-{n}", card_id=card.id, rank=card.rank,
                            occurred_at=at, station=f"Test station {n}", city="Gent", country="BE",
                            product=values.get("product", Product.DIESEL), quantity=Decimal(values.get("q", "10.000")),
                            unit_price=Decimal("1.5000"), amount_excl_vat=Decimal(values.get("excl", "15.00")),
                            vat_rate=Decimal("21.00"), amount_incl_vat=Decimal(values.get("incl", "18.15")))
        session.add(t)
        session.commit()
        return t.id


def active_cards(db, number_id: int = 1, count: int = 3) -> list[Card]:
    with db.session() as session:
        return list(session.exec(select(Card).where(Card.customer_number_id == number_id,
                                                    Card.status == CardStatus.ACTIVE,
                                                    Card.product_type == ProductType.FLEET_CARD,
                                                    Card.license_plate.is_not(None)).order_by(Card.id)
                                 .limit(count)).all())


def add_anomalies(db, cards: list[Card], count: int) -> list[int]:
    """`count` new anomalies on these cards, the newest first in the list (detected this morning)."""
    ids = []
    with db.session() as session:
        for n in range(count):
            anomaly = Anomaly(card_id=cards[n % len(cards)].id, rule=AnomalyRule.COUNTRY_NOT_ALLOWED,
                              details={"country": "LU"}, action=LimitAction.NOTIFY, status=AnomalyStatus.NEW,
                              detected_at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC) - timedelta(minutes=n))
            session.add(anomaly)
            session.commit()
            ids.append(anomaly.id)
    return ids


# --- Daily transactions -----------------------------------------------------------------------------------

async def test_opens_on_yesterday_with_totals_and_changes_day_with_the_keys(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.transactions", DailyTransactionsScreen)
        assert screen.day == YESTERDAY
        assert screen.query_one("#daily-day", Input).value == "25/11/2026"
        assert shown_ids(screen) == expected_ids(demo_db, YESTERDAY) and shown_ids(screen)
        session, actor = fleetadmin(demo_db)
        with session:
            totals = daily_totals(session, actor, YESTERDAY, TransactionFilter(customer_number_id=1))
        text = str(screen.query_one("#daily-totals", Label).content)
        assert text.startswith(f"Wednesday 25/11/2026: {totals.count} transactions")
        assert f"incl. VAT € {totals.amount_incl_vat:,.2f}" in text
        await pilot.press("left_square_bracket")
        await ui.settle(pilot)
        assert screen.day == date(2026, 11, 24)
        assert screen.query_one("#daily-day", Input).value == "24/11/2026"
        assert shown_ids(screen) == expected_ids(demo_db, date(2026, 11, 24))
        await pilot.press("right_square_bracket", "right_square_bracket")
        await ui.settle(pilot)
        assert screen.day == date(2026, 11, 26)
        # A typed day: Ctrl+D, the date, Enter.
        await pilot.press("ctrl+d")
        await pilot.press(*"20/11/2026", "enter")
        await ui.settle(pilot)
        assert screen.day == date(2026, 11, 20)
        assert "Friday 20/11/2026" in str(screen.query_one("#daily-totals", Label).content)
        assert shown_ids(screen) == expected_ids(demo_db, date(2026, 11, 20))
        # A day that is not a day is refused and the list stays.
        await pilot.press("ctrl+d")
        await pilot.press(*"31/02/2026", "enter")
        await ui.settle(pilot)
        assert "is not a day" in screen.query_one(MessageLine).text
        assert screen.day == date(2026, 11, 20)


async def test_day_boundary_in_the_customer_zone(demo_db, ui):
    card = active_cards(demo_db, count=1)[0]
    late = add_fuel(demo_db, card.id, datetime(2026, 11, 15, 22, 59, tzinfo=UTC), 1)  # 23:59 on 15/11 in Brussels
    early = add_fuel(demo_db, card.id, datetime(2026, 11, 15, 23, 0, tzinfo=UTC), 2)  # 00:00 on 16/11
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.transactions", DailyTransactionsScreen)
        screen.query_one("#daily-text", Input).value = card.license_plate
        await pilot.press("ctrl+d")
        await pilot.press(*"15/11/2026", "enter")
        await ui.settle(pilot)
        assert late in shown_ids(screen) and early not in shown_ids(screen)
        rows = {row.id: row for row in screen.query_one(PagedTable).records}
        assert screen.cells(rows[late])[0] == "23:59"  # shown in the customer's time zone
        await pilot.press("right_square_bracket")
        await ui.settle(pilot)
        assert early in shown_ids(screen) and late not in shown_ids(screen)


async def test_filters_and_anomalies_only(demo_db, ui):
    card = active_cards(demo_db, count=1)[0]
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.transactions", DailyTransactionsScreen)
        await pilot.press("ctrl+d")
        await pilot.press(*"01/11/2026", "enter")  # a day of the demo with several transactions
        await ui.settle(pilot)
        every = shown_ids(screen)
        await pilot.press("slash")
        await pilot.press(*card.license_plate.lower(), "enter")
        await ui.settle(pilot)
        assert shown_ids(screen) == expected_ids(demo_db, date(2026, 11, 1), text=card.license_plate)
        assert all(row.license_plate == card.license_plate for row in screen.query_one(PagedTable).records)
        await pilot.press("ctrl+r")
        await ui.settle(pilot)
        assert shown_ids(screen) == every
        screen.query_one("#daily-product", Select).value = Product.DIESEL.value
        await ui.settle(pilot)
        assert shown_ids(screen) == expected_ids(demo_db, date(2026, 11, 1), product=Product.DIESEL)
        assert {row.product for row in screen.query_one(PagedTable).records} <= {Product.DIESEL}
        await pilot.press("ctrl+r", "a")  # only the transactions with an anomaly
        await ui.settle(pilot)
        assert shown_ids(screen) == expected_ids(demo_db, date(2026, 11, 1), with_anomaly=True)
        assert all(row.anomalies for row in screen.query_one(PagedTable).records)


async def test_the_list_pages_through_a_bounded_window_without_loss_or_repeat(demo_db, ui):
    cards = active_cards(demo_db, count=2)
    start = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
    made = [add_fuel(demo_db, cards[n % 2].id, start + timedelta(minutes=5 * (n // 2)), n) for n in range(23)]
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.transactions", DailyTransactionsScreen)
        table = screen.query_one(PagedTable)
        table.page_size, table.window_pages = 4, 2
        await pilot.press("ctrl+d")
        await pilot.press(*"10/11/2026", "enter")
        await ui.settle(pilot)
        expected = expected_ids(demo_db, date(2026, 11, 10))
        assert set(made) <= set(expected)
        seen = [table.current.id]
        for _ in range(len(expected) + 3):
            await pilot.press("down")
            await ui.settle(pilot)
            assert len(table.records) <= 8  # never more than two pages in the table
            assert table.row_count == len(table.records)
            if table.current.id != seen[-1]:
                seen.append(table.current.id)
        assert seen == expected  # every transaction once, in order
        for _ in range(len(expected)):
            await pilot.press("up")
            await ui.settle(pilot)
        assert table.current.id == expected[0] and table.first_page == 0
        await pilot.press("pagedown", "pagedown", "pagedown")
        await ui.settle(pilot)
        assert table.first_page > 0
        await pilot.press("home")  # the first row of the whole day, read again
        await ui.settle(pilot)
        assert table.current.id == expected[0] and table.first_page == 0


# --- Anomalies --------------------------------------------------------------------------------------------

async def test_acknowledge_several_with_a_comment(demo_db, ui):
    cards = active_cards(demo_db)
    made = add_anomalies(demo_db, cards, 4)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.anomalies", AnomaliesScreen)
        table = screen.query_one(PagedTable)
        assert [row.id for row in table.records[:4]] == made  # newest first, new ones only
        assert {row.status for row in table.records} == {AnomalyStatus.NEW}
        await pilot.press("space", "space", "down", "space")  # mark the 1st, 2nd and 4th
        assert set(screen.marked) == {made[0], made[1], made[3]}
        assert "3 marked" in str(screen.query_one("#anomaly-count", Label).content)
        await pilot.press("a")
        await ui.settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AcknowledgeDialog)
        await pilot.press(*"Called the drivers", "enter")
        await ui.settle(pilot)
        assert app.screen is screen
        assert screen.query_one(MessageLine).text == "3 anomalies acknowledged."
        assert not screen.marked
        with demo_db.session() as session:
            done = {a.id: a for a in session.exec(select(Anomaly).where(Anomaly.id.in_(made)))}
            events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "anomaly")).all()
        assert {i for i, a in done.items() if a.status is AnomalyStatus.ACKNOWLEDGED} == {made[0], made[1], made[3]}
        assert {done[i].comment for i in (made[0], made[1], made[3])} == {"Called the drivers"}
        assert done[made[2]].status is AnomalyStatus.NEW
        assert len(events) == 3
        # The list of new anomalies no longer holds them.
        assert made[0] not in [row.id for row in table.records] and made[2] in [row.id for row in table.records]
        # The acknowledged ones, with who and the comment, under the status filter.
        screen.query_one("#anomaly-status", Select).value = "acknowledged"
        await ui.settle(pilot)
        assert table.current.id == made[0]
        detail = str(screen.query_one("#anomaly-detail").content)
        assert "Acknowledged by fleetadmin on 26/11/2026 10:00: Called the drivers" in detail


async def test_acknowledging_deep_in_the_list_stays_there(demo_db, ui):
    made = add_anomalies(demo_db, active_cards(demo_db), 12)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.anomalies", AnomaliesScreen)
        table = screen.query_one(PagedTable)
        table.page_size, table.window_pages = 4, 2
        screen.reload()
        await ui.settle(pilot)
        for _ in range(9):
            await pilot.press("down")
            await ui.settle(pilot)
        assert table.current.id == made[9] and table.first_page > 0  # the first page left the window
        first_page = table.first_page
        await pilot.press("a")
        await ui.settle(pilot)
        await pilot.press("enter")  # no comment
        await ui.settle(pilot)
        assert screen.query_one(MessageLine).text == "1 anomaly acknowledged."
        assert table.first_page == first_page and table.current.id == made[10]
        assert made[9] not in [row.id for row in table.records]


async def test_acknowledge_refusal_keeps_the_comment(demo_db, ui):
    made = add_anomalies(demo_db, active_cards(demo_db), 1)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.anomalies", AnomaliesScreen)
        await pilot.press("a")
        await ui.settle(pilot)
        dialog = app.screen
        with demo_db.session() as session:  # meanwhile the anomaly is removed (e.g. a re-import)
            session.delete(session.get(Anomaly, made[0]))
            session.commit()
        await pilot.press(*"Seen", "enter")
        await ui.settle(pilot)
        assert app.screen is dialog
        assert "does not exist" in dialog.query_one(MessageLine).text
        assert dialog.query_one("#acknowledge-comment", Input).value == "Seen"
        await pilot.press("escape")
        await ui.settle(pilot)
        assert app.screen is screen


async def test_jump_to_the_card_and_block_it(demo_db, ui):
    card = active_cards(demo_db, count=1)[0]
    add_anomalies(demo_db, [card], 1)
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.anomalies", AnomaliesScreen)
        assert screen.query_one(PagedTable).current.card_id == card.id
        await pilot.press("c")
        await ui.settle(pilot)
        menu = app.screen
        assert isinstance(menu, ActionsMenu) and menu.card.id == card.id
        assert "block" in [action for action, _key, _label in menu.actions]
        await pilot.press("b")
        await ui.settle(pilot)
        assert isinstance(app.screen, BlockDialog)
        await pilot.press("ctrl+y")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "is blocked" in screen.query_one(MessageLine).text
        with demo_db.session() as session:
            assert session.get(Card, card.id).status is CardStatus.BLOCKED


async def test_jump_to_the_card_needs_the_right_to_manage_cards(demo_db, ui):
    from test_tui_rights import PASSWORD, add_user

    from store.models import Right

    add_anomalies(demo_db, active_cards(demo_db), 1)
    add_user(demo_db, "watcher", [Right.ANOMALIES])
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "watcher", PASSWORD)
        app.open_menu_item(item("daily.anomalies"))
        await ui.settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnomaliesScreen) and screen.query_one(PagedTable).records
        await pilot.press("b")
        await ui.settle(pilot)
        assert app.screen is screen
        assert "needs the right to manage cards" in screen.query_one(MessageLine).text


# --- PASSango transactions --------------------------------------------------------------------------------

async def test_toll_transactions_of_a_period(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_screen(pilot, ui, "daily.toll_transactions", TollTransactionsScreen)
        session, actor = fleetadmin(demo_db)

        def expected(day_from, day_to, **where) -> list[int]:
            with session:
                return [r.id for r in toll_transactions(session, actor, day_from, day_to,
                                                        TollFilter(customer_number_id=1, **where), limit=10_000)]

        assert (screen.day_from, screen.day_to) == (YESTERDAY, YESTERDAY)
        assert [r.id for r in screen.query_one(PagedTable).records] == expected(YESTERDAY, YESTERDAY)
        await pilot.press("ctrl+d")
        await pilot.press(*"16/11/2026", "tab")
        screen.query_one("#toll-to", Input).value = "22/11/2026"
        await pilot.press("enter")
        await ui.settle(pilot)
        assert (screen.day_from, screen.day_to) == (date(2026, 11, 16), date(2026, 11, 22))
        week = expected(date(2026, 11, 16), date(2026, 11, 22))
        assert week and [r.id for r in screen.query_one(PagedTable).records] == week
        assert str(screen.query_one("#toll-totals", Label).content).startswith(
            f"16/11/2026 to 22/11/2026: {len(week)} toll transactions")
        await pilot.press("left_square_bracket")  # the week before
        await ui.settle(pilot)
        assert (screen.day_from, screen.day_to) == (date(2026, 11, 9), date(2026, 11, 15))
        operator = screen.query_one(PagedTable).records[0].operator
        screen.query_one("#toll-operator", Select).value = operator
        await ui.settle(pilot)
        assert [r.id for r in screen.query_one(PagedTable).records] == expected(
            date(2026, 11, 9), date(2026, 11, 15), operator=operator)
        assert {r.operator for r in screen.query_one(PagedTable).records} == {operator}
