"""The anomaly rules (store.issuer.anomaly_rules), each at its boundary: equal to the limit is allowed, just above
is not; periods roll over at the customer's local midnight, Monday and first of the month."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from store.issuer.anomaly_rules import (
    CardConfig,
    CardHistory,
    DriverCodeBook,
    DriverCodeState,
    Limit,
    PlasticState,
    Tx,
    check_transaction,
    minutes_of,
    odometer_allowance_km,
    period_bounds,
)
from store.models import AnomalyRule, CardStatus, CodeType, DriverCodeStatus, LimitAction, LimitPeriod, Product

BRUSSELS = ZoneInfo("Europe/Brussels")  # UTC+1 in winter
UTC = timezone.utc


def config(**changes) -> CardConfig:
    base = CardConfig(card_id=1, customer_number_id=1, zone=BRUSSELS,
                      limits={Product.DIESEL: Limit(Product.DIESEL), Product.ADBLUE: Limit(Product.ADBLUE),
                              Product.SHOP: Limit(Product.SHOP)},
                      rank=1, plastics={1: PlasticState(1, CardStatus.ACTIVE, date(2030, 11, 30))})
    return replace(base, **changes)


def at(text: str) -> datetime:
    """A UTC moment: at("2026-11-25 22:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tx(moment: datetime, amount="50.00", quantity="30", product=Product.DIESEL, **fields) -> Tx:
    return Tx(moment, product, Decimal(amount), Decimal(quantity), fields.pop("country", "BE"), **fields)


def rules(findings) -> list[AnomalyRule]:
    return [finding.rule for finding in findings]


def run(card: CardConfig, transactions: list[Tx], codes=None) -> list[list]:
    """Judge the transactions in order, each seeing the ones before: the findings of each."""
    history, out = CardHistory(), []
    for item in transactions:
        findings = check_transaction(item, card, history, codes)
        history.record(item, findings)
        out.append(findings)
    return out


# --- limits ---------------------------------------------------------------------------------------------

def test_a_plain_transaction_breaks_nothing():
    assert run(config(), [tx(at("2026-11-25 10:00"))]) == [[]]


@pytest.mark.parametrize("amount, broken", [("100.00", False), ("100.01", True)])
def test_amount_per_transaction_equal_is_allowed(amount, broken):
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"),
                                                period=LimitPeriod.TRANSACTION, action=LimitAction.NOTIFY)})
    [findings] = run(card, [tx(at("2026-11-25 10:00"), amount)])
    assert rules(findings) == ([AnomalyRule.LIMIT_AMOUNT] if broken else [])
    if broken:
        assert findings[0].action is LimitAction.NOTIFY and findings[0].block_until is None
        assert findings[0].details["limit"] == "100.00" and findings[0].details["amount"] == amount


@pytest.mark.parametrize("second, broken", [("40.000", False), ("40.001", True)])
def test_volume_per_day_sums_the_day(second, broken):
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, volume=Decimal("100"), period=LimitPeriod.DAY)})
    first, then = run(card, [tx(at("2026-11-25 08:00"), quantity="60"), tx(at("2026-11-25 15:00"), quantity=second)])
    assert first == []
    assert rules(then) == ([AnomalyRule.LIMIT_VOLUME] if broken else [])
    if broken:
        finding = then[0]
        assert finding.details["total"] == str(Decimal("60") + Decimal(second))
        # A block limit blocks the product until the local day ends: midnight in Brussels is 23:00 UTC.
        assert finding.action is LimitAction.BLOCK and finding.block_until == at("2026-11-25 23:00")


def test_other_products_do_not_count_toward_a_limit():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"), period=LimitPeriod.DAY),
                          Product.ADBLUE: Limit(Product.ADBLUE)})
    results = run(card, [tx(at("2026-11-25 08:00"), "90", product=Product.ADBLUE),
                         tx(at("2026-11-25 09:00"), "90")])
    assert results == [[], []]


def test_day_rolls_over_at_local_midnight_not_utc():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"), period=LimitPeriod.DAY)})
    # 22:30 UTC is 23:30 in Brussels on the 25th; 23:30 UTC is 00:30 on the 26th: a new local day, same UTC day.
    assert run(card, [tx(at("2026-11-25 22:30"), "80"), tx(at("2026-11-25 23:30"), "80")])[1] == []
    # 22:50 UTC is still the 25th in Brussels: the same day, 160 > 100.
    assert rules(run(card, [tx(at("2026-11-25 22:30"), "80"), tx(at("2026-11-25 22:50"), "80")])[1]) == [
        AnomalyRule.LIMIT_AMOUNT]
    # In New York both are on the afternoon of the 25th: the same local day.
    new_york = config(zone=ZoneInfo("America/New_York"), limits=card.limits)
    assert rules(run(new_york, [tx(at("2026-11-25 22:30"), "80"), tx(at("2026-11-25 23:30"), "80")])[1]) == [
        AnomalyRule.LIMIT_AMOUNT]


