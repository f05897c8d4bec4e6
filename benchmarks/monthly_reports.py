"""Monthly reports at scale: each report's store query against the same aggregate written as one plain SQL
query, on the same database, alternately, each measurement in a fresh session; the median ratio per report.

Goal (issue 8): at most 1.5×, and the screen's first rows in under a second (the first page of a per-card
view, or the whole report where it does not page, is printed as "first rows").

    .venv/bin/python benchmarks/monthly_reports.py [--database FILE.db | --database-url URL] [--cards 1500]
                                                   [--months 6] [--runs 7] [--multiply 32]

The store side reads every card (iter_followup_cards / iter_consumption_cards walk all keyset pages), so both
sides produce the full report. The plain SQL computes the same aggregate from the transaction tables, with the
same month boundaries (the customer's months, computed in Python) and CASE bucketing: "plain SQL" and "ratio".
The reports read the per-card month totals (card_month_total, kept at import), so the same aggregate is also
written as one plain SQL query over that table: "on totals" and "ratio t." (the store's own overhead).

Without a database a demo is built in a temporary folder (the demo gives transactions to its first 1,500
cards, six months of them); budgets for every division and month and for 200 cards are added when the
database has none. `--multiply K` copies the transactions K times onto the
following cards, for the issue's scale: a 100,000-card demo with --multiply 32 holds about 2,000,000 (the month
totals are then recomputed, as `cardsonline db rebuild-month-totals` does).

Issue 8's scale, as measured for it (the first run builds the database, about 2 minutes plus the copies):

    .venv/bin/python benchmarks/monthly_reports.py --database /tmp/rep8/reports.db --cards 100000 --months 6 \
        --runs 7 --multiply 32
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 1.5
FIRST_ROWS_GOAL = 1.0


def ensure_database(url: str, cards: int):
    from sqlmodel import func, select

    from store.db import Database
    from store.demo import build_demo
    from store.migrate import upgrade
    from store.models import Card

    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        have = session.exec(select(func.count()).select_from(Card)).one()
    if not have:
        print(f"Building a {cards:,}-card demo at {url} …", flush=True)
        started = time.perf_counter()
        build_demo(db, cards=cards, force=True)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return db


FUEL_COLUMNS = ("rank, occurred_at, station, city, country, product, quantity, unit_price, amount_excl_vat, vat_rate, "
                "amount_incl_vat, odometer_km, driver_code")
TOLL_COLUMNS = ("operator, country, entry_point, exit_point, entry_at, exit_at, vehicle_class, amount_excl_vat, vat_rate, "
                "amount_incl_vat")


def multiply_transactions(db, copies: int) -> None:
    """Copy the demo's transactions `copies` times onto the next cards (card id + k × the cards that have
    transactions), so the database reaches the issue's scale (2,000,000 transactions) without a simulator."""
    from sqlalchemy import text

    with db.engine.begin() as connection:
        done = connection.execute(text("SELECT count(*) FROM fuel_transaction WHERE issuer_transaction_id "
                                       "LIKE '%-x%'")).scalar_one()
        if done:
            return
        span = connection.execute(text("SELECT max(card_id) FROM fuel_transaction")).scalar_one()
        cards = connection.execute(text("SELECT max(id) FROM card")).scalar_one()
        top = connection.execute(text("SELECT max(id) FROM fuel_transaction")).scalar_one()
        top_toll = connection.execute(text("SELECT max(id) FROM toll_transaction")).scalar_one()
        print(f"Copying the transactions {copies} times onto further cards …", flush=True)
        for k in range(1, copies + 1):
            if span * (k + 1) > cards:
                print(f"  only {k - 1} copies: not enough cards", flush=True)
                break
            connection.execute(text(
                f"INSERT INTO fuel_transaction (issuer_transaction_id, card_id, {FUEL_COLUMNS}) "
                f"SELECT issuer_transaction_id || '-x{k}', card_id + {k * span}, {FUEL_COLUMNS} "
                f"FROM fuel_transaction WHERE id <= {top}"))
            connection.execute(text(
                f"INSERT INTO toll_transaction (issuer_transaction_id, card_id, {TOLL_COLUMNS}) "
                f"SELECT issuer_transaction_id || '-x{k}', card_id + {k * span}, {TOLL_COLUMNS} "
                f"FROM toll_transaction WHERE id <= {top_toll}"))
        from store.issuer.month_totals import rebuild_month_totals

        started = time.perf_counter()
        rebuild_month_totals(connection)  # rows copied directly: the reports read the month totals
        print(f"  month totals recomputed in {time.perf_counter() - started:.0f} s", flush=True)
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")


