"""Budget follow-up: setting and clearing monthly budgets per division or card (store.services.budgets)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select
from test_reports import NOV, OCT, PERIOD, build_fleet

from store.models import AuditEvent, Budget, Right
from store.queries import reports
from store.services import budgets
from store.services.errors import DomainError, NotFound, PermissionDenied

D = Decimal


@pytest.fixture
def fleet(session):
    return build_fleet(session)


def stored(session) -> list[tuple]:
    return [(b.division_id, b.card_id, b.month, b.amount)
            for b in session.exec(select(Budget).order_by(Budget.month, Budget.id)).all()]


def events(session) -> list[tuple]:
    return [(e.action, e.before, e.after) for e in session.exec(
        select(AuditEvent).where(AuditEvent.object_type == "budget").order_by(AuditEvent.id)).all()]


def test_set_a_division_budget_normalises_the_month_and_is_audited(session, fleet, clock):
    [budget] = budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, date(2026, 10, 17), "1.250,50",
                                  division_id=fleet.distribution.id)
    assert stored(session) == [(fleet.distribution.id, None, OCT, D("1250.50"))]
    assert budget.month == OCT
    [(action, before, after)] = events(session)
    assert (action, before, after) == ("set", {}, {"month": "2026-10-01", "division": "Distribution",
                                                   "amount": "1250.50"})
    event = session.exec(select(AuditEvent).where(AuditEvent.object_type == "budget")).one()
    assert event.customer_id == fleet.customer.id and event.occurred_at == clock.now()


def test_setting_again_replaces_and_an_unchanged_amount_writes_nothing(session, fleet, clock):
    budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, OCT, D("200"), card_id=fleet.a.id)
    budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, OCT, D("250.00"), card_id=fleet.a.id)
    budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, OCT, "250", card_id=fleet.a.id)
    assert stored(session) == [(None, fleet.a.id, OCT, D("250.00"))]
    assert [(a, b.get("amount"), c.get("amount")) for a, b, c in events(session)] == [
        ("set", None, "200.00"), ("changed", "200.00", "250.00")]


def test_a_card_budget_and_a_division_budget_live_side_by_side(session, fleet, clock):
    budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, NOV, "300", division_id=fleet.distribution.id)
    budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, NOV, "100", card_id=fleet.a.id)
    rows = reports.budget_followup(session, fleet.actor, fleet.number.id, PERIOD)
    assert [(r.kind, r.month(NOV).budget, r.month(NOV).over) for r in rows] == [
        ("division", D("300.00"), False), ("card", D("100.00"), True), ("division", None, False)]


def test_a_run_of_months_then_clear_part_of_it(session, fleet, clock):
    set_ = budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, date(2026, 11, 5), "500",
                              division_id=fleet.long_haul.id, until=date(2027, 1, 31))
    assert [b.month for b in set_] == [NOV, date(2026, 12, 1), date(2027, 1, 1)]
    removed = budgets.clear_budget(session, fleet.actor, clock.now(), fleet.number.id, date(2026, 12, 1),
                                   division_id=fleet.long_haul.id, until=date(2027, 2, 1))
    assert removed == 2
    assert stored(session) == [(fleet.long_haul.id, None, NOV, D("500.00"))]
    assert [a for a, _b, _c in events(session)] == ["set", "set", "set", "cleared", "cleared"]
    assert budgets.clear_budget(session, fleet.actor, clock.now(), fleet.number.id, OCT,
                                division_id=fleet.long_haul.id) == 0


@pytest.mark.parametrize("amount, message", [
    ("0", "more than 0"), ("-10", "more than 0"), (D("12.345"), "2 decimals"), ("twelve", "no amount"),
    ("1e20", "too large"), (12.5, "not a float"),
])
def test_amounts_are_positive_decimals_with_cents(session, fleet, clock, amount, message):
    with pytest.raises(DomainError, match=message) as refused:
        budgets.set_budget(session, fleet.actor, clock.now(), fleet.number.id, OCT, amount,
                           division_id=fleet.distribution.id)
    assert refused.value.field == "amount"
    assert stored(session) == []


def test_exactly_one_target_of_the_customer_number(session, fleet, clock):
    now = clock.now()
    with pytest.raises(DomainError, match="one fleet division or for one card"):
        budgets.set_budget(session, fleet.actor, now, fleet.number.id, OCT, "10", division_id=fleet.distribution.id,
                           card_id=fleet.a.id)
    with pytest.raises(DomainError, match="one fleet division or for one card"):
        budgets.set_budget(session, fleet.actor, now, fleet.number.id, OCT, "10")
    with pytest.raises(NotFound, match="card"):
        budgets.set_budget(session, fleet.actor, now, fleet.number.id, OCT, "10", card_id=fleet.d.id)
    with pytest.raises(NotFound, match="division"):
        budgets.set_budget(session, fleet.actor, now, fleet.other.id, OCT, "10", division_id=fleet.distribution.id)
    with pytest.raises(DomainError, match="swap"):
        budgets.set_budget(session, fleet.actor, now, fleet.number.id, NOV, "10", division_id=fleet.distribution.id,
                           until=OCT)
    with pytest.raises(DomainError, match="at most 24"):
        budgets.set_budget(session, fleet.actor, now, fleet.number.id, OCT, "10", division_id=fleet.distribution.id,
                           until=date(2029, 1, 1))
    assert stored(session) == []


def test_rights_and_customer_numbers(session, fleet, clock):
    without = fleet.with_rights(*[r for r in Right if r is not Right.REPORT_BUDGET])
    with pytest.raises(PermissionDenied, match=r"“Budget follow\-up”"):
        budgets.set_budget(session, without, clock.now(), fleet.number.id, OCT, "10", division_id=fleet.distribution.id)
    home_only = fleet.with_rights(Right.REPORT_BUDGET, numbers=(fleet.number.id,))
    with pytest.raises(PermissionDenied, match="customer number"):
        budgets.clear_budget(session, home_only, clock.now(), fleet.other.id, OCT, card_id=fleet.d.id)


def test_find_a_card_by_number_or_plate(session, fleet):
    assert budgets.find_budget_card(session, fleet.actor, fleet.number.id, "7006000000000002")[0] == fleet.b.id
    assert budgets.find_budget_card(session, fleet.actor, fleet.number.id, " 1-bbb-002 ") == (
        fleet.b.id, "7006000000000002 1-BBB-002")
    with pytest.raises(NotFound):
        budgets.find_budget_card(session, fleet.actor, fleet.number.id, "1-DDD-004")  # the other customer number


@pytest.mark.parametrize("target", ["division", "card"])
def test_two_simultaneous_first_budgets_make_one_row(db, session, fleet, clock, monkeypatch, target):
    """The unique constraint cannot stop two budgets of one target and month (NULL is distinct from NULL in the
    division_id or card_id column): both calls read "no budget yet" before either inserts, unless the first
    one's lock on the target makes the second wait. Each call waits after its read for the other to have read
    too (the race window held open); when the other is kept out, the wait ends after a second."""
    import threading

    barrier = threading.Barrier(2)
    read = budgets._existing

    def read_then_wait(*args, **kwargs):
        found = read(*args, **kwargs)
        try:
            barrier.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass  # the other call waits for this one's lock: no race
        return found

    monkeypatch.setattr(budgets, "_existing", read_then_wait)
    where = {"division_id": fleet.distribution.id} if target == "division" else {"card_id": fleet.a.id}
    errors = []

    def set_(amount: str) -> None:
        with db.session() as own:
            try:
                budgets.set_budget(own, fleet.actor, clock.now(), fleet.number.id, OCT, amount, **where)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=set_, args=(amount,)) for amount in ("100", "200")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    session.expire_all()
    [(division_id, card_id, month, amount)] = stored(session)
    assert (division_id, card_id, month) == ((fleet.distribution.id, None, OCT) if target == "division"
                                             else (None, fleet.a.id, OCT))
    assert amount in (D("100.00"), D("200.00"))
    assert [action for action, _before, _after in events(session)] == ["set", "changed"]
