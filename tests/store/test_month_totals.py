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
    from test_migrations import demo_at_revision

    from store.migrate import upgrade

    database, _counts = demo_at_revision(tmp_path, clock, "0005")  # no month totals table yet
    upgrade(database.engine)
    with Session(database.engine) as session:
        filled = totals(session)
        assert filled and filled == recomputed(session)
    database.dispose()


def test_the_migration_is_self_contained():
    """0006 fills the table with its own frozen SQL: it must not follow the application code as it changes."""
    import ast
    from pathlib import Path

    import store

    path = Path(store.__file__).parent / "migrations" / "versions" / "0006_card_month_total.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported and not [name for name in imported if name == "store" or name.startswith(("store.", "."))]


def test_the_migration_fills_the_totals_of_three_zones_as_a_rebuild_does(request, tmp_path):
    """Rows written at 0005 with plain SQL (no application code) for customers in Brussels, New York and an
    unknown zone (UTC for the reports), around month ends; after the upgrade the table equals
    rebuild_month_totals'."""
    import os
    import random

    from sqlalchemy import MetaData
    from sqlmodel import Session

    from store.db import make_engine
    from store.migrate import current_revision, upgrade

    # An empty database: PostgreSQL's is reset by the fixture; the SQLite fixture's copy is at head already.
    # The variable tests/conftest.py reads (not imported: in the whole suite `conftest` may be another one).
    url = (request.getfixturevalue("database_url") if os.environ.get("CARDSONLINE_TEST_DATABASE_URL")
           else f"sqlite:///{tmp_path / 'old.db'}")
    engine = make_engine(url)
    upgrade(engine, "0005")
    assert current_revision(engine) == "0005"
    sqlite = engine.dialect.name == "sqlite"
    meta = MetaData()
    meta.reflect(engine, only=["customer", "customer_number", "fleet_division", "card", "fuel_transaction",
                               "toll_transaction"])
    t = meta.tables
    rng = random.Random(6)
    counted: dict[tuple[int, date], tuple[int, int]] = {}

    def count(card_id: int, at: datetime, zone: str, kind: int) -> None:
        local = local_month(at.replace(tzinfo=timezone.utc), ZoneInfo("UTC" if zone.startswith("Mars") else zone))
        counted.setdefault((card_id, local), (0, 0))
        counted[(card_id, local)] = tuple(n + (i == kind) for i, n in enumerate(counted[(card_id, local)]))

    def moment(day: date) -> datetime:  # near the month's turn: the hours where the zones disagree
        at = datetime(day.year, day.month, day.day, rng.choice([0, 1, 3, 4, 5, 12, 20, 22, 23]), rng.randrange(60),
                      tzinfo=timezone.utc)
        return at.replace(tzinfo=None) if sqlite else at

    products = ["diesel", "diesel", "petrol 95", "lpg", "adblue", "car wash", "shop", "ev charging"]
    with engine.begin() as connection:
        for n, zone in enumerate(["Europe/Brussels", "America/New_York", "Mars/Olympus_Mons"], start=1):
            connection.execute(t["customer"].insert(), dict(id=n, name=f"Klant {n}", driver_code_prefix=f"{7000 + n}",
                                                            timezone=zone, language="nl", options=[]))
            connection.execute(t["customer_number"].insert(), dict(id=n, customer_id=n, number=f"40{n:05d}",
                                                                   name=f"Nummer {n}", card_sequence=0))
            connection.execute(t["fleet_division"].insert(), dict(id=n, customer_number_id=n, name="Alles", version=1))
            for k in range(2):
                card_id = n * 10 + k
                connection.execute(t["card"].insert(), dict(
                    id=card_id, customer_number_id=n, division_id=n, product_type="fleet card",
                    number=f"70060000000{card_id:05d}", rank=1, status="active", renewal_status="none",
                    cancelled_by_user=False, code_type="pin", odometer_prompt=True, allowed_weekdays=[],
                    forbidden_days=[], allowed_countries=[], technical_properties={}, version=1))
                odometer = 10_000
                for i in range(30):
                    day = rng.choice([date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 15), date(2026, 10, 31),
                                      date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 1)])
                    product = rng.choice(products)
                    quantity = D(rng.randrange(1, 80))
                    excl = (quantity * D("1.6")).quantize(D("0.01"))
                    odometer += rng.randrange(0, 400)
                    at = moment(day)
                    count(card_id, at, zone, 0)
                    connection.execute(t["fuel_transaction"].insert(), dict(
                        issuer_transaction_id=f"F-{card_id}-{i}", card_id=card_id, rank=1, occurred_at=at,
                        station="Q8", city="Gent", country="BE", product=product, quantity=quantity,
                        unit_price=D("1.6"), amount_excl_vat=excl, vat_rate=D("21"),
                        amount_incl_vat=(excl * D("1.21")).quantize(D("0.01")),
                        odometer_km=odometer if rng.random() < 0.7 else None))
                for i in range(6):
                    at = moment(rng.choice([date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 30)]))
                    count(card_id, at, zone, 1)
                    connection.execute(t["toll_transaction"].insert(), dict(
                        issuer_transaction_id=f"T-{card_id}-{i}", card_id=card_id, operator="Viapass", country="BE",
                        entry_point="A", exit_point="B", entry_at=at, exit_at=at, vehicle_class="2",
                        amount_excl_vat=D("4.20"), vat_rate=D("0"), amount_incl_vat=D("4.20")))
    upgrade(engine)
    with Session(engine) as session:
        filled = totals(session)
        assert len(filled) >= 18  # 6 cards, each in 3 months or more
        assert filled == recomputed(session)
        # Counted here in each card's zone (the unknown one as UTC): the rows sit in the right months.
        assert {key: (line["fuel_count"], line["toll_count"]) for key, line in filled.items()} == dict(counted)
    engine.dispose()