def ensure_budgets(db, number_id: int, period) -> None:
    from sqlmodel import func, select

    from store.models import Budget, Card, FleetDivision

    with db.session() as session:
        if session.exec(select(func.count()).select_from(Budget)).one():
            return
        divisions = session.exec(select(FleetDivision.id).where(FleetDivision.customer_number_id == number_id)).all()
        cards = session.exec(select(Card.id).where(Card.customer_number_id == number_id).order_by(Card.id)
                             .limit(200)).all()
        for month in period.months:
            session.add_all(Budget(customer_number_id=number_id, division_id=d, month=month, amount=Decimal(20000))
                            for d in divisions)
            session.add_all(Budget(customer_number_id=number_id, card_id=c, month=month, amount=Decimal(900))
                            for c in cards)
        session.commit()


def context(db):
    from sqlmodel import select

    from store.models import User
    from store.services.context import actor_for

    with db.session() as session:
        actor = actor_for(session, session.exec(select(User).where(User.username == "fleetadmin")).one())
    return actor, actor.customer_number_ids[0]


def bucket_sql(column: str, count: int) -> str:
    if count == 1:
        return "0"
    whens = " ".join(f"WHEN {column} < :b{i + 1} THEN {i}" for i in range(count - 1))
    return f"CASE {whens} ELSE {count - 1} END"


