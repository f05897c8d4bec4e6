"""The issuer's transaction file in (store.issuer.transactions_import): bad rows, re-import, encodings, xlsx,
product blocks, last use, the alert digests (aiosmtpd) and the what-if on a known history."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select
from test_cards import World

from store.issuer.transactions_import import ImportFileError, import_transactions
from store.models import (
    Anomaly,
    AnomalyRule,
    Card,
    CardProductBlock,
    CardStatus,
    CustomerOption,
    DriverCode,
    FuelTransaction,
    LimitAction,
    LimitPeriod,
    NotificationKind,
    NotificationSetting,
    OutboxMessage,
    Product,
    Right,
    TollTransaction,
)
from store.services import cards
from store.services.bulk import BulkParams
from store.services.card_specs import Controls, InvalidSpec, LimitSpec
from store.services.cards import spec_from_card
from store.services.errors import DomainError, PermissionDenied
from store.services.outbox import send_pending
from store.services.what_if import what_if

HEADER = ("kind;issuer_transaction_id;card_number;rank;occurred_at;station;city;country;product;quantity;"
          "unit_price;amount_excl_vat;vat_rate;amount_incl_vat;odometer_km;driver_code;operator;entry_point;"
          "exit_point;entry_at;vehicle_class")


@dataclass
class Fleet:
    world: World
    truck: Card  # fleet card: diesel 300 EUR/day (block), adblue, car wash 25/week (notify); BE, NL; tank 400
    obu: Card


@pytest.fixture
def fleet(session, clock) -> Fleet:
    now = clock.now()
    world = World.build(session, now)
    truck, _ = cards.create_card(session, world.actor, now, world.card_spec())
    truck = world.set_status(truck, CardStatus.ACTIVE)
    obu, _ = cards.create_card(session, world.actor, now, world.obu_spec())
    obu = world.set_status(obu, CardStatus.ACTIVE)
    return Fleet(world, truck, obu)


def fuel_line(tx_id: str, card: Card, when: str, *, product="diesel", quantity="50", price="1.5000", country="BE",
              odometer="", code="", city="Antwerpen", rate="21", sep=".") -> str:
    q, p = Decimal(quantity), Decimal(price)
    excl = (q * p).quantize(Decimal("0.01"))
    incl = (excl * (1 + Decimal(rate) / 100)).quantize(Decimal("0.01"))

    def number(value) -> str:
        return str(value).replace(".", sep)

    return (f"fuel;{tx_id};{card.number};1;{when};Q8 {city};{city};{country};{product};{number(q)};{number(p)};"
            f"{number(excl)};{rate};{number(incl)};{odometer};{code};;;;;")


def toll_line(tx_id: str, card: Card, exit_at: str, entry_at: str, amount="11.40") -> str:
    return (f"toll;{tx_id};{card.number};;{exit_at};;;BE;;;;{amount};0;{amount};;;viapass (BE);E313 Antwerpen-Oost;"
            f"E313 Hasselt-West;{entry_at};3")


def write(tmp_path: Path, lines: list[str], name="day.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))
    return path


def anomalies(session, card_id=None) -> list[Anomaly]:
    query = select(Anomaly).order_by(Anomaly.id)
    if card_id is not None:
        query = query.where(Anomaly.card_id == card_id)
    return list(session.exec(query).all())


# --- import ---------------------------------------------------------------------------------------------

def test_import_books_fuel_and_toll_rows_and_moves_last_use(session, fleet, clock, tmp_path):
    truck, obu = fleet.truck, fleet.obu
    path = write(tmp_path, [
        fuel_line("T-1", truck, "2026-11-25T08:15:00+01:00", quantity="120.5", odometer="120000"),
        fuel_line("T-2", truck, "2026-11-25 17:40", product="adblue", quantity="20", price="0.7000"),
        toll_line("P-1", obu, "2026-11-25T10:30:00+01:00", "2026-11-25T09:50:00+01:00"),
    ])
    report = import_transactions(session, path, clock.now())
    assert (report.rows, report.fuel, report.toll, report.rejected, report.anomalies) == (3, 2, 1, 0, 0)
    first, second = session.exec(select(FuelTransaction).order_by(FuelTransaction.occurred_at)).all()
    assert first.occurred_at == datetime(2026, 11, 25, 7, 15, tzinfo=timezone.utc)
    assert (first.quantity, first.unit_price, first.amount_excl_vat, first.amount_incl_vat) == (
        Decimal("120.500"), Decimal("1.5000"), Decimal("180.75"), Decimal("218.71"))
    assert first.odometer_km == 120000 and first.rank == 1
    # Without an offset the time is the customer's local time (Brussels, UTC+1 in November).
    assert second.occurred_at == datetime(2026, 11, 25, 16, 40, tzinfo=timezone.utc)
    toll = session.exec(select(TollTransaction)).one()
    assert toll.entry_at == datetime(2026, 11, 25, 8, 50, tzinfo=timezone.utc) and toll.vehicle_class == "3"
    session.expire_all()
    assert session.get(Card, truck.id).last_used_at == second.occurred_at
    assert session.get(Card, obu.id).last_used_at == toll.exit_at


def test_bad_rows_are_rejected_with_line_and_reason_and_the_rest_goes_on(session, fleet, clock, tmp_path):
    truck, obu = fleet.truck, fleet.obu
    good = fuel_line("G-1", truck, "2026-11-25T08:00:00+01:00")
    path = write(tmp_path, [
        good,                                                                       # line 2
        fuel_line("B-1", truck, "yesterday"),                                       # 3
        fuel_line("B-2", truck, "2026-11-25 09:00", product="champagne"),          # 4
        good.replace("G-1", "B-3").replace(truck.number, "7006199999999999999"),    # 5
        fuel_line("B-4", truck, "2026-11-25 09:00").replace(";50;", ";fifty;"),      # 6
        fuel_line("B-5", obu, "2026-11-25 09:00"),                                  # 7
        fuel_line("B-6", truck, "2026-11-25 09:00", quantity="-5"),                # 8
        good.replace("G-1", "B-7").replace(";90.75;", ";99.99;"),                   # 9
        "",                                                                         # 10 (blank, skipped)
        fuel_line("G-2", truck, "25/11/2026 10:00"),                                # 11
    ])
    report = import_transactions(session, path, clock.now())
    reasons = {rejection.line: rejection.reason for rejection in report.rejections}
    assert report.fuel == 2 and report.rejected == 7 == len(reasons)
    assert "occurred_at 'yesterday' is not a date" in reasons[3]
    assert "product 'champagne' is unknown" in reasons[4]
    assert reasons[5] == "Unknown card number 7006199999999999999."
    assert "quantity 'fifty' is not a number" in reasons[6]
    assert "is an OBU" in reasons[7]
    assert "must be more than 0" in reasons[8]
    assert "is not amount_excl_vat" in reasons[9]
    assert set(session.exec(select(FuelTransaction.issuer_transaction_id)).all()) == {"G-1", "G-2"}


def test_a_reimport_adds_nothing_and_says_so(session, fleet, clock, tmp_path):
    truck = fleet.truck
    lines = [fuel_line(f"R-{i}", truck, f"2026-11-2{i}T09:00:00+01:00", product="car wash", quantity="1",
                       price="30.0000") for i in range(1, 4)]  # car wash 30 > 25 a week: anomalies
    lines.append(lines[0])  # the same transaction twice in one file
    path = write(tmp_path, lines)
    first = import_transactions(session, path, clock.now(), batch_rows=2)
    assert (first.fuel, first.already_there) == (3, 1)
    before = len(anomalies(session))
    assert before == first.anomalies > 0
    again = import_transactions(session, path, clock.now())
    assert (again.rows, again.fuel, again.already_there, again.anomalies) == (4, 0, 4, 0)
    assert len(session.exec(select(FuelTransaction)).all()) == 3 and len(anomalies(session)) == before


def test_the_garbage_collector_is_as_it_was_after_an_import_even_a_failed_one(session, fleet, clock, tmp_path):
    """The import pauses Python's collector and freezes each batch's survivors (collector_paused): afterwards
    the collector runs again, nothing stays frozen, and the garbage made in reference cycles meanwhile is
    collectable."""
    import gc

    lines = [fuel_line(f"G-{i}", fleet.truck, f"2026-11-2{i}T09:00:00+01:00") for i in range(1, 4)]
    assert gc.isenabled()
    report = import_transactions(session, write(tmp_path, lines), clock.now(), batch_rows=1)
    assert report.fuel == 3
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(ImportFileError):
        import_transactions(session, tmp_path / "missing.csv", clock.now())
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller that keeps the collector off gets it back off
    try:
        import_transactions(session, write(tmp_path, lines), clock.now())
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_latin1_csv_with_decimal_commas(session, fleet, clock, tmp_path):
    truck = fleet.truck
    line = fuel_line("L-1", truck, "2026-11-25T08:00:00+01:00", quantity="61.125", price="1.6590", city="Liège",
                     sep=",")
    path = write(tmp_path, [line], encoding="latin-1")
    assert "è".encode("latin-1") in path.read_bytes()  # really Latin-1, not UTF-8
    report = import_transactions(session, path, clock.now())
    assert (report.fuel, report.rejected, report.encoding) == (1, 0, "latin-1")
    row = session.exec(select(FuelTransaction)).one()
    assert row.city == "Liège" and row.station == "Q8 Liège"
    assert (row.quantity, row.unit_price, row.amount_excl_vat) == (Decimal("61.125"), Decimal("1.6590"),
                                                                   Decimal("101.41"))


def test_xlsx_import(session, fleet, clock, tmp_path):
    from openpyxl import Workbook

    truck = fleet.truck
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Issuer transaction id", "Card number", "Occurred at", "Station", "City", "Country", "Product",
                  "Quantity", "Unit price", "Amount excl VAT", "VAT rate", "Amount incl VAT", "Odometer km"])
    sheet.append(["X-1", truck.number, datetime(2026, 11, 25, 8, 30), "Shell Breda", "Breda", "NL", "diesel",
                  45.5, 1.7, 77.35, 21, 93.59, 150200])
    sheet.append(["X-2", truck.number, datetime(2026, 11, 25, 9, 30), "Shell Breda", "Breda", "NL", "diesel",
                  "abc", 1.7, 77.35, 21, 93.59, None])
    path = tmp_path / "day.xlsx"
    workbook.save(path)
    report = import_transactions(session, path, clock.now())
    assert (report.fuel, report.rejected) == (1, 1)
    assert report.rejections[0].line == 3 and "quantity 'abc'" in report.rejections[0].reason
    row = session.exec(select(FuelTransaction)).one()
    assert (row.quantity, row.amount_incl_vat, row.odometer_km, row.country) == (Decimal("45.500"), Decimal("93.59"),
                                                                                 150200, "NL")
    assert row.occurred_at == datetime(2026, 11, 25, 7, 30, tzinfo=timezone.utc)  # local time in the sheet


def test_a_file_without_the_columns_is_refused_whole(session, fleet, clock, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("date;amount\n2026-11-25;12\n")
    with pytest.raises(ImportFileError, match="no column issuer_transaction_id"):
        import_transactions(session, path, clock.now())


# --- anomalies in the import ----------------------------------------------------------------------------

def test_a_block_limit_creates_a_product_block_for_the_rest_of_the_day(session, fleet, clock, tmp_path):
    truck = fleet.truck  # diesel: 300 EUR a day incl. VAT, action block
    path = write(tmp_path, [
        fuel_line("D-1", truck, "2026-11-24T08:00:00+01:00", quantity="100"),   # 181.50
        fuel_line("D-2", truck, "2026-11-24T12:00:00+01:00", quantity="65"),    # 299.48 in total: allowed
        fuel_line("D-3", truck, "2026-11-24T15:00:00+01:00", quantity="10"),    # 317.63: over the limit
        fuel_line("D-4", truck, "2026-11-24T18:00:00+01:00", quantity="1"),     # blocked
        fuel_line("D-5", truck, "2026-11-24T18:30:00+01:00", product="adblue", quantity="10", price="0.7000"),
        fuel_line("D-6", truck, "2026-11-25T07:00:00+01:00", quantity="10"),    # a new day: fine
    ])
    report = import_transactions(session, path, clock.now(), batch_rows=2)  # history across batches
    by_tx = {}
    for anomaly in anomalies(session):
        tx = session.get(FuelTransaction, anomaly.fuel_transaction_id)
        by_tx.setdefault(tx.issuer_transaction_id, []).append(anomaly)
    assert sorted(by_tx) == ["D-3", "D-4"] and report.product_blocks == 1
    [limit] = by_tx["D-3"]
    assert (limit.rule, limit.action) == (AnomalyRule.LIMIT_AMOUNT, LimitAction.BLOCK)
    assert limit.details["total"] == "317.63" and limit.details["limit"] == "300.00"
    block = session.exec(select(CardProductBlock)).one()
    assert (block.card_id, block.product, block.anomaly_id) == (truck.id, Product.DIESEL, limit.id)
    assert block.until == datetime(2026, 11, 24, 23, 0, tzinfo=timezone.utc)  # local midnight
    [blocked] = by_tx["D-4"]
    assert blocked.rule is AnomalyRule.PRODUCT_NOT_ALLOWED and blocked.details["reason"] == "blocked"


def test_a_later_import_sees_the_earlier_history_and_blocks(session, fleet, clock, tmp_path):
    truck = fleet.truck
    import_transactions(session, write(tmp_path, [
        fuel_line("E-1", truck, "2026-11-24T08:00:00+01:00", quantity="180"),  # 326.70: over at once
    ], "one.csv"), clock.now())
    report = import_transactions(session, write(tmp_path, [
        fuel_line("E-2", truck, "2026-11-24T20:00:00+01:00", quantity="1"),
    ], "two.csv"), clock.now())
    assert report.by_rule == {AnomalyRule.PRODUCT_NOT_ALLOWED: 1}


def test_rules_of_the_card_in_an_import(session, fleet, clock, tmp_path):
    world, truck = fleet.world, fleet.truck
    session.add(DriverCode(customer_number_id=world.number.id, division_id=world.division.id, code="0001",
                           driver_name="Jan Peeters", created_at=clock.now()))
    card = session.get(Card, truck.id)
    card.odometer_prompt, card.max_transactions_per_day = True, 2
    session.add(card)
    session.commit()
    path = write(tmp_path, [
        fuel_line("F-1", truck, "2026-11-23T08:00:00+01:00", country="FR", odometer="100000"),
        fuel_line("F-2", truck, "2026-11-23T09:00:00+01:00", quantity="401", price="0.4000", odometer="99000"),
        fuel_line("F-3", truck, "2026-11-23T10:00:00+01:00", product="shop", quantity="1", price="5.0000"),
    ])
    import_transactions(session, path, clock.now())
    found = {(session.get(FuelTransaction, a.fuel_transaction_id).issuer_transaction_id, a.rule)
             for a in anomalies(session)}
    assert found == {("F-1", AnomalyRule.COUNTRY_NOT_ALLOWED), ("F-2", AnomalyRule.ABOVE_TANK_CAPACITY),
                     ("F-2", AnomalyRule.ODOMETER), ("F-3", AnomalyRule.PRODUCT_NOT_ALLOWED),
                     ("F-3", AnomalyRule.TOO_MANY_TRANSACTIONS)}


# --- alerts ---------------------------------------------------------------------------------------------

def _subscribe(session, user, kind=NotificationKind.ANOMALY, detail=""):
    session.add(NotificationSetting(user_id=user.id, kind=kind, detail=detail, enabled=True))
    session.commit()


def test_a_burst_of_anomalies_is_one_mail_per_recipient(session, fleet, clock, tmp_path, smtp_server):
    world, truck = fleet.world, fleet.truck
    world.customer.options = [CustomerOption.ANOMALY_DETECTION.value]
    session.add(world.customer)
    session.commit()
    now = clock.now()
    dutch = world.add_user("nlalerts", [Right.ANOMALIES], now, language="nl")
    french = world.add_user("fralerts", [Right.ANOMALIES], now, language="fr")
    only_country = world.add_user("country", [Right.ANOMALIES], now, language="en")
    no_right = world.add_user("noright", [Right.CARD_MANAGE], now, language="en")
    silent = world.add_user("silent", [Right.ANOMALIES], now, language="en")  # never subscribed
    for user in (dutch, french, no_right):
        _subscribe(session, user)
    _subscribe(session, only_country, detail=AnomalyRule.COUNTRY_NOT_ALLOWED.value)
    burst = [fuel_line(f"A-{i}", truck, f"2026-11-25T{8 + i // 4:02d}:{(i % 4) * 10:02d}:00+01:00", country="FR",
                       quantity="5") for i in range(12)]  # 12 transactions in France, which the card refuses
    burst.append(fuel_line("A-wash", truck, "2026-11-25T12:00:00+01:00", product="car wash", quantity="1",
                           price="30.0000"))  # over the car-wash limit: not a country anomaly
    report = import_transactions(session, write(tmp_path, burst), now)
    assert report.anomalies == 13 and report.alert_mails == 3
    assert all(a.notified_at == now for a in anomalies(session))
    outcome = send_pending(session, now, smtp_server.url)
    assert outcome.sent == 3
    by_address = {mail["To"]: mail for mail in smtp_server.messages}
    assert set(by_address) == {dutch.email, french.email, only_country.email}
    nl, fr, en = by_address[dutch.email], by_address[french.email], by_address[only_country.email]
    assert nl["Subject"] == "13 afwijkingen op uw kaarten" and nl.get_content().count(truck.number) == 13
    assert "land niet toegestaan" in nl.get_content() and "bedraglimiet overschreden" in nl.get_content()
    assert fr["Subject"] == "13 anomalies sur vos cartes" and "pays non autorisé" in fr.get_content()
    assert en["Subject"] == "12 anomalies on your cards" and "amount limit" not in en.get_content()
    # The next import's digest holds only its own anomalies.
    smtp_server.messages.clear()
    later = import_transactions(session, write(tmp_path, [fuel_line("A-next", truck, "2026-11-25T20:00:00+01:00",
                                                                    country="DE")], "next.csv"), now)
    assert later.alert_mails == 3
    send_pending(session, now, smtp_server.url)
    assert all(mail["Subject"] in ("1 afwijking op uw kaarten", "1 anomalie sur vos cartes",
                                   "1 anomaly on your cards") for mail in smtp_server.messages)


def test_no_alert_without_the_option(session, fleet, clock, tmp_path):
    world, truck = fleet.world, fleet.truck
    user = world.add_user("nooption", [Right.ANOMALIES], clock.now())
    _subscribe(session, user)
    report = import_transactions(session, write(tmp_path, [fuel_line("N-1", truck, "2026-11-25 09:00",
                                                                     country="FR")]), clock.now())
    assert report.anomalies == 1 and report.alert_mails == 0
    assert session.exec(select(OutboxMessage)).all() == []
    assert anomalies(session)[0].notified_at is None


def test_passalert_subscribers_hear_too(session, fleet, clock, tmp_path):
    world, truck = fleet.world, fleet.truck
    world.customer.options = [CustomerOption.PASSALERT.value]
    session.add(world.customer)
    session.commit()
    user = world.add_user("passalert", [Right.PASSALERT], clock.now(), language="en")
    _subscribe(session, user, NotificationKind.PASSALERT)
    report = import_transactions(session, write(tmp_path, [fuel_line("P-1", truck, "2026-11-25 09:00",
                                                                     country="FR")]), clock.now())
    assert report.alert_mails == 1
    [mail] = session.exec(select(OutboxMessage)).all()
    assert mail.to_address == user.email and "country not allowed" in mail.body


# --- what-if --------------------------------------------------------------------------------------------

def _history(session, fleet, clock, tmp_path) -> None:
    truck = fleet.truck
    lines = []
    for day in range(1, 11):  # 1-10 November: 100 l of diesel a day (181.50 EUR) and a car wash on the 5th
        lines.append(fuel_line(f"H-{day}", truck, f"2026-11-{day:02d}T09:00:00+01:00", quantity="100"))
    lines.append(fuel_line("H-wash", truck, "2026-11-05T10:00:00+01:00", product="car wash", quantity="1",
                           price="20.0000"))  # 24.20 EUR: under the 25 a week
    lines.append(fuel_line("H-old", truck, "2026-06-01T09:00:00+02:00", quantity="100"))  # before the replay
    import_transactions(session, write(tmp_path, lines, "history.csv"), clock.now(), alerts=False)


def test_what_if_on_a_known_history(session, fleet, clock, tmp_path):
    _history(session, fleet, clock, tmp_path)
    truck, actor = fleet.truck, fleet.world.actor
    current = spec_from_card(session, truck.id)
    limits = tuple(LimitSpec(Product.DIESEL, amount=Decimal("500"), period=LimitPeriod.WEEK)
                   if limit.product is Product.DIESEL else limit for limit in current.limits)
    limits += (LimitSpec(Product.CAR_WASH, amount=Decimal("20"), period=LimitPeriod.TRANSACTION,
                         action=LimitAction.NOTIFY),)
    changed = replace(current, limits=tuple({l.product: l for l in limits}.values()))
    report = what_if(session, actor, clock.now(), truck.id, changed, months=3)
    # Weeks (Mon-Sun) of November 2026: 2-8 and 9-15. 1 Nov is a Sunday, alone in its week: 181.50, fine.
    # 2-8 Nov: 181.50 a day, so 363.00 on the 3rd, 544.50 on the 4th: refused (block), then blocked for
    # the rest of the week (5-8 refused too; refused fills do not count). 9-10 Nov: 363.00, fine.
    refused = [item for item in report.items if item.outcome == "refused"]
    assert [item.occurred_at.day for item in refused] == [4, 5, 6, 7, 8]
    assert refused[0].findings[0].rule is AnomalyRule.LIMIT_AMOUNT
    assert all(item.findings[0].details["reason"] == "blocked" for item in refused[1:])
    [reported] = [item for item in report.items if item.outcome == "reported"]
    assert reported.product is Product.CAR_WASH and reported.findings[0].rule is AnomalyRule.LIMIT_AMOUNT
    assert report.totals.transactions == 11  # the June fill is before the replay window
    assert (report.totals.refused, report.totals.reported) == (5, 1)
    assert report.totals.refused_amount == 5 * Decimal("181.50")
    assert report.totals.reported_amount == Decimal("24.20")
    # Today's card: 300 a day, so nothing was over; the what-if changed nothing in the store.
    assert (report.current.refused, report.current.reported) == (0, 0)
    assert spec_from_card(session, truck.id) == current


def test_what_if_with_a_template_and_its_checks(session, fleet, clock, tmp_path):
    _history(session, fleet, clock, tmp_path)
    truck, actor = fleet.truck, fleet.world.actor
    template = BulkParams(controls=Controls(allowed_weekdays=(1, 2, 3, 4, 5)))
    report = what_if(session, actor, clock.now(), truck.id, template, months=1)
    weekend = [item.occurred_at.day for item in report.items]
    assert weekend == [1, 7, 8]  # Sunday 1, Saturday 7 and Sunday 8 November; reported, not refused
    assert {item.outcome for item in report.items} == {"reported"}
    with pytest.raises(InvalidSpec, match="at least one weekday"):
        what_if(session, actor, clock.now(), truck.id, BulkParams(controls=Controls(allowed_weekdays=())))
    with pytest.raises(DomainError, match="between 1 and 24 months"):
        what_if(session, actor, clock.now(), truck.id, template, months=0)
    without = fleet.world.actor_with("viewer", [Right.DAILY_TRANSACTIONS], clock.now())
    with pytest.raises(PermissionDenied, match=r"“Manage cards and OBUs”"):
        what_if(session, without, clock.now(), truck.id, template)


def test_what_if_replays_tolls_for_an_obu(session, fleet, clock, tmp_path):
    obu = fleet.obu
    lines = [toll_line(f"W-{day}", obu, f"2026-11-{day:02d}T10:00:00+01:00", f"2026-11-{day:02d}T09:00:00+01:00",
                       amount="40.00") for day in (2, 3, 4)]
    import_transactions(session, write(tmp_path, lines, "tolls.csv"), clock.now(), alerts=False)
    spec = replace(spec_from_card(session, obu.id),
                   limits=(LimitSpec(Product.TOLLS, amount=Decimal("80"), period=LimitPeriod.WEEK,
                                     action=LimitAction.NOTIFY),))
    report = what_if(session, fleet.world.actor, clock.now(), obu.id, spec)
    assert [(item.occurred_at.day, item.outcome, item.toll) for item in report.items] == [(4, "reported", True)]
    assert report.items[0].findings[0].details["total"] == "120.00"


def test_the_time_window_starts_months_back_in_local_time(session, fleet, clock):
    report = what_if(session, fleet.world.actor, clock.now(), fleet.truck.id,
                     spec_from_card(session, fleet.truck.id), months=2)
    assert report.since == datetime(2026, 9, 25, 22, 0, tzinfo=timezone.utc)  # 26 September 00:00 in Brussels
    assert report.items == () and report.totals.transactions == 0
    assert report.until == clock.now() and report.since < clock.now() - timedelta(days=55)


@pytest.mark.parametrize("text, places, expected", [
    ("1.234,56", 2, Decimal("1234.56")), ("1,234.56", 2, Decimal("1234.56")), ("12,5", 2, Decimal("12.5")),
    ("61.125", 3, Decimal("61.125")), (" 7 ", 2, Decimal("7")), ("1.005", 2, None), ("1e-5", 2, None),
    ("nan", 2, None), ("12,3,4", 2, None)])
def test_numbers_with_a_decimal_comma_or_point(text, places, expected):
    from store.issuer.transactions_import import RowError, parse_decimal

    if expected is None:
        with pytest.raises(RowError, match="quantity"):
            parse_decimal(text.strip(), "quantity", places)
    else:
        assert parse_decimal(text.strip(), "quantity", places) == expected


# --- the history a batch loads: sums before the day of its first row, events after ------------------------

def _limited_card(session, fleet, clock, max_per_day=None) -> Card:
    """A truck with week and month limits (the import sums the periods' earlier days per product)."""
    world = fleet.world
    spec = world.card_spec(license_plate="1-LIM-001", limits=(
        LimitSpec(Product.DIESEL, amount=Decimal("700.00"), period=LimitPeriod.WEEK),  # block
        LimitSpec(Product.ADBLUE, volume=Decimal("50"), period=LimitPeriod.MONTH, action=LimitAction.NOTIFY),
        LimitSpec(Product.CAR_WASH, amount=Decimal("60"), period=LimitPeriod.MONTH, action=LimitAction.NOTIFY)))
    card, _ = cards.create_card(session, world.actor, clock.now(), spec)
    return world.set_status(card, CardStatus.ACTIVE, max_transactions_per_day=max_per_day)


def _findings_by_tx(session, numbers=False) -> dict[str, list]:
    found: dict[str, list] = {}
    for anomaly in anomalies(session):
        tx = session.get(FuelTransaction, anomaly.fuel_transaction_id)
        found.setdefault(tx.issuer_transaction_id, []).append((anomaly.rule, _numbers(anomaly.details) if numbers
                                                                else anomaly.details))
    return {tx_id: sorted(items, key=repr) for tx_id, items in found.items()}


def _numbers(details: dict) -> dict:
    """Quantities as numbers: "51.5" and "51.500" (read back from the database) are the same total."""
    def number(value):
        if isinstance(value, str) and value.replace(".", "", 1).isdigit():
            return Decimal(value)
        return value
    return {key: number(value) for key, value in details.items()}


def test_week_and_month_sums_across_period_ends_and_out_of_order_rows(session, fleet, clock, tmp_path):
    card = _limited_card(session, fleet, clock)
    # Already booked: car washes (24.20 each) on 10 and 20 November, diesel (181.50 a fill) on 23 and 25 Nov.
    import_transactions(session, write(tmp_path, [
        fuel_line("H-w1", card, "2026-11-10T10:00:00+01:00", product="car wash", quantity="1", price="20.0000"),
        fuel_line("H-w2", card, "2026-11-20T10:00:00+01:00", product="car wash", quantity="1", price="20.0000"),
        fuel_line("H-d1", card, "2026-11-23T08:00:00+01:00", quantity="100"),
        fuel_line("H-d2", card, "2026-11-25T08:00:00+01:00", quantity="100"),
    ], "history.csv"), clock.now(), alerts=False)
    assert anomalies(session) == []
    # Not in time order. Monday 30 November starts a week that ends in December.
    lines = [
        fuel_line("N-w-dec", card, "2026-12-01T10:00:00+01:00", product="car wash", quantity="1", price="20.0000"),
        fuel_line("N-w-nov", card, "2026-11-28T10:00:00+01:00", product="car wash", quantity="1", price="20.0000"),
        fuel_line("N-d-27", card, "2026-11-27T08:00:00+01:00", quantity="100"),  # 363 + 181.50 = 544.50: fine
        fuel_line("N-d-28", card, "2026-11-28T08:00:00+01:00", quantity="100"),  # 726.00 > 700: blocks the week
        fuel_line("N-d-29", card, "2026-11-29T23:30:00+01:00", quantity="10"),   # Sunday night: blocked
        fuel_line("N-d-30", card, "2026-11-30T00:10:00+01:00", quantity="100"),  # a new week: 181.50
        fuel_line("N-d-02", card, "2026-12-02T08:00:00+01:00", quantity="100"),  # 363.00
        fuel_line("N-d-03", card, "2026-12-03T08:00:00+01:00", quantity="100"),  # 544.50
        fuel_line("N-d-04", card, "2026-12-04T08:00:00+01:00", quantity="100"),  # 726.00 > 700
    ]
    expected = {
        "N-w-nov": [(AnomalyRule.LIMIT_AMOUNT, {"product": "car wash", "period": "month", "period_start": "2026-11-01",
                                                "limit": "60.00", "amount": "24.20", "total": "72.60"})],
        "N-d-28": [(AnomalyRule.LIMIT_AMOUNT, {"product": "diesel", "period": "week", "period_start": "2026-11-23",
                                               "limit": "700.00", "amount": "181.50", "total": "726.00"})],
        "N-d-29": [(AnomalyRule.PRODUCT_NOT_ALLOWED, {
            "product": "diesel", "reason": "blocked", "blocked_from": "2026-11-28T07:00:00+00:00",
            "blocked_until": "2026-11-29T23:00:00+00:00"})],
        "N-d-04": [(AnomalyRule.LIMIT_AMOUNT, {"product": "diesel", "period": "week", "period_start": "2026-11-30",
                                               "limit": "700.00", "amount": "181.50", "total": "726.00"})],
    }
    report = import_transactions(session, write(tmp_path, lines), clock.now(), batch_rows=100)
    assert report.fuel == len(lines) and _findings_by_tx(session) == expected
    assert report.product_blocks == 2


@pytest.mark.parametrize("batch_rows", [1, 2, 3])
def test_later_batches_see_the_sums_of_the_earlier_ones(session, fleet, clock, tmp_path, batch_rows):
    card = _limited_card(session, fleet, clock, max_per_day=2)
    lines = [
        fuel_line("B-1", card, "2026-11-30T08:00:00+01:00", quantity="200"),   # 363.00 (week from Monday 30)
        fuel_line("B-2", card, "2026-12-01T08:00:00+01:00", product="adblue", quantity="30", price="0.7000"),
        fuel_line("B-3", card, "2026-12-01T09:00:00+01:00", product="adblue", quantity="20", price="0.7000"),  # 50 l
        fuel_line("B-4", card, "2026-12-01T10:00:00+01:00", product="adblue", quantity="1", price="0.7000"),   # 3rd
        fuel_line("B-5", card, "2026-12-02T08:00:00+01:00", quantity="200"),   # 726.00 > 700
        fuel_line("B-6", card, "2026-12-02T09:00:00+01:00", product="adblue", quantity="0.5", price="0.7000"),
        fuel_line("B-7", card, "2026-11-30T12:00:00+01:00", product="adblue", quantity="60", price="0.7000"),  # Nov
    ]
    import_transactions(session, write(tmp_path, lines), clock.now(), batch_rows=batch_rows)
    found = {tx_id: [rule for rule, _details in items] for tx_id, items in _findings_by_tx(session).items()}
    assert found == {
        "B-4": [AnomalyRule.LIMIT_VOLUME, AnomalyRule.TOO_MANY_TRANSACTIONS],  # 51 l in December; 3 on the 1st
        "B-5": [AnomalyRule.LIMIT_AMOUNT],
        "B-6": [AnomalyRule.LIMIT_VOLUME],   # 51.5 l
        "B-7": [AnomalyRule.LIMIT_VOLUME],   # 60 l in November
    }
    details = {tx_id: items[0][1] for tx_id, items in _findings_by_tx(session).items()}
    # (Decimal: a sum of rows read back from the database has their 3 decimals, of rows of this batch not.)
    assert Decimal(details["B-6"]["total"]) == Decimal("51.5") and Decimal(details["B-7"]["total"]) == 60
    assert details["B-5"]["total"] == "726.00"


@pytest.mark.parametrize("batch_rows", [1, 4, 1000])
def test_the_import_judges_as_the_rules_on_the_whole_history(session, fleet, clock, tmp_path, batch_rows):
    """Random fills over two months (the end of summer time, week and month ends), in two files, some rows out
    of order: every finding is the one the rules give with the card's whole history in memory."""
    import random

    from store.issuer.anomaly_rules import CardHistory, Tx, check_transaction
    from store.issuer.transactions_import import CustomerZones, load_card_configs, parse_row, read_rows

    card = _limited_card(session, fleet, clock, max_per_day=3)
    rng = random.Random(batch_rows)
    start = datetime(2026, 10, 20, tzinfo=timezone.utc)
    lines = []
    for index in range(90):
        moment = start + timedelta(minutes=rng.randrange(0, 50 * 24 * 60))
        product = rng.choice(["diesel", "diesel", "adblue", "car wash"])
        quantity = {"diesel": str(rng.randint(20, 150)), "adblue": str(rng.randint(2, 25)), "car wash": "1"}[product]
        price = {"diesel": "1.5000", "adblue": "0.7000", "car wash": str(rng.randint(8, 25)) + ".0000"}[product]
        lines.append((moment, fuel_line(f"Q-{index}", card, moment.isoformat(), product=product, quantity=quantity,
                                        price=price)))
    lines.sort(key=lambda item: item[0])
    first = [line for _moment, line in lines[:45]]
    second = [line for _moment, line in lines[45:]]
    rng.shuffle(first)
    second.reverse()  # each row before the ones already judged: the history loaded for those does not cover it
    second[5:5] = first[-3:]  # already booked
    first, second = write(tmp_path, first, "one.csv"), write(tmp_path, second, "two.csv")
    import_transactions(session, first, clock.now(), batch_rows=batch_rows)
    import_transactions(session, second, clock.now(), batch_rows=batch_rows)

    _number, config = load_card_configs(session, CustomerZones(session), ids=[card.id])[card.id]
    history, seen, expected = CardHistory(), set(), {}
    for path in (first, second):
        parsed = [parse_row(line, index, values) for line, index, values in read_rows(path)]
        for offset in range(0, len(parsed), batch_rows):
            batch = [row for row in parsed[offset:offset + batch_rows] if row.issuer_transaction_id not in seen]
            seen.update(row.issuer_transaction_id for row in batch)
            for row in sorted(batch, key=lambda row: row.occurred_at):
                tx = Tx(row.occurred_at.astimezone(timezone.utc), row.product, row.amount_incl_vat, row.quantity,
                        row.country, row.odometer_km, row.driver_code, row.rank)
                findings = check_transaction(tx, config, history)
                history.record(tx, findings)
                if findings:
                    expected[row.issuer_transaction_id] = sorted(((f.rule, _numbers(f.details)) for f in findings),
                                                                 key=repr)
    assert len(expected) > 10  # the limits are met often enough to tell
    assert _findings_by_tx(session, numbers=True) == expected


def test_the_odometer_rule_reads_the_last_reading_booked_before(session, fleet, clock, tmp_path):
    truck = fleet.truck
    card = session.get(Card, truck.id)
    card.odometer_prompt = True
    session.add(card)
    session.commit()
    import_transactions(session, write(tmp_path, [
        fuel_line("O-1", truck, "2026-11-20T08:00:00+01:00", quantity="20", odometer="100000"),
        fuel_line("O-2", truck, "2026-11-20T09:00:00+01:00", quantity="20"),  # no reading
        fuel_line("O-3", truck, "2026-11-26T08:00:00+01:00", quantity="20", odometer="101000"),
    ], "one.csv"), clock.now(), alerts=False)
    import_transactions(session, write(tmp_path, [
        fuel_line("O-4", truck, "2026-11-23T08:00:00+01:00", quantity="20", odometer="99000"),  # below 20 Nov
        fuel_line("O-5", truck, "2026-11-24T08:00:00+01:00", quantity="20", odometer="99500"),  # after O-4: fine
        fuel_line("O-6", truck, "2026-11-26T09:00:00+01:00", quantity="20", odometer="100900"),  # below O-3
    ], "two.csv"), clock.now(), alerts=False)
    found = _findings_by_tx(session)
    assert sorted(found) == ["O-4", "O-6"]
    assert found["O-4"] == [(AnomalyRule.ODOMETER, {
        "reason": "lower than the previous reading", "odometer_km": 99000, "previous_km": 100000,
        "previous_at": "2026-11-20T07:00:00+00:00"})]
    assert found["O-6"][0][1]["previous_km"] == 101000
