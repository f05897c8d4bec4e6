"""The issuer's transaction file in, with the anomaly checks, against a baseline of a plain executemany insert
of the same rows into the same tables (issue 8).

Goal (issue 8): on a database with 100,000 cards and 2,000,000 transactions, the import's throughput (rows per
second) is at least one third of the baseline's.

The database (built once, then reused: `--folder`, default the temp folder)
--------------------------------------------------------------------------
1. `demo-{cards}.db`: the demo (store.demo.build_demo) with `--cards` cards.
2. `history-{cards}-{history_days}d-{days}d.db`: a copy of it holding the simulator's traffic
   (store.issuer.simulate, seed `--seed + 1`) of `--history-days` days that end where the file's days begin,
   about 2,000,000 transactions for 100,000 cards and 72 days (60 days: 1.7 million). **Fast path**: these history rows are inserted
   with a plain executemany (50,000 rows a commit), not through the import: no anomaly rules, so the
   history has no anomalies and no product blocks, and `card.last_used_at` stays the demo's; the per-card
   month totals are recomputed from the transactions afterwards (as the demo does). What the timed
   import meets is what matters: the transaction tables at their size with all their indexes (the unique
   issuer id, card, time, (card, time)), and for every card its period sums and odometer readings since the
   month began. `ANALYZE` is not run (the application does not run it either).

The file: the simulator's traffic (seed `--seed`) for the demo's active cards over the `--days` days before
`now` (right after the history, so odometers go on from the history's readings), at most `--rows` rows,
written once as CSV (fuel and toll rows, `;`-separated). Two shapes:
- daily (`--days 1`): the issuer's daily file: each card that drove that day has 1-3 rows (about 1.3 on
  average), so the per-card cost (its configuration, period sums, last odometer, blocks, `last_used_at`)
  is paid for very few rows;
- bulk (`--days 20` or more): several weeks in one file, many rows per card.
The output says how many rows and cards the file has.

Each run is a fresh process on a fresh copy of the history database, import and baseline alternating:
- import: `import_transactions(session, file, now)` from opening the file to the last commit: reading and
  parsing the CSV, finding the rows already there, loading the cards and their history, the rules, inserting
  transactions, anomalies and product blocks, `last_used_at`, the alert digests;
- baseline: the same rows, already parsed into the tables' column values in memory (not timed), inserted with
  `connection.execute(insert(table), rows)` in batches of the same size, one commit per batch.
The medians of `--runs` runs of each are compared (wall-clock throughput, the goal's; the same on the
process's CPU time is printed too, as a check when other work shares the machine). Peak RSS of each child comes from os.wait4: the import
streams, so its memory does not grow with the file. `--profile FILE` runs one more import under cProfile.

    .venv/bin/python benchmarks/import_transactions.py --folder /tmp/imp8 --cards 100000 --history-days 72 \
        --days 1 --runs 5                                  # the daily file on 100k cards and ~2M transactions
    .venv/bin/python benchmarks/import_transactions.py --folder /tmp/imp8 --cards 100000 --history-days 72 \
        --days 20 --rows 150000 --runs 3                                 # the bulk case on the same
    .venv/bin/python benchmarks/import_transactions.py --cards 3000 --history-days 30 --days 1 --runs 1  # quick
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO_GOAL = 1 / 3
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)  # the demo's clock
COLUMNS = ("kind", "issuer_transaction_id", "card_number", "rank", "occurred_at", "entry_at", "station", "city",
           "country", "product", "quantity", "unit_price", "amount_excl_vat", "vat_rate", "amount_incl_vat",
           "odometer_km", "driver_code", "operator", "entry_point", "exit_point", "vehicle_class")

CHILD = r"""
import json, sys, time
from datetime import datetime
from pathlib import Path
from sqlalchemy import insert, select
from store.db import Database
from store.issuer.transactions_import import BATCH_ROWS, import_transactions, parse_row, read_rows
from store.models import Card, FuelTransaction, TollTransaction