def plain_queries(months: int, litre_products, consumption_products) -> dict[str, str]:
    """The reports as one plain SQL text each (bind :number, :b0 … :bN, and the product lists inline)."""
    litres = ", ".join(f"'{p.value}'" for p in litre_products)
    fuels = ", ".join(f"'{p.value}'" for p in consumption_products)
    period_f = f"f.occurred_at >= :b0 AND f.occurred_at < :b{months}"
    period_t = f"t.exit_at >= :b0 AND t.exit_at < :b{months}"
    per_card_month = f"""
        SELECT card_id, m, sum(q) AS litres, sum(excl) AS cost, max(km) - min(km) AS distance,
               sum(CASE WHEN km > first_km THEN q ELSE 0 END) AS measured_litres,
               sum(CASE WHEN km > first_km THEN excl ELSE 0 END) AS measured_cost
        FROM (SELECT f.card_id, {bucket_sql('f.occurred_at', months)} AS m, f.quantity AS q,
                     f.amount_excl_vat AS excl, f.odometer_km AS km,
                     min(f.odometer_km) OVER (PARTITION BY f.card_id, {bucket_sql('f.occurred_at', months)}) AS first_km
              FROM fuel_transaction f JOIN card c ON c.id = f.card_id
              WHERE c.customer_number_id = :number AND {period_f} AND f.product IN ({fuels})) lines
        GROUP BY card_id, m"""
    return {
        "follow-up, months": f"""
            SELECT kind, m, count(*), sum(litres), sum(excl), sum(incl) FROM (
              SELECT 'fuel' AS kind, {bucket_sql('f.occurred_at', months)} AS m,
                     CASE WHEN f.product IN ({litres}) THEN f.quantity ELSE 0 END AS litres,
                     f.amount_excl_vat AS excl, f.amount_incl_vat AS incl
              FROM fuel_transaction f JOIN card c ON c.id = f.card_id
              WHERE c.customer_number_id = :number AND {period_f}
              UNION ALL
              SELECT 'toll', {bucket_sql('t.exit_at', months)}, 0, t.amount_excl_vat, t.amount_incl_vat
              FROM toll_transaction t JOIN card c ON c.id = t.card_id
              WHERE c.customer_number_id = :number AND {period_t}) x
            GROUP BY kind, m""",
        "follow-up, every card": f"""
            SELECT c.id, c.number, c.license_plate, d.name, x.kind, x.m, count(*), sum(x.litres), sum(x.excl),
                   sum(x.incl)
            FROM (SELECT f.card_id, 'fuel' AS kind, {bucket_sql('f.occurred_at', months)} AS m,
                         CASE WHEN f.product IN ({litres}) THEN f.quantity ELSE 0 END AS litres,
                         f.amount_excl_vat AS excl, f.amount_incl_vat AS incl
                  FROM fuel_transaction f WHERE {period_f}
                  UNION ALL
                  SELECT t.card_id, 'toll', {bucket_sql('t.exit_at', months)}, 0, t.amount_excl_vat, t.amount_incl_vat
                  FROM toll_transaction t WHERE {period_t}) x
            JOIN card c ON c.id = x.card_id JOIN fleet_division d ON d.id = c.division_id
            WHERE c.customer_number_id = :number
            GROUP BY c.id, c.number, c.license_plate, d.name, x.kind, x.m
            ORDER BY coalesce(c.number, ''), c.id""",
        "consumption, every card": f"""
            SELECT c.id, c.number, c.license_plate, d.name, c.vehicle_type, p.m, p.litres, p.cost, p.distance,
                   p.measured_litres, p.measured_cost
            FROM ({per_card_month}) p JOIN card c ON c.id = p.card_id JOIN fleet_division d ON d.id = c.division_id
            ORDER BY coalesce(c.number, ''), c.id""",
        "consumption, divisions": f"""
            SELECT d.id, d.name, p.m, sum(p.litres), sum(p.cost), sum(p.distance), sum(p.measured_litres),
                   sum(p.measured_cost), count(DISTINCT p.card_id)
            FROM ({per_card_month}) p JOIN card c ON c.id = p.card_id JOIN fleet_division d ON d.id = c.division_id
            GROUP BY d.id, d.name, p.m""",
        "consumption, vehicle types": f"""
            SELECT c.vehicle_type, p.m, sum(p.litres), sum(p.cost), sum(p.distance), sum(p.measured_litres),
                   sum(p.measured_cost), count(DISTINCT p.card_id)
            FROM ({per_card_month}) p JOIN card c ON c.id = p.card_id
            GROUP BY c.vehicle_type, p.m""",
        "budget": f"""
            SELECT 'division', c.division_id, x.m, sum(x.excl) FROM (
              SELECT f.card_id, {bucket_sql('f.occurred_at', months)} AS m, f.amount_excl_vat AS excl
              FROM fuel_transaction f WHERE {period_f}
              UNION ALL
              SELECT t.card_id, {bucket_sql('t.exit_at', months)}, t.amount_excl_vat
              FROM toll_transaction t WHERE {period_t}) x
            JOIN card c ON c.id = x.card_id WHERE c.customer_number_id = :number
            GROUP BY c.division_id, x.m
            UNION ALL
            SELECT 'card', x.card_id, x.m, sum(x.excl) FROM (
              SELECT f.card_id, {bucket_sql('f.occurred_at', months)} AS m, f.amount_excl_vat AS excl
              FROM fuel_transaction f WHERE {period_f}
              UNION ALL
              SELECT t.card_id, {bucket_sql('t.exit_at', months)}, t.amount_excl_vat
              FROM toll_transaction t WHERE {period_t}) x
            WHERE x.card_id IN (SELECT card_id FROM budget WHERE customer_number_id = :number
                                AND card_id IS NOT NULL AND month >= :first AND month <= :last)
            GROUP BY x.card_id, x.m
            UNION ALL
            SELECT 'budget', coalesce(card_id, division_id), 0, sum(amount) FROM budget
            WHERE customer_number_id = :number AND month >= :first AND month <= :last
            GROUP BY coalesce(card_id, division_id)""",
    }


