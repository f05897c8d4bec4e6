"""My account -> Notification settings (checkboxes) and Customer alert settings (the dual list of Fiche 11)."""
from __future__ import annotations

from sqlmodel import select
from textual.widgets import Checkbox

from store.models import AnomalyRule, NotificationKind, NotificationSetting, Right, User, UserRight
from store.services.context import actor_for
from store.services.notifications import get_notification_settings, invoice_recipients
from tui.app import CardsOnlineApp
from tui.menu import MENU, visible_menu
from tui.screens.alert_settings import AlertSettingsScreen
from tui.screens.notification_settings import NotificationSettingsScreen, rule_id
from tui.widgets.dual_list import DualList
from tui.widgets.message_line import MessageLine


def item(menu_id: str):
    return next(i for i in MENU if i.id == menu_id)


async def open_item(pilot, ui, menu_id: str, username="fleetadmin", password="Fleet#2026"):
    await ui.login(pilot, username, password)
    pilot.app.open_menu_item(item(menu_id))
    await ui.settle(pilot)
    return pilot.app.screen


def preferences_of(db, username: str):
    with db.session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return get_notification_settings(session, actor_for(session, user))


def box(screen, box_id: str) -> Checkbox:
    return screen.query_one(f"#{box_id}", Checkbox)


async def test_the_menu_items_follow_the_rights():
    ids = lambda rights: [i.id for _g, items in visible_menu(rights) for i in items  # noqa: E731
                          if i.id in ("account.notifications", "account.divisions", "account.alert_settings")]
    assert ids({"account.notifications", "account.divisions", "account.users"}) == [
        "account.notifications", "account.alert_settings", "account.divisions"]
    assert ids({"invoices.download"}) == []


async def test_notification_settings_show_and_save_the_users_choice(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_item(pilot, ui, "account.notifications")
        assert isinstance(screen, NotificationSettingsScreen)
        # The demo: fleetadmin gets every anomaly, requests done and renewal notices.
        assert box(screen, "anomaly-all").value and box(screen, rule_id("odometer implausible")).value
        assert box(screen, "requests-done").value and box(screen, "renewal-notices").value
        assert screen.focused.id == "anomaly-all"

        await pilot.press("space")  # untick "every kind": every kind goes off
        await pilot.pause()
        assert not any(b.value for b in screen.query(".anomaly-rule").results(Checkbox))
        await pilot.press("tab", "tab", "space")  # the second kind: amount limit reached
        await pilot.pause()
        assert box(screen, rule_id("amount limit reached")).value
        box(screen, "renewal-notices").value = False
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert screen.query_one(MessageLine).text == "Your notification settings are saved."

    saved = preferences_of(demo_db, "fleetadmin")
    assert saved.anomaly_rules == {AnomalyRule.LIMIT_AMOUNT}
    assert (saved.requests_done, saved.renewal_notices) == (True, False)


async def test_ticking_every_kind_one_by_one_ticks_every_kind(demo_db, ui):
    with demo_db.session() as session:  # the demo's depot user chose some anomalies but lacks the right
        depot = session.exec(select(User).where(User.username == "depot")).one()
        session.add(UserRight(user_id=depot.id, right=Right.NOTIFICATIONS))
        session.commit()
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_item(pilot, ui, "account.notifications", "depot", "Depot#2026")
        assert isinstance(screen, NotificationSettingsScreen)
        assert box(screen, rule_id("amount limit reached")).value and not box(screen, "anomaly-all").value
        for rule in screen.query(".anomaly-rule").results(Checkbox):
            rule.value = True
        await pilot.pause()
        assert box(screen, "anomaly-all").value
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
    assert preferences_of(demo_db, "depot").all_anomalies
    with demo_db.session() as session:
        depot = session.exec(select(User).where(User.username == "depot")).one()
        rows = session.exec(select(NotificationSetting).where(NotificationSetting.user_id == depot.id,
                                                              NotificationSetting.kind == NotificationKind.ANOMALY))
        assert [(r.detail, r.enabled) for r in rows] == [("", True)]


async def test_alert_settings_move_users_with_the_keyboard_and_save(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_item(pilot, ui, "account.alert_settings")
        assert isinstance(screen, AlertSettingsScreen)
        dual = screen.query_one(DualList)
        with demo_db.session() as session:
            users = {u.username: str(u.id) for u in session.exec(select(User)).all()}
        assert dual.selected == [users["accounting"]]  # the demo's recipient
        assert screen.focused.id == "dual-available"

        await pilot.press("ctrl+right")  # every user to the right
        await pilot.pause()
        assert set(dual.selected) == {users["accounting"], users["depot"], users["fleetadmin"], users["intern"]}
        assert screen.query_one(MessageLine).text == "Not saved yet: Ctrl+S saves."
        await pilot.press("tab", "enter")  # in the right list: the highlighted one back to the left
        await pilot.pause()
        assert len(dual.selected) == 3
        await pilot.press("ctrl+s")
        await ui.settle(pilot)
        assert screen.query_one(MessageLine).text == "Saved: 3 users get the new-invoice e-mail."
        chosen = set(dual.selected)

    with demo_db.session() as session:
        customer_id = session.exec(select(User.customer_id).where(User.username == "fleetadmin")).one()
        assert {str(u.id) for u in invoice_recipients(session, customer_id)} == chosen


async def test_alert_settings_are_not_in_the_menu_without_the_user_right(demo_db, ui):
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        await ui.login(pilot, "accounting", "Books#2026")
        assert "account.alert_settings" not in {i.id for _g, items in visible_menu(app.session.rights)
                                                for i in items}
        app.open_menu_item(item("account.alert_settings"))
        await ui.settle(pilot)
        assert not isinstance(app.screen, AlertSettingsScreen)


async def test_every_anomaly_rule_is_offered_from_the_enum(demo_db, ui, monkeypatch):
    """The kinds of anomaly come from AnomalyRule, labelled from tui/i18n/labels.py: none can be forgotten."""
    import enum

    import store.models
    from tui.i18n.labels import ANOMALY_RULE_LABELS

    assert set(ANOMALY_RULE_LABELS) == {rule.value for rule in AnomalyRule}  # every rule has its label
    app = CardsOnlineApp(demo_db)
    async with app.run_test(size=ui.size) as pilot:
        screen = await open_item(pilot, ui, "account.notifications")
        boxes = list(screen.query(".anomaly-rule").results(Checkbox))
        assert [b.id for b in boxes] == [rule_id(rule.value) for rule in AnomalyRule]
        assert [str(b.label) for b in boxes] == [ANOMALY_RULE_LABELS[rule.value] for rule in AnomalyRule]
        await pilot.press("escape")
        await ui.settle(pilot)

        # A rule added to the enum is offered without touching the screen (its raw value until labelled).
        extended = enum.Enum("AnomalyRule", [(r.name, r.value) for r in AnomalyRule] + [("NEW_RULE", "new rule")],
                             type=str)
        monkeypatch.setattr(store.models, "AnomalyRule", extended)
        await app.push_screen(NotificationSettingsScreen())
        await ui.settle(pilot)
        boxes = list(app.screen.query(".anomaly-rule").results(Checkbox))
        assert [b.id for b in boxes][-1] == rule_id("new rule") and str(boxes[-1].label) == "new rule"
