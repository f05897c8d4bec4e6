"""Notification settings (a user's own e-mail alerts) and the customer alert settings of Fiche 11 (who gets
the new-invoice e-mail)."""
from __future__ import annotations

import pytest
from sqlmodel import select
from test_cards import World

from store.issuer.production import recipients
from store.models import (
    AnomalyRule,
    AuditEvent,
    Customer,
    CustomerOption,
    NotificationKind,
    NotificationSetting,
    Right,
    User,
    UserStatus,
)
from store.services.errors import DomainError, PermissionDenied
from store.services.notifications import (
    NotificationPreferences,
    get_invoice_alerts,
    get_notification_settings,
    invoice_recipients,
    set_invoice_alerts,
    set_notification_settings,
    wants_email,
)


@pytest.fixture
def world(session, clock) -> World:
    world = World.build(session, clock.now())
    world.customer.options = [CustomerOption.INVOICES_ONLINE.value]
    session.add(world.customer)
    session.commit()
    return world


def _rows(session, user_id: int) -> set[tuple[str, str, bool]]:
    return {(r.kind.value, r.detail, r.enabled) for r in session.exec(
        select(NotificationSetting).where(NotificationSetting.user_id == user_id)).all()}


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all())


# --- a user's own settings ---------------------------------------------------------------------------------

def test_nothing_chosen_reads_as_off(session, world, clock):
    actor = world.actor_with("depot", (Right.NOTIFICATIONS,), clock.now())
    assert get_notification_settings(session, actor) == NotificationPreferences()


def test_an_administrator_who_never_chose_gets_requests_done_like_the_sender_does(session, world, clock):
    admin = world.actor_with("admin", (Right.NOTIFICATIONS, Right.USERS), clock.now())
    assert get_notification_settings(session, admin).requests_done is True
    assert "admin" in [u.username for u in recipients(session, world.number.id)]


def test_save_some_anomaly_kinds_requests_done_and_renewals(session, world, clock):
    actor = world.actor_with("depot", (Right.NOTIFICATIONS,), clock.now())
    chosen = NotificationPreferences(frozenset({AnomalyRule.LIMIT_AMOUNT, AnomalyRule.COUNTRY_NOT_ALLOWED}),
                                     requests_done=True, renewal_notices=False)
    assert set_notification_settings(session, actor, clock.now(), chosen) == chosen
    assert get_notification_settings(session, actor) == chosen
    assert _rows(session, actor.user_id) == {
        ("anomaly", "", False), ("anomaly", "amount limit reached", True), ("anomaly", "country not allowed", True),
        ("request done", "", True), ("renewal notice", "", False)}
    assert wants_email(session, actor.user_id, NotificationKind.ANOMALY, AnomalyRule.LIMIT_AMOUNT.value)
    assert not wants_email(session, actor.user_id, NotificationKind.ANOMALY, AnomalyRule.ODOMETER.value)
    assert not wants_email(session, actor.user_id, NotificationKind.RENEWAL_NOTICE)
    [event] = _events(session, "notification settings changed")
    assert (event.actor_label, event.object_type, event.object_id) == ("depot", "user", str(actor.user_id))
    assert event.before == {"anomalies": [], "requests_done": False, "renewal_notices": False}
    assert event.after == {"anomalies": ["amount limit reached", "country not allowed"], "requests_done": True,
                           "renewal_notices": False}


def test_every_anomaly_kind_is_one_row_for_all(session, world, clock):
    actor = world.actor_with("depot", (Right.NOTIFICATIONS,), clock.now())
    set_notification_settings(session, actor, clock.now(),
                              NotificationPreferences(frozenset({AnomalyRule.ODOMETER})))
    everything = NotificationPreferences(frozenset(AnomalyRule), renewal_notices=True)
    result = set_notification_settings(session, actor, clock.now(), everything)
    assert result.all_anomalies and result.renewal_notices
    assert _rows(session, actor.user_id) == {("anomaly", "", True), ("request done", "", False),
                                             ("renewal notice", "", True)}
    assert wants_email(session, actor.user_id, NotificationKind.ANOMALY, AnomalyRule.DRIVER_CODE.value)


def test_switching_requests_done_off_is_remembered_for_the_sender(session, world, clock):
    admin = world.actor_with("admin", (Right.NOTIFICATIONS, Right.USERS), clock.now())
    set_notification_settings(session, admin, clock.now(), NotificationPreferences(requests_done=False))
    assert get_notification_settings(session, admin).requests_done is False
    assert "admin" not in [u.username for u in recipients(session, world.number.id)]


def test_saving_the_same_choice_writes_no_audit_event(session, world, clock):
    actor = world.actor_with("depot", (Right.NOTIFICATIONS,), clock.now())
    chosen = NotificationPreferences(renewal_notices=True)
    set_notification_settings(session, actor, clock.now(), chosen)
    set_notification_settings(session, actor, clock.now(), chosen)
    assert len(_events(session, "notification settings changed")) == 1


