"""Acknowledging anomalies (store/services/anomaly_review.py): several at once with a comment in one transaction
with an audit event each; an acknowledged one keeps who acknowledged it first and only its comment can change;
another customer number's anomaly refuses the whole selection; clear messages."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from test_transaction_queries import Followup, utc

from store.models import Anomaly, AnomalyRule, AnomalyStatus, AuditEvent, Card, CardStatus, Right
from store.services.anomaly_review import COMMENT_MAX, acknowledge_anomalies
from store.services.errors import DomainError, NotFound, PermissionDenied

pytestmark = pytest.mark.store


@pytest.fixture
def f(session, clock) -> Followup:
    return Followup.build(session, clock.now())


def fresh(f: Followup, anomaly_id: int) -> Anomaly:
    f.session.expire_all()
    return f.session.get(Anomaly, anomaly_id)


def events(f: Followup) -> list[AuditEvent]:
    return list(f.session.exec(select(AuditEvent).where(AuditEvent.object_type == "anomaly")
                               .order_by(AuditEvent.id)).all())


def test_acknowledge_several_with_a_comment(f, clock):
    moment = utc(2026, 11, 25, 8)
    new = [f.anomaly(f.card_a, moment), f.anomaly(f.card_b, moment + timedelta(minutes=1), AnomalyRule.OUTSIDE_HOURS),
           f.anomaly(f.card_f, moment + timedelta(minutes=2))]
    untouched = f.anomaly(f.card_a, moment + timedelta(minutes=3))
    result = acknowledge_anomalies(f.session, f.actor([Right.ANOMALIES]), clock.now(), [a.id for a in new],
                                   "  Checked with   the driver ")
    assert (result.acknowledged, result.comments_changed, result.unchanged, result.total) == (3, 0, 0, 3)
    for a in new:
        a = fresh(f, a.id)
        assert a.status is AnomalyStatus.ACKNOWLEDGED
        assert (a.comment, a.acknowledged_by_id, a.acknowledged_at) == ("Checked with the driver", f.user.id,
                                                                         clock.now())
    assert fresh(f, untouched.id).status is AnomalyStatus.NEW
    trail = events(f)
    assert [(e.object_id, e.action) for e in trail] == [(str(a.id), "acknowledged") for a in new]
    assert trail[0].before == {"status": "new", "comment": None}
    assert trail[0].after["status"] == "acknowledged" and trail[0].after["comment"] == "Checked with the driver"
    assert trail[0].after["card"] == f.card_a.number and trail[0].after["selected"] == 3
    assert {e.customer_id for e in trail} == {f.customer.id} and {e.actor_label for e in trail} == {"follower"}
    # The card is not blocked by acknowledging (nor by anything else here).
    assert f.session.get(Card, f.card_a.id).status is CardStatus.ACTIVE


def test_acknowledge_without_a_comment(f, clock):
    a = f.anomaly(f.card_a, utc(2026, 11, 25, 8))
    assert acknowledge_anomalies(f.session, f.actor(), clock.now(), [a.id], "   ").acknowledged == 1
    assert fresh(f, a.id).comment is None and fresh(f, a.id).status is AnomalyStatus.ACKNOWLEDGED


def test_acknowledging_again_changes_only_the_comment(f, clock):
    done = f.anomaly(f.card_a, utc(2026, 11, 20, 8), status=AnomalyStatus.ACKNOWLEDGED, comment="Old")
    first_at, first_by = done.acknowledged_at, done.acknowledged_by_id
    new = f.anomaly(f.card_b, utc(2026, 11, 25, 8))
    later = clock.now() + timedelta(hours=2)
    result = acknowledge_anomalies(f.session, f.actor(), later, [done.id, new.id], "Fuel for the generator")
    assert (result.acknowledged, result.comments_changed, result.unchanged) == (1, 1, 0)
    done = fresh(f, done.id)
    assert (done.comment, done.acknowledged_at, done.acknowledged_by_id) == ("Fuel for the generator", first_at,
                                                                            first_by)
    assert [e.action for e in events(f)] == ["comment changed", "acknowledged"]
    assert events(f)[0].before == {"status": "acknowledged", "comment": "Old"}
    # Once more, without a comment (or with the same one): nothing changes and nothing is written.
    again = acknowledge_anomalies(f.session, f.actor(), later, [done.id, new.id])
    assert (again.acknowledged, again.comments_changed, again.unchanged) == (0, 0, 2)
    same = acknowledge_anomalies(f.session, f.actor(), later, [done.id], "Fuel for the generator")
    assert same.unchanged == 1
    assert len(events(f)) == 2
    assert fresh(f, done.id).comment == "Fuel for the generator"


def test_another_customer_numbers_anomaly_refuses_the_whole_selection(f, clock):
    home = f.anomaly(f.card_a, utc(2026, 11, 25, 8))
    other_number = f.anomaly(f.card_f, utc(2026, 11, 25, 9))
    stranger = f.anomaly(f.card_x, utc(2026, 11, 25, 10))
    home_only = f.actor(numbers=(f.home.id,))
    with pytest.raises(PermissionDenied, match="1 of the selected anomalies belongs to a customer number you may "
                                               "not act for; nothing was acknowledged"):
        acknowledge_anomalies(f.session, home_only, clock.now(), [home.id, other_number.id], "x")
    with pytest.raises(PermissionDenied, match="customer number"):
        acknowledge_anomalies(f.session, f.actor(), clock.now(), [stranger.id])
    assert {fresh(f, a.id).status for a in (home, other_number, stranger)} == {AnomalyStatus.NEW}
    assert events(f) == []


def test_refusals_say_what_to_do(f, clock):
    a = f.anomaly(f.card_a, utc(2026, 11, 25, 8))
    with pytest.raises(PermissionDenied, match=r"“Anomalies”"):
        acknowledge_anomalies(f.session, f.actor([Right.DAILY_TRANSACTIONS]), clock.now(), [a.id])
    with pytest.raises(DomainError, match="Select at least one anomaly"):
        acknowledge_anomalies(f.session, f.actor(), clock.now(), [])
    with pytest.raises(NotFound, match="1 of the selected anomalies does not exist"):
        acknowledge_anomalies(f.session, f.actor(), clock.now(), [a.id, a.id + 1000])
    with pytest.raises(DomainError, match=f"at most {COMMENT_MAX} are allowed") as too_long:
        acknowledge_anomalies(f.session, f.actor(), clock.now(), [a.id], "x" * (COMMENT_MAX + 1))
    assert too_long.value.field == "comment"
    assert fresh(f, a.id).status is AnomalyStatus.NEW and events(f) == []
    # Exactly the maximum is allowed.
    acknowledge_anomalies(f.session, f.actor(), clock.now(), [a.id], "x" * COMMENT_MAX)
    assert fresh(f, a.id).comment == "x" * COMMENT_MAX