def test_week_rolls_over_on_local_monday():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"), period=LimitPeriod.WEEK)})
    sunday_late = at("2026-11-29 22:30")  # Sunday 23:30 in Brussels
    monday_early = at("2026-11-29 23:10")  # Monday 00:10 in Brussels, still Sunday in UTC
    sunday_later = at("2026-11-29 22:55")
    assert run(card, [tx(sunday_late, "60"), tx(monday_early, "60")])[1] == []
    assert rules(run(card, [tx(sunday_late, "60"), tx(sunday_later, "60")])[1]) == [AnomalyRule.LIMIT_AMOUNT]
    start, end = period_bounds(LimitPeriod.WEEK, monday_early, BRUSSELS)
    assert (start, end) == (at("2026-11-29 23:00"), at("2026-12-06 23:00"))


def test_month_rolls_over_on_the_local_first():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("500"), period=LimitPeriod.MONTH)})
    november = [tx(at("2026-11-02 10:00"), "250"), tx(at("2026-11-30 22:30"), "250")]  # 500: equal, allowed
    assert run(card, november) == [[], []]
    december_local = tx(at("2026-11-30 23:30"), "10")  # 00:30 on 1 December in Brussels
    assert run(card, [*november, december_local])[2] == []
    still_november = tx(at("2026-11-30 22:59"), "10")
    assert rules(run(card, [*november, still_november])[2]) == [AnomalyRule.LIMIT_AMOUNT]


def test_summer_time_day_bounds():
    start, end = period_bounds(LimitPeriod.DAY, at("2026-07-01 12:00"), BRUSSELS)
    assert (start, end) == (at("2026-06-30 22:00"), at("2026-07-01 22:00"))  # UTC+2 in summer


# --- products and blocks --------------------------------------------------------------------------------

def test_product_not_on_the_card_or_not_allowed():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL),
                          Product.SHOP: Limit(Product.SHOP, allowed=False, action=LimitAction.NOTIFY)})
    [[missing], [refused]] = run(card, [tx(at("2026-11-25 10:00"), product=Product.PETROL_95),
                                        tx(at("2026-11-25 10:05"), "12", "1", product=Product.SHOP)])
    assert missing.rule is AnomalyRule.PRODUCT_NOT_ALLOWED and missing.action is LimitAction.BLOCK
    assert missing.details == {"product": "petrol 95", "reason": "not allowed"}
    assert refused.rule is AnomalyRule.PRODUCT_NOT_ALLOWED and refused.action is LimitAction.NOTIFY


def test_a_block_limit_blocks_the_product_until_the_period_ends():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"), period=LimitPeriod.DAY),
                          Product.ADBLUE: Limit(Product.ADBLUE)})
    history = CardHistory()
    first = tx(at("2026-11-25 08:00"), "70")
    over = tx(at("2026-11-25 09:00"), "70")
    history.record(first, check_transaction(first, card, history))
    findings = check_transaction(over, card, history)
    [block] = history.record(over, findings)
    assert (block.product, block.blocked_from, block.until) == (Product.DIESEL, over.occurred_at,
                                                                at("2026-11-25 23:00"))
    later = tx(at("2026-11-25 12:00"), "5")
    [blocked] = check_transaction(later, card, history)
    assert blocked.rule is AnomalyRule.PRODUCT_NOT_ALLOWED and blocked.details["reason"] == "blocked"
    assert check_transaction(tx(at("2026-11-25 12:00"), "5", product=Product.ADBLUE), card, history) == []
    next_day = tx(at("2026-11-25 23:00"), "5")  # 00:00 local: the period and the block are over
    assert check_transaction(next_day, card, history) == []


def test_a_notify_limit_blocks_nothing():
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, amount=Decimal("100"), period=LimitPeriod.DAY,
                                                action=LimitAction.NOTIFY)})
    results = run(card, [tx(at("2026-11-25 08:00"), "70"), tx(at("2026-11-25 09:00"), "70"),
                         tx(at("2026-11-25 10:00"), "70")])
    assert [rules(r) for r in results] == [[], [AnomalyRule.LIMIT_AMOUNT], [AnomalyRule.LIMIT_AMOUNT]]
    assert all(f.block_until is None for r in results for f in r)