def totals_queries() -> dict[str, str]:
    """The same reports as one plain SQL text each over the per-card month totals (bind :number, :first, :last)."""
    of_number = ("FROM card_month_total t JOIN card c ON c.id = t.card_id "
                 "WHERE c.customer_number_id = :number AND t.month >= :first AND t.month <= :last")
    consumption = ("sum(t.cons_litres), sum(t.cons_cost), sum(t.km_max - t.km_min), sum(t.km_litres - t.low_litres), "
                   "sum(t.km_cost - t.low_cost), count(DISTINCT t.card_id)")
    return {
        "follow-up, months": f"""
            SELECT t.month, sum(t.fuel_count), sum(t.fuel_litres), sum(t.fuel_excl), sum(t.fuel_incl),
                   sum(t.toll_count), sum(t.toll_excl), sum(t.toll_incl)
            {of_number} GROUP BY t.month""",
        "follow-up, every card": f"""
            SELECT c.id, c.number, c.license_plate, d.name, t.month, t.fuel_count, t.fuel_litres, t.fuel_excl,
                   t.fuel_incl, t.toll_count, t.toll_excl, t.toll_incl
            FROM card_month_total t JOIN card c ON c.id = t.card_id JOIN fleet_division d ON d.id = c.division_id
            WHERE c.customer_number_id = :number AND t.month >= :first AND t.month <= :last
            ORDER BY coalesce(c.number, ''), c.id""",
        "consumption, every card": f"""
            SELECT c.id, c.number, c.license_plate, d.name, c.vehicle_type, t.month, t.cons_litres, t.cons_cost,
                   t.km_max - t.km_min, t.km_litres - t.low_litres, t.km_cost - t.low_cost
            FROM card_month_total t JOIN card c ON c.id = t.card_id JOIN fleet_division d ON d.id = c.division_id
            WHERE c.customer_number_id = :number AND t.month >= :first AND t.month <= :last AND t.cons_count > 0
            ORDER BY coalesce(c.number, ''), c.id""",
        "consumption, divisions": f"""
            SELECT d.id, d.name, t.month, {consumption}
            FROM card_month_total t JOIN card c ON c.id = t.card_id JOIN fleet_division d ON d.id = c.division_id
            WHERE c.customer_number_id = :number AND t.month >= :first AND t.month <= :last AND t.cons_count > 0
            GROUP BY d.id, d.name, t.month""",
        "consumption, vehicle types": f"""
            SELECT c.vehicle_type, t.month, {consumption}
            {of_number} AND t.cons_count > 0 GROUP BY c.vehicle_type, t.month""",
        "budget": f"""
            SELECT 'division', c.division_id, t.month, sum(t.fuel_excl + t.toll_excl) {of_number}
            GROUP BY c.division_id, t.month
            UNION ALL
            SELECT 'card', t.card_id, t.month, sum(t.fuel_excl + t.toll_excl) FROM card_month_total t
            WHERE t.month >= :first AND t.month <= :last
              AND t.card_id IN (SELECT card_id FROM budget WHERE customer_number_id = :number
                                AND card_id IS NOT NULL AND month >= :first AND month <= :last)
            GROUP BY t.card_id, t.month
            UNION ALL
            SELECT 'budget', coalesce(card_id, division_id), 0, sum(amount) FROM budget
            WHERE customer_number_id = :number AND month >= :first AND month <= :last
            GROUP BY coalesce(card_id, division_id)""",
    }


def store_calls(actor, number_id, period) -> dict:
    from store.queries import reports

    return {
        "follow-up, months": lambda s: reports.followup_months(s, actor, number_id, period),
        "follow-up, every card": lambda s: list(reports.iter_followup_cards(s, actor, number_id, period)),
        "consumption, every card": lambda s: list(reports.iter_consumption_cards(s, actor, number_id, period)),
        "consumption, divisions": lambda s: reports.consumption_groups(s, actor, number_id, period, by="division"),
        "consumption, vehicle types": lambda s: reports.consumption_groups(s, actor, number_id, period,
                                                                           by="vehicle_type"),
        "budget": lambda s: reports.budget_followup(s, actor, number_id, period),
    }


def first_rows_calls(actor, number_id, period) -> dict:
    from store.queries import reports

    return {
        "follow-up, months": lambda s: reports.followup_months(s, actor, number_id, period),
        "follow-up, every card": lambda s: reports.followup_cards(s, actor, number_id, period, limit=50),
        "consumption, every card": lambda s: reports.consumption_cards(s, actor, number_id, period, limit=50),
        "consumption, divisions": lambda s: reports.consumption_groups(s, actor, number_id, period, by="division"),
        "consumption, vehicle types": lambda s: reports.consumption_groups(s, actor, number_id, period,
                                                                           by="vehicle_type"),
        "budget": lambda s: reports.budget_followup(s, actor, number_id, period),
    }


def timed(db, call) -> float:
    with db.session() as session:
        started = time.perf_counter()
        call(session)
        return time.perf_counter() - started