def test_settings_are_per_user(session, world, clock):
    one = world.actor_with("one", (Right.NOTIFICATIONS,), clock.now())
    two = world.actor_with("two", (Right.NOTIFICATIONS,), clock.now())
    set_notification_settings(session, one, clock.now(), NotificationPreferences(renewal_notices=True))
    assert get_notification_settings(session, two) == NotificationPreferences()


def test_notification_settings_need_the_right(session, world, clock):
    without = world.actor_with("nobody", (Right.CARD_MANAGE,), clock.now())
    with pytest.raises(PermissionDenied, match=r"“Notification settings”"):
        get_notification_settings(session, without)
    with pytest.raises(PermissionDenied, match=r"“Notification settings”"):
        set_notification_settings(session, without, clock.now(), NotificationPreferences(requests_done=True))
    assert _rows(session, without.user_id) == set()


def test_an_unknown_anomaly_kind_is_refused(session, world, clock):
    actor = world.actor_with("depot", (Right.NOTIFICATIONS,), clock.now())
    with pytest.raises(DomainError, match="Unknown kind of anomaly"):
        set_notification_settings(session, actor, clock.now(), NotificationPreferences(frozenset({"speeding"})))
    assert _rows(session, actor.user_id) == set()


# --- customer alert settings (Fiche 11) --------------------------------------------------------------------

def test_invoice_alerts_choose_exactly_the_recipients(session, world, clock):
    admin = world.actor_with("admin", (Right.USERS,), clock.now())
    accounting = world.add_user("accounting", (Right.INVOICE_DOWNLOAD,), clock.now())
    gone = world.add_user("gone", (), clock.now())
    gone.status = UserStatus.DEACTIVATED
    session.add(gone)
    session.commit()
    alerts = get_invoice_alerts(session, admin)
    usernames = [c.username for c in alerts.candidates]
    assert "gone" not in usernames and {"admin", "accounting", "fleetadmin"} <= set(usernames)
    assert alerts.recipients == ()

    alerts = set_invoice_alerts(session, admin, clock.now(), [accounting.id, admin.user_id])
    assert set(alerts.recipients) == {accounting.id, admin.user_id}
    assert {u.username for u in invoice_recipients(session, world.customer.id)} == {"accounting", "admin"}

    alerts = set_invoice_alerts(session, admin, clock.now(), [accounting.id])
    assert alerts.recipients == (accounting.id,)
    assert [u.username for u in invoice_recipients(session, world.customer.id)] == ["accounting"]
    assert _rows(session, admin.user_id) == {("invoice available", "", False)}
    events = _events(session, "invoice alerts changed")
    assert [(e.object_type, e.after["recipients"]) for e in events][-1] == ("customer", ["accounting"])
    assert len(events) == 2
    set_invoice_alerts(session, admin, clock.now(), [accounting.id])
    assert len(_events(session, "invoice alerts changed")) == 2  # nothing changed, nothing recorded


def test_invoice_alerts_only_for_the_customers_active_users(session, world, clock):
    admin = world.actor_with("admin", (Right.USERS,), clock.now())
    other = Customer(name="Someone Else BV", driver_code_prefix="7311", created_at=clock.now())
    session.add(other)
    session.flush()
    stranger = User(customer_id=other.id, username="stranger", last_name="STRANGER", first_name="A",
                    email="a@else.example", phone="0470000001")
    session.add(stranger)
    session.commit()
    with pytest.raises(DomainError, match="Only active users of your company"):
        set_invoice_alerts(session, admin, clock.now(), [stranger.id])
    assert invoice_recipients(session, world.customer.id) == []


def test_invoice_alerts_need_the_user_administration_right(session, world, clock):
    accounting = world.actor_with("accounting", (Right.INVOICE_DOWNLOAD, Right.NOTIFICATIONS), clock.now())
    with pytest.raises(PermissionDenied, match=r"“Users \(administration\)”"):
        get_invoice_alerts(session, accounting)
    with pytest.raises(PermissionDenied, match=r"“Users \(administration\)”"):
        set_invoice_alerts(session, accounting, clock.now(), [accounting.user_id])
    assert invoice_recipients(session, world.customer.id) == []


def test_invoice_alerts_need_the_invoices_online_option(session, world, clock):
    world.customer.options = []
    session.add(world.customer)
    session.commit()
    admin = world.actor_with("admin", (Right.USERS,), clock.now())
    with pytest.raises(DomainError, match="invoices-online option"):
        get_invoice_alerts(session, admin)
    with pytest.raises(DomainError, match="invoices-online option"):
        set_invoice_alerts(session, admin, clock.now(), [])