# --- time, place, tank ----------------------------------------------------------------------------------

@pytest.mark.parametrize("utc, broken", [
    ("2026-11-25 04:59", True),   # 05:59 local
    ("2026-11-25 05:00", False),  # 06:00 local: the start is allowed
    ("2026-11-25 19:00", False),  # 20:00 local: the end minute is allowed
    ("2026-11-25 19:00:59", False),
    ("2026-11-25 19:01", True),   # 20:01 local
])
def test_allowed_hours_in_local_time(utc, broken):
    card = config(hours_from=minutes_of("06:00"), hours_to=minutes_of("20:00"))
    [findings] = run(card, [tx(at(utc))])
    assert rules(findings) == ([AnomalyRule.OUTSIDE_HOURS] if broken else [])


def test_forbidden_day_and_weekday():
    card = config(allowed_weekdays=frozenset({1, 2, 3, 4, 5}), forbidden_days=frozenset({"2026-12-25"}))
    friday, saturday_local = at("2026-11-27 22:59"), at("2026-11-27 23:01")  # Fri 23:59 / Sat 00:01 local
    assert run(card, [tx(friday)]) == [[]]
    [[weekend]] = run(card, [tx(saturday_local)])
    assert weekend.rule is AnomalyRule.FORBIDDEN_DAY and weekend.details["weekday"] == 6
    [[christmas]] = run(card, [tx(at("2026-12-25 09:00"))])
    assert christmas.details == {"date": "2026-12-25", "reason": "forbidden day"}


def test_country_not_allowed():
    card = config(allowed_countries=frozenset({"BE", "NL"}))
    assert run(card, [tx(at("2026-11-25 10:00"), country="NL")]) == [[]]
    [[finding]] = run(card, [tx(at("2026-11-25 10:00"), country="FR")])
    assert finding.rule is AnomalyRule.COUNTRY_NOT_ALLOWED and finding.details["country"] == "FR"


def test_volume_details_keep_three_decimals_whatever_the_source_wrote():
    """A total is "51.500" whether the file said 51.5 or the database 51.500 (shown alike everywhere)."""
    card = config(limits={Product.DIESEL: Limit(Product.DIESEL, volume=Decimal("50.5"), period=LimitPeriod.DAY)},
                  tank_capacity_l=Decimal("40"))
    _first, then = run(card, [tx(at("2026-11-25 08:00"), quantity="10.000"), tx(at("2026-11-25 15:00"),
                                                                               quantity="41.5")])
    details = {finding.rule: finding.details for finding in then}
    assert {key: details[AnomalyRule.LIMIT_VOLUME][key] for key in ("limit", "quantity", "total")} == {
        "limit": "50.500", "quantity": "41.500", "total": "51.500"}
    assert details[AnomalyRule.ABOVE_TANK_CAPACITY] == {"quantity": "41.500", "tank_capacity_l": "40.000"}


@pytest.mark.parametrize("quantity, product, broken", [
    ("400.000", Product.DIESEL, False), ("400.001", Product.DIESEL, True), ("450", Product.ADBLUE, False)])
def test_tank_capacity(quantity, product, broken):
    card = config(tank_capacity_l=Decimal("400"))
    [findings] = run(card, [tx(at("2026-11-25 10:00"), quantity=quantity, product=product)])
    assert rules(findings) == ([AnomalyRule.ABOVE_TANK_CAPACITY] if broken else [])


# --- odometer, count ------------------------------------------------------------------------------------

def test_odometer_allowance():
    assert odometer_allowance_km(1) == 50 + 130  # an hour at 130 km/h
    assert odometer_allowance_km(24) == 50 + 1_500  # a day: 1,500 km, not 24 x 130
    assert odometer_allowance_km(72) == 50 + 3 * 1_500


@pytest.mark.parametrize("extra, broken", [(0, False), (1, True)])
def test_odometer_implausible_distance(extra, broken):
    card = config(odometer_prompt=True)
    allowance = odometer_allowance_km(2)
    first = tx(at("2026-11-25 08:00"), odometer_km=100_000)
    second = tx(at("2026-11-25 10:00"), odometer_km=100_000 + allowance + extra)
    findings = run(card, [first, second])[1]
    assert rules(findings) == ([AnomalyRule.ODOMETER] if broken else [])
    if broken:
        assert findings[0].details["driven_km"] == allowance + 1 and findings[0].details["max_km"] == allowance