mode, url, path, now = sys.argv[1], sys.argv[2], Path(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
profile = sys.argv[5] if len(sys.argv) > 5 else ""
db = Database(url)
with db.session() as session:
    if mode == "import":
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        start, cpu = time.perf_counter(), time.process_time()
        report = import_transactions(session, path, now)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profile:
            profiler.disable()
            profiler.dump_stats(profile)
        rows, extra = report.imported, {"anomalies": report.anomalies, "rejected": report.rejected,
                                        "blocks": report.product_blocks, "mails": report.alert_mails}
    else:
        cards = dict(session.execute(select(Card.number, Card.id).where(Card.number.is_not(None))).all())
        fuel, toll = [], []
        for line, index, values in read_rows(path):  # not timed: the rows as the tables take them
            r = parse_row(line, index, values)
            if r.toll:
                toll.append(dict(issuer_transaction_id=r.issuer_transaction_id, card_id=cards[r.card_number],
                                 operator=r.operator, country=r.country, entry_point=r.entry_point,
                                 exit_point=r.exit_point, entry_at=r.entry_at, exit_at=r.occurred_at,
                                 vehicle_class=r.vehicle_class, amount_excl_vat=r.amount_excl_vat,
                                 vat_rate=r.vat_rate, amount_incl_vat=r.amount_incl_vat, invoice_id=None))
            else:
                fuel.append(dict(issuer_transaction_id=r.issuer_transaction_id, card_id=cards[r.card_number],
                                 rank=r.rank, occurred_at=r.occurred_at, station=r.station, city=r.city,
                                 country=r.country, product=r.product, quantity=r.quantity, unit_price=r.unit_price,
                                 amount_excl_vat=r.amount_excl_vat, vat_rate=r.vat_rate,
                                 amount_incl_vat=r.amount_incl_vat, odometer_km=r.odometer_km,
                                 driver_code=r.driver_code, invoice_id=None))
        session.commit()
        start, cpu = time.perf_counter(), time.process_time()
        for table, rows in ((FuelTransaction.__table__, fuel), (TollTransaction.__table__, toll)):
            for first in range(0, len(rows), BATCH_ROWS):
                session.connection().execute(insert(table), rows[first:first + BATCH_ROWS])
                session.commit()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows, extra = len(fuel) + len(toll), {}
print(json.dumps({"seconds": elapsed, "cpu": cpu, "rows": rows, **extra}))
"""


def ensure_demo(path: Path, cards: int) -> None:
    from sqlmodel import func, select

    from store.db import Database, FixedClock
    from store.demo import build_demo
    from store.migrate import upgrade
    from store.models import Card

    db = Database(f"sqlite:///{path}", clock=FixedClock(NOW))
    upgrade(db.engine)
    with db.session() as session:
        have = session.exec(select(func.count()).select_from(Card)).one()
    if have < cards:
        print(f"Building a {cards:,}-card demo at {path} …", flush=True)
        started = time.perf_counter()
        build_demo(db, cards=cards, force=True)
        print(f"  demo built in {time.perf_counter() - started:.0f} s", flush=True)
    db.dispose()


class _Enough(Exception):
    pass


class _Sink:
    """Stands in for the ingest (the simulator's `ingest`): its driver-code books, and `add` per row."""

    def __init__(self, session):
        from store.issuer.transactions_import import CustomerZones, load_driver_codes

        self.session, self.rows = session, 0
        self.zones = CustomerZones(session)
        self._load, self._books = load_driver_codes, {}

    def _driver_codes(self, customer_number_id: int):
        if customer_number_id not in self._books:
            self._books[customer_number_id] = self._load(self.session, self.zones, customer_number_id)
        return self._books[customer_number_id]


class _FileWriter(_Sink):
    """The simulator's rows go to a CSV file instead of the database."""

    def __init__(self, session, writer, limit: int):
        super().__init__(session)
        self.writer, self.limit = writer, limit
        self.cards: set[str] = set()

    def add(self, r) -> None:
        if self.rows >= self.limit:
            raise _Enough
        iso = lambda moment: moment.isoformat() if moment else ""  # noqa: E731
        self.writer.writerow(["toll" if r.toll else "fuel", r.issuer_transaction_id, r.card_number,
                              r.rank if r.rank is not None else "", iso(r.occurred_at), iso(r.entry_at), r.station,
                              r.city, r.country, "" if r.toll else r.product.value,
                              "" if r.toll else r.quantity, "" if r.toll else r.unit_price, r.amount_excl_vat,
                              r.vat_rate, r.amount_incl_vat, "" if r.odometer_km is None else r.odometer_km,
                              r.driver_code or "", r.operator, r.entry_point, r.exit_point, r.vehicle_class])
        self.rows += 1
        self.cards.add(r.card_number)


class _HistoryWriter(_Sink):
    """The fast path for the history: the simulator's rows inserted as they are, plain executemany, no rules."""

    FLUSH = 50_000

    def __init__(self, session):
        from sqlalchemy import select

        from store.models import Card

        super().__init__(session)
        self.card_ids = dict(session.execute(select(Card.number, Card.id).where(Card.number.is_not(None))).all())
        self.fuel, self.toll = [], []

    def add(self, r) -> None:
        card_id = self.card_ids[r.card_number]
        if r.toll:
            self.toll.append(dict(issuer_transaction_id=r.issuer_transaction_id, card_id=card_id,
                                  operator=r.operator, country=r.country, entry_point=r.entry_point,
                                  exit_point=r.exit_point, entry_at=r.entry_at, exit_at=r.occurred_at,
                                  vehicle_class=r.vehicle_class, amount_excl_vat=r.amount_excl_vat,
                                  vat_rate=r.vat_rate, amount_incl_vat=r.amount_incl_vat, invoice_id=None))
        else:
            self.fuel.append(dict(issuer_transaction_id=r.issuer_transaction_id, card_id=card_id,
                                  rank=r.rank if r.rank is not None else 1, occurred_at=r.occurred_at,
                                  station=r.station, city=r.city, country=r.country, product=r.product,
                                  quantity=r.quantity, unit_price=r.unit_price, amount_excl_vat=r.amount_excl_vat,
                                  vat_rate=r.vat_rate, amount_incl_vat=r.amount_incl_vat,
                                  odometer_km=r.odometer_km, driver_code=r.driver_code, invoice_id=None))
        self.rows += 1
        if len(self.fuel) + len(self.toll) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        from sqlalchemy import insert

        from store.models import FuelTransaction, TollTransaction

        connection = self.session.connection()
        for table, rows in ((FuelTransaction.__table__, self.fuel), (TollTransaction.__table__, self.toll)):
            if rows:
                connection.execute(insert(table), rows)
                rows.clear()
        self.session.commit()


def rebuild_month_totals_if_any(session) -> None:
    """The per-card month totals (store.issuer.month_totals) recomputed from the transactions, as the demo does
    after writing its own: the fast path inserts the history without them."""
    from sqlalchemy import inspect

    if inspect(session.connection()).has_table("card_month_total"):
        from store.issuer.month_totals import rebuild_month_totals

        rebuild_month_totals(session.connection())
        session.commit()


def ensure_history(demo: Path, path: Path, history_days: int, days: int, seed: int) -> None:
    """`demo` copied to `path` with `history_days` days of traffic before the file's `days` (fast path)."""
    from sqlalchemy import func, select

    from store.db import Database
    from store.issuer.simulate import DEFAULT_BREAK_RATE, Simulator
    from store.migrate import upgrade
    from store.models import FuelTransaction, TollTransaction

    if not path.exists():
        print(f"Adding {history_days} days of history to a copy of {demo.name} (fast path) …", flush=True)
        started = time.perf_counter()
        partial = path.with_name(path.name + ".partial")
        with sqlite3_checkpointed(demo):
            shutil.copyfile(demo, partial)
        db = Database(f"sqlite:///{partial}")
        with db.session() as session:
            sink = _HistoryWriter(session)
            Simulator(session, NOW - timedelta(days=days), days=history_days, seed=seed + 1,
                      break_rate=DEFAULT_BREAK_RATE, ingest=sink).run(None)
            sink.flush()
            rebuild_month_totals_if_any(session)
        db.dispose()
        with sqlite3_checkpointed(partial):
            pass
        partial.rename(path)
        print(f"  history: {sink.rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
    db = Database(f"sqlite:///{path}")
    started = time.perf_counter()
    upgrade(db.engine)  # a database built before the latest migration gets it (and whatever it fills)
    if time.perf_counter() - started > 1:
        print(f"  migrated to the latest revision in {time.perf_counter() - started:.0f} s", flush=True)
    with db.session() as session:
        fuel = session.execute(select(func.count()).select_from(FuelTransaction)).scalar_one()
        toll = session.execute(select(func.count()).select_from(TollTransaction)).scalar_one()
    db.dispose()
    print(f"Database {path}: {fuel:,} fuel and {toll:,} toll transactions before the import", flush=True)


def make_file(url: str, path: Path, days: int, rows: int, seed: int) -> tuple[int, int]:
    from store.db import Database
    from store.issuer.simulate import DEFAULT_BREAK_RATE, Simulator

    db = Database(url)
    with db.session() as session, open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(COLUMNS)
        sink = _FileWriter(session, writer, rows)
        try:
            Simulator(session, NOW, days=days, seed=seed, break_rate=DEFAULT_BREAK_RATE, ingest=sink).run(None)
        except _Enough:
            pass
        session.rollback()
    db.dispose()
    return sink.rows, len(sink.cards)


def run_child(mode: str, url: str, path: Path, profile: str = "") -> tuple[dict, float]:
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([sys.executable, "-c", CHILD, mode, url, str(path), NOW.isoformat(), profile],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"{mode} run failed:\n{errors.read()}")
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def fresh_copy(source: Path, copy: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        target = Path(f"{copy}{suffix}")
        if target.exists():
            target.unlink()
    with sqlite3_checkpointed(source):
        shutil.copyfile(source, copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the demo and history databases are built once and kept")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--history-days", type=int, default=72,
                        help="days of traffic already in the database (72 days of 100,000 cards: about 2,000,000)")
    parser.add_argument("--days", type=int, default=1, help="days of traffic in the file (1: the daily file)")
    parser.add_argument("--rows", type=int, default=5_000_000, help="at most this many rows in the file")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--profile", default="", help="also run one import under cProfile, stats to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    args.folder.mkdir(parents=True, exist_ok=True)
    demo = args.folder / f"demo-{args.cards}.db"
    source = args.folder / f"history-{args.cards}-{args.history_days}d-{args.days}d.db"
    ensure_demo(demo, args.cards)
    ensure_history(demo, source, args.history_days, args.days, args.seed)
    throughput: dict[str, list[float]] = {"import": [], "baseline": []}
    cpu_throughput: dict[str, list[float]] = {"import": [], "baseline": []}
    rss: dict[str, list[float]] = {"import": [], "baseline": []}
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        folder = Path(folder)
        data = folder / "transactions.csv"
        started = time.perf_counter()
        rows, cards = make_file(f"sqlite:///{source}", data, args.days, args.rows, args.seed)
        print(f"File: {rows:,} rows on {cards:,} cards ({rows / max(cards, 1):.1f} per card), "
              f"{data.stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - started:.0f} s", flush=True)
        for run in range(args.runs):
            for mode in ("import", "baseline") if run % 2 == 0 else ("baseline", "import"):
                copy = folder / f"{mode}.db"
                fresh_copy(source, copy)
                report, peak = run_child(mode, f"sqlite:///{copy}", data)
                per_second = report["rows"] / report["seconds"]
                throughput[mode].append(per_second)
                cpu_throughput[mode].append(report["rows"] / report["cpu"])
                rss[mode].append(peak)
                extra = "" if mode == "baseline" else (f"  anomalies {report['anomalies']:,}, product blocks "
                                                       f"{report['blocks']:,}, rejected {report['rejected']:,}")
                print(f"  run {run + 1} {mode:<8} {report['rows']:,} rows {report['seconds']:6.1f} s "
                      f"{per_second:9,.0f} rows/s (CPU {report['cpu']:6.1f} s)  peak RSS {peak:5.0f} MB{extra}",
                      flush=True)
        if args.profile:
            copy = folder / "import.db"
            fresh_copy(source, copy)
            run_child("import", f"sqlite:///{copy}", data, str(Path(args.profile).resolve()))
            print(f"Profile of one import: {args.profile}", flush=True)
    imported, baseline = statistics.median(throughput["import"]), statistics.median(throughput["baseline"])
    ratio = imported / baseline
    print(f"Import of {rows:,} transactions ({rows / max(cards, 1):.1f} per card) on a {args.cards:,}-card demo with "
          f"{args.history_days} days of history, medians of {args.runs} runs:")
    print(f"  import   {imported:9,.0f} rows/s (peak RSS {max(rss['import']):.0f} MB)")
    print(f"  baseline {baseline:9,.0f} rows/s (plain executemany of the parsed rows)")
    print(f"  ratio    {ratio:.2f} of the baseline's throughput (goal ≥ {RATIO_GOAL:.2f}: "
          f"{'met' if ratio >= RATIO_GOAL else 'NOT met'})")
    cpu_ratio = statistics.median(cpu_throughput["import"]) / statistics.median(cpu_throughput["baseline"])
    print(f"  (on CPU time, which a busy machine disturbs less: import {statistics.median(cpu_throughput['import']):,.0f}"
          f" rows/s, baseline {statistics.median(cpu_throughput['baseline']):,.0f} rows/s, ratio {cpu_ratio:.2f})")


class sqlite3_checkpointed:
    """Fold the WAL into the main file before copying it, so the copy is complete."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import sqlite3

        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
