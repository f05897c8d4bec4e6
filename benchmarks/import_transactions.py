"""The issuer's transaction file in, with the anomaly checks, against a baseline of a plain executemany insert
of the same rows into the same tables.

Goal (issue 8): the import's throughput (rows per second) is at least one third of the baseline's.

The file is the simulator's traffic (store.issuer.simulate) for the demo's active cards over `--days` days,
at most `--rows` rows, written once as CSV (fuel and toll rows, `;`-separated). Each run is a fresh process on a
fresh copy of the demo database, import and baseline alternating:
- import: `import_transactions(session, file, now)` from opening the file to the last commit: reading and
  parsing the CSV, finding the rows already there, loading the cards and their history, the rules, inserting
  transactions, anomalies and product blocks, `last_used_at`, the alert digests;
- baseline: the same rows, already parsed into the tables' column values in memory (not timed), inserted with
  `connection.execute(insert(table), rows)` in batches of the same size, one commit per batch.
Peak RSS of each child comes from os.wait4: the import streams, so its memory does not grow with the file.

    .venv/bin/python benchmarks/import_transactions.py [--database-url URL] [--cards 100000] [--days 60]
                                                       [--rows 2000000] [--runs 3]
    .venv/bin/python benchmarks/import_transactions.py --cards 3000 --days 30 --rows 30000 --runs 1  # quick

The rows per card matter: each card met costs its configuration, history and `last_used_at` once per batch
(then it is cached), so a file with few rows per card (a daily file) has a lower ratio than the issue's
2,000,000 transactions on 100,000 cards (20 per card).
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
from datetime import datetime, timezone
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
db = Database(url)
with db.session() as session:
    if mode == "import":
        start = time.perf_counter()
        report = import_transactions(session, path, now)
        elapsed = time.perf_counter() - start
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
        start = time.perf_counter()
        for table, rows in ((FuelTransaction.__table__, fuel), (TollTransaction.__table__, toll)):
            for first in range(0, len(rows), BATCH_ROWS):
                session.connection().execute(insert(table), rows[first:first + BATCH_ROWS])
                session.commit()
        elapsed = time.perf_counter() - start
        rows, extra = len(fuel) + len(toll), {}
print(json.dumps({"seconds": elapsed, "rows": rows, **extra}))
"""


def ensure_database(url: str, cards: int) -> None:
    sys.path.insert(0, str(ROOT))
    from sqlmodel import func, select

    from store.db import Database, FixedClock
    from store.demo import build_demo
    from store.migrate import upgrade
    from store.models import Card

    db = Database(url, clock=FixedClock(NOW))
    upgrade(db.engine)
    with db.session() as session:
        have = session.exec(select(func.count()).select_from(Card)).one()
    if have < cards:
        print(f"Building a {cards:,}-card demo at {url} (about a minute per 100,000 cards) …", flush=True)
        started = time.perf_counter()
        build_demo(db, cards=cards, force=True)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    db.dispose()


class _Enough(Exception):
    pass


class _FileWriter:
    """Stands in for the ingest: the simulator's rows go to a CSV file instead of the database."""

    def __init__(self, session, writer, limit: int):
        from store.issuer.transactions_import import CustomerZones, load_driver_codes

        self.session, self.writer, self.limit, self.rows = session, writer, limit, 0
        self.zones = CustomerZones(session)
        self._load, self._books = load_driver_codes, {}

    def _driver_codes(self, customer_number_id: int):
        if customer_number_id not in self._books:
            self._books[customer_number_id] = self._load(self.session, self.zones, customer_number_id)
        return self._books[customer_number_id]

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


def make_file(url: str, path: Path, days: int, rows: int, seed: int) -> int:
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
    db.dispose()
    return sink.rows


def run_child(mode: str, url: str, path: Path) -> tuple[dict, float]:
    process = subprocess.Popen([sys.executable, "-c", CHILD, mode, url, str(path), NOW.isoformat()], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} run failed:\n{stderr}")
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="SQLite demo database (built when missing; default: a file in the temp folder)")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60,
                        help="days of simulated traffic in the file (60 days of 100,000 cards: about 2,000,000 rows)")
    parser.add_argument("--rows", type=int, default=2_000_000, help="at most this many rows in the file")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from store.db import sqlite_path

    url = args.database_url or f"sqlite:///{Path(tempfile.gettempdir()) / f'cardsonline-bench-{args.cards}.db'}"
    source = sqlite_path(url)
    if source is None:
        raise SystemExit("The benchmark copies the database per run: give a SQLite file URL.")
    ensure_database(url, args.cards)
    throughput: dict[str, list[float]] = {"import": [], "baseline": []}
    rss: dict[str, list[float]] = {"import": [], "baseline": []}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "transactions.csv"
        started = time.perf_counter()
        rows = make_file(url, data, args.days, args.rows, args.seed)
        print(f"File: {rows:,} rows ({data.stat().st_size / 1e6:.0f} MB) made in {time.perf_counter() - started:.0f} s",
              flush=True)
        for run in range(args.runs):
            for mode in ("import", "baseline") if run % 2 == 0 else ("baseline", "import"):
                copy = folder / f"{mode}.db"
                for suffix in ("", "-wal", "-shm"):
                    target = Path(f"{copy}{suffix}")
                    if target.exists():
                        target.unlink()
                with sqlite3_checkpointed(source):
                    shutil.copyfile(source, copy)
                report, peak = run_child(mode, f"sqlite:///{copy}", data)
                per_second = report["rows"] / report["seconds"]
                throughput[mode].append(per_second)
                rss[mode].append(peak)
                extra = "" if mode == "baseline" else (f"  anomalies {report['anomalies']:,}, product blocks "
                                                       f"{report['blocks']:,}, rejected {report['rejected']:,}")
                print(f"  run {run + 1} {mode:<8} {report['rows']:,} rows {report['seconds']:6.1f} s "
                      f"{per_second:9,.0f} rows/s  peak RSS {peak:5.0f} MB{extra}", flush=True)
    imported, baseline = statistics.median(throughput["import"]), statistics.median(throughput["baseline"])
    ratio = imported / baseline
    print(f"Import of {rows:,} transactions on a {args.cards:,}-card demo, medians of {args.runs} runs:")
    print(f"  import   {imported:9,.0f} rows/s (peak RSS {max(rss['import']):.0f} MB)")
    print(f"  baseline {baseline:9,.0f} rows/s (plain executemany of the parsed rows)")
    print(f"  ratio    {ratio:.2f} of the baseline's throughput (goal ≥ {RATIO_GOAL:.2f}: "
          f"{'met' if ratio >= RATIO_GOAL else 'NOT met'})")


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
