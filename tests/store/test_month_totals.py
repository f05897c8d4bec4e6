"""Per-card month totals (store.issuer.month_totals) kept by the issuer import: after an import in several
batches, a re-import and across a month boundary of the customer's time zone (Europe/Brussels) they equal the
totals recomputed from the transaction rows, and the figures counted by hand."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import select
from test_transactions_import import fleet, fuel_line, toll_line, write  # noqa: F401 - `fleet` is a fixture

from store.issuer.month_totals import local_month, rebuild_month_totals
from store.issuer.transactions_import import import_transactions
from store.models import CardMonthTotal

D = Decimal
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
VOLUME = ("fuel_litres", "cons_litres", "km_litres", "low_litres")
MONEY = ("fuel_excl", "fuel_incl", "toll_excl", "toll_incl", "cons_cost", "km_cost", "low_cost")


def totals(session) -> dict[tuple[int, date], dict]:
    """The table, numbers normalised (SQLite keeps NUMERIC as floating point)."""
    session.expire_all()
    found = {}
    for row in session.exec(select(CardMonthTotal)).all():
        values = row.model_dump()
        for name in VOLUME:
            values[name] = D(str(values[name])).quantize(D("0.001"))
        for name in MONEY:
            values[name] = D(str(values[name])).quantize(D("0.01"))
        found[(row.card_id, row.month)] = values
    return found


def recomputed(session) -> dict[tuple[int, date], dict]:
    """The totals recomputed from the transaction rows (rolled back afterwards)."""
    savepoint = session.begin_nested()
    rebuild_month_totals(session.connection())
    found = totals(session)
    savepoint.rollback()
    return found


# The truck's fills: one at 23:59 on 31 October in Brussels (October), one at 00:30 on 1 November (31 October in
# UTC: November); November's lowest reading comes in a later batch than its first one, and is met again later.
def lines(f):
    truck, obu = f.truck, f.obu
    return [
        fuel_line("F-1", truck, "2026-10-31T23:59:00+01:00", quantity="40", odometer="118000"),
        fuel_line("F-2", truck, "2026-11-01T00:30:00+01:00", quantity="30", odometer="120000"),
        fuel_line("F-3", truck, "2026-11-05T08:00:00+01:00", product="adblue", quantity="10", price="0.7000"),
        fuel_line("F-4", truck, "2026-11-06T08:00:00+01:00", quantity="50", odometer="119500"),
        fuel_line("F-5", truck, "2026-11-07T08:00:00+01:00", product="car wash", quantity="1", price="12.0000"),
        fuel_line("F-6", truck, "2026-11-08T08:00:00+01:00", quantity="20", odometer="119500"),
        fuel_line("F-7", truck, "2026-11-09T08:00:00+01:00", quantity="25", odometer="121000"),
        fuel_line("F-8", truck, "2026-11-10T08:00:00+01:00", quantity="10"),
        toll_line("P-1", obu, "2026-11-01T00:10:00+01:00", "2026-10-31T23:40:00+01:00", amount="4.20"),
        toll_line("P-2", obu, "2026-10-31T22:00:00+01:00", "2026-10-31T21:30:00+01:00", amount="3.10"),
    ]


def test_an_import_in_batches_keeps_the_totals_of_the_rows(session, fleet, clock, tmp_path):  # noqa: F811
    report = import_transactions(session, write(tmp_path, lines(fleet)), clock.now(), batch_rows=2, alerts=False)
    assert (report.fuel, report.toll, report.rejected) == (8, 2, 0)
    found = totals(session)
    assert found == recomputed(session)
    assert set(found) == {(fleet.truck.id, OCT), (fleet.truck.id, NOV), (fleet.obu.id, OCT), (fleet.obu.id, NOV)}
    october, november = found[(fleet.truck.id, OCT)], found[(fleet.truck.id, NOV)]
    assert (october["fuel_count"], october["cons_litres"], october["km_min"], october["km_max"]) == (
        1, D("40.000"), 118000, 118000)
    # November: F-2 … F-8; litres of fuels and AdBlue; consumption leaves AdBlue and the car wash out.
    assert (november["fuel_count"], november["fuel_litres"], november["cons_count"], november["cons_litres"]) == (
        7, D("145.000"), 5, D("135.000"))
    assert (november["km_min"], november["km_max"], november["km_litres"], november["low_litres"]) == (
        119500, 121000, D("125.000"), D("70.000"))  # measured: 125 - 70 = F-2's 30 l and F-7's 25 l
    assert (november["km_cost"] - november["low_cost"]) == D("82.50")  # (30 + 25) × 1.50
    assert found[(fleet.obu.id, NOV)]["toll_excl"] == D("4.20") and found[(fleet.obu.id, OCT)]["toll_count"] == 1
    assert found[(fleet.obu.id, NOV)]["fuel_count"] == 0 and found[(fleet.obu.id, NOV)]["km_min"] is None


def test_a_reimport_adds_only_the_new_rows(session, fleet, clock, tmp_path):  # noqa: F811
    first = lines(fleet)
    import_transactions(session, write(tmp_path, first), clock.now(), batch_rows=3, alerts=False)
    before = totals(session)
    again = import_transactions(session, write(tmp_path, first), clock.now(), batch_rows=3, alerts=False)
    assert (again.fuel, again.toll, again.already_there) == (0, 0, 10)
    assert totals(session) == before
    # The same file with two rows more (a lower November reading, and a fill in October): only they are added.
    more = first + [fuel_line("F-9", fleet.truck, "2026-11-12T08:00:00+01:00", quantity="15", odometer="119000"),
                    fuel_line("F-10", fleet.truck, "2026-10-20T08:00:00+02:00", quantity="5")]
    third = import_transactions(session, write(tmp_path, more, name="more.csv"), clock.now(), batch_rows=4,
                                alerts=False)
    assert (third.fuel, third.already_there) == (2, 10)
    found = totals(session)
    assert found == recomputed(session)
    november = found[(fleet.truck.id, NOV)]
    assert (november["km_min"], november["low_litres"], november["km_litres"]) == (119000, D("15.000"), D("140.000"))
    assert found[(fleet.truck.id, OCT)]["fuel_count"] == before[(fleet.truck.id, OCT)]["fuel_count"] + 1


def test_the_month_is_the_customers():
    brussels = ZoneInfo("Europe/Brussels")
    assert local_month(datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc), brussels) == NOV
    assert local_month(datetime(2026, 10, 31, 22, 59, tzinfo=timezone.utc), brussels) == OCT
    assert local_month(datetime(2026, 3, 31, 22, 30, tzinfo=timezone.utc), brussels) == date(2026, 4, 1)  # summer
    assert local_month(datetime(2026, 10, 31, 23, 30), ZoneInfo("UTC")) == OCT


def test_cli_rebuilds_the_totals_from_the_rows(db, session, fleet, clock, tmp_path):  # noqa: F811
    from click.testing import CliRunner

    from tui.cli import main

    import_transactions(session, write(tmp_path, lines(fleet)), clock.now(), alerts=False)
    expected = totals(session)
    session.exec(CardMonthTotal.__table__.delete())
    session.commit()
    assert totals(session) == {}
    result = CliRunner().invoke(main, ["db", "rebuild-month-totals", "--database-url", db.url])
    assert result.exit_code == 0, result.output
    assert totals(session) == expected
    assert "4 card months recomputed" in result.output


def test_the_migration_fills_the_totals_of_the_rows_already_there(tmp_path, clock):
    from sqlmodel import Session

    from store.db import Database
    from store.demo import build_demo
    from store.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'old.db'}", clock=clock)
    upgrade(database.engine, "0005")
    build_demo(database, cards=10)  # no month totals table yet
    upgrade(database.engine)
    with Session(database.engine) as session:
        filled = totals(session)
        assert filled and filled == recomputed(session)
    database.dispose()