def test_odometer_lower_than_the_last_reading():
    card = config(odometer_prompt=True)
    findings = run(card, [tx(at("2026-11-25 08:00"), odometer_km=100_000),
                          tx(at("2026-11-26 08:00"), odometer_km=99_999)])[1]
    assert rules(findings) == [AnomalyRule.ODOMETER]
    assert findings[0].details["previous_km"] == 100_000 and findings[0].details["reason"].startswith("lower")
    # Without the prompt the reading is not checked.
    assert run(config(), [tx(at("2026-11-25 08:00"), odometer_km=100_000),
                          tx(at("2026-11-26 08:00"), odometer_km=1)])[1] == []


def test_too_many_transactions_per_local_day():
    card = config(max_transactions_per_day=3)
    day = [tx(at("2026-11-25 07:00") + timedelta(hours=h), "5") for h in range(4)]
    assert [rules(r) for r in run(card, day)] == [[], [], [], [AnomalyRule.TOO_MANY_TRANSACTIONS]]
    next_local_day = tx(at("2026-11-25 23:00"), "5")  # 00:00 on the 26th in Brussels
    assert run(card, [*day[:3], next_local_day])[3] == []


# --- plastic and driver codes ---------------------------------------------------------------------------

def test_blocked_plastic_counts_from_the_block():
    blocked_at = at("2026-11-25 12:00")
    card = config(blocked_at=blocked_at, plastics={1: PlasticState(1, CardStatus.BLOCKED, date(2030, 11, 30))})
    assert run(card, [tx(blocked_at - timedelta(minutes=1))]) == [[]]
    [[finding]] = run(card, [tx(blocked_at)])
    assert finding.rule is AnomalyRule.PLASTIC_NOT_VALID and finding.details["reason"] == "blocked"


@pytest.mark.parametrize("cancelled, reason", [(False, "expired"), (True, "cancelled and expired")])
def test_expired_plastic_after_its_local_expiry_date(cancelled, reason):
    card = config(cancelled=cancelled, plastics={1: PlasticState(1, CardStatus.ACTIVE, date(2026, 11, 25))})
    assert run(card, [tx(at("2026-11-25 22:59"))]) == [[]]  # 23:59 on the expiry date, local
    [[finding]] = run(card, [tx(at("2026-11-25 23:00"))])  # 00:00 the day after
    assert finding.rule is AnomalyRule.PLASTIC_NOT_VALID and finding.details["reason"] == reason


def test_old_rank_and_unknown_rank():
    card = config(rank=2, plastics={1: PlasticState(1, CardStatus.EXPIRED, date(2026, 12, 31)),
                                    2: PlasticState(2, CardStatus.ACTIVE, date(2030, 12, 31))})
    # The previous plastic stays valid until its own expiry date.
    assert run(card, [tx(at("2026-11-25 10:00"), rank=1)]) == [[]]
    [[unknown]] = run(card, [tx(at("2026-11-25 10:00"), rank=3)])
    assert unknown.details == {"reason": "unknown rank", "rank": 3}


def test_driver_codes():
    card = config(code_type=CodeType.DRIVER_CODE)
    book = DriverCodeBook("7310", {
        "0001": DriverCodeState(DriverCodeStatus.ACTIVE, None),
        "0002": DriverCodeState(DriverCodeStatus.BLOCKED, at("2026-11-20 09:00")),
        "0003": DriverCodeState(DriverCodeStatus.BLOCK_PENDING, at("2026-11-26 05:00")),
    })
    moment = at("2026-11-25 10:00")

    def reason(code):
        findings = run(card, [tx(moment, driver_code=code)], book)[0]
        return findings[0].details["reason"] if findings else None

    assert reason("73100001") is None
    assert reason("73100002") == "blocked"
    assert reason("73100003") is None  # the pending block takes effect tomorrow morning
    assert reason("73109999") == "unknown"
    assert reason("12340001") == "unknown"  # another customer's prefix
    assert reason(None) == "missing"
    # A PIN card ignores driver codes.
    assert run(config(), [tx(moment, driver_code="99999999")], book) == [[]]


def test_configuration_only_leaves_out_plastic_and_driver_code():
    card = config(code_type=CodeType.DRIVER_CODE, plastics={})
    assert rules(run(card, [tx(at("2026-11-25 10:00"))])[0]) == [AnomalyRule.PLASTIC_NOT_VALID,
                                                                 AnomalyRule.DRIVER_CODE]
    assert check_transaction(tx(at("2026-11-25 10:00")), card, CardHistory(), configuration_only=True) == []