def timed_cpu(db, call) -> tuple[float, float]:
    """Wall and this process's CPU time (on a shared machine the wall time also holds the waits for a core)."""
    with db.session() as session:
        started, cpu = time.perf_counter(), time.process_time()
        call(session)
        return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, help="SQLite file (a demo is built in it when it has no cards)")
    parser.add_argument("--database-url", help="or any SQLAlchemy URL (e.g. PostgreSQL)")
    parser.add_argument("--cards", type=int, default=1500, help="cards of the demo built when there is none")
    parser.add_argument("--months", type=int, default=6, help="months in the report period, up to today's")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--multiply", type=int, default=0,
                        help="copy the transactions this many times onto further cards first (e.g. 32: ~2,000,000)")
    args = parser.parse_args()

    from sqlalchemy import text

    from store.queries.reports import (
        CONSUMPTION_PRODUCTS,
        LITRE_PRODUCTS,
        MonthRange,
        month_bounds,
        number_zone,
    )
    from store.models import CustomerNumber

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{args.database or Path(folder) / 'reports.db'}"
        db = ensure_database(url, args.cards)
        if args.multiply:
            multiply_transactions(db, args.multiply)
        actor, number_id = context(db)
        today = db.clock.now().date()
        period = MonthRange.last_months(today, args.months)
        ensure_budgets(db, number_id, period)
        with db.session() as session:
            zone = number_zone(session, session.get(CustomerNumber, number_id))
            fuel = session.execute(text("SELECT count(*) FROM fuel_transaction")).scalar_one()
            toll = session.execute(text("SELECT count(*) FROM toll_transaction")).scalar_one()
            cards = session.execute(text("SELECT count(*) FROM card")).scalar_one()
        sqlite = db.engine.dialect.name == "sqlite"
        bounds = month_bounds(period, zone)
        params = {f"b{i}": (b.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else b)
                  for i, b in enumerate(bounds)}
        params.update(number=number_id, first=period.first, last=period.last)
        plain = plain_queries(len(period.months), LITRE_PRODUCTS, CONSUMPTION_PRODUCTS)
        on_totals = totals_queries()
        store = store_calls(actor, number_id, period)
        first = first_rows_calls(actor, number_id, period)
        print(f"{db.engine.dialect.name}: {cards:,} cards, {fuel:,} fuel and {toll:,} toll transactions; "
              f"period {period.label()} ({len(period.months)} months); {args.runs} runs, medians\n")
        print(f"{'report':<28}{'store':>9}{'plain SQL':>11}{'ratio':>8}{'on totals':>11}{'ratio t.':>10}"
              f"{'first rows':>12}{'(cpu)':>8}")
        ratios, totals_ratios, firsts = [], [], []
        for name in plain:
            store_times, plain_times, totals_times, first_times, first_cpu = [], [], [], [], []
            for run in range(args.runs + 1):  # the first run warms the caches and is not counted
                s = timed(db, store[name])
                p = timed(db, lambda session: session.execute(text(plain[name]), params).all())
                t = timed(db, lambda session: session.execute(text(on_totals[name]), params).all())
                f, c = timed_cpu(db, first[name])
                if run:
                    store_times.append(s), plain_times.append(p), totals_times.append(t), first_times.append(f)
                    first_cpu.append(c)
            s, p, t, f = (statistics.median(times) for times in (store_times, plain_times, totals_times, first_times))
            ratios.append(s / p), totals_ratios.append(s / t), firsts.append(f)
            print(f"{name:<28}{s * 1000:>7.0f}ms{p * 1000:>9.0f}ms{s / p:>7.2f}×{t * 1000:>9.0f}ms{s / t:>9.2f}×"
                  f"{f * 1000:>10.0f}ms{statistics.median(first_cpu) * 1000:>6.0f}ms")
        worst, worst_t, slowest = max(ratios), max(totals_ratios), max(firsts)
        print(f"\nworst ratio {worst:.2f}× against the plain SQL on the transactions (goal ≤ {RATIO_GOAL}×): "
              f"{'met' if worst <= RATIO_GOAL else 'NOT met'}; {worst_t:.2f}× against the plain SQL on the month "
              f"totals (the store's own overhead: paging, Python objects)")
        print(f"slowest first rows {slowest * 1000:.0f} ms (goal < {FIRST_ROWS_GOAL:.0f} s): "
              f"{'met' if slowest < FIRST_ROWS_GOAL else 'NOT met'}")
        db.dispose()


if __name__ == "__main__":
    main()
