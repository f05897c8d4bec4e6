"""The whole fleet to Excel on a 100,000-card demo: `write_fleet_xlsx(fleet_export_rows(...))` against a
baseline of openpyxl write-only writing the same cells from a Python list already in memory.

Goals (issue 4): the export takes at most 1.3× the baseline, and its peak RSS stays under 150 MB.

Each run is a fresh process, export and baseline alternating. A run times only the writing: the
export from the first query to the renamed file; the baseline from an empty workbook to the saved
file, its rows materialised beforehand (not timed). Both go through exports.fleet_xlsx.SheetWriter, so
the cells, styles, widths, freeze pane and autofilter are exactly the same. Peak RSS comes from
os.wait4 on each child, so it is that run's own.

    .venv/bin/python benchmarks/export_fleet.py [--database-url URL] [--cards 100000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO_GOAL = 1.3
RSS_GOAL_MB = 150

CHILD = r"""
import json, sys, time
from pathlib import Path
from sqlmodel import select
from store.db import Database
from store.models import User
from store.services.context import actor_for
from store.queries.card_filter import CardFilter
from store.queries.fleet_export import count_fleet, fleet_export_rows
from exports.fleet_xlsx import SheetWriter, row_values, write_fleet_xlsx

mode, url, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
db = Database(url)
with db.session() as session:
    actor = actor_for(session, session.exec(select(User).where(User.username == "fleetadmin")).one())
    if mode == "export":
        start = time.perf_counter()
        total = count_fleet(session, actor, CardFilter())
        result = write_fleet_xlsx(fleet_export_rows(session, actor, CardFilter()), out, total=total)
        elapsed, rows = time.perf_counter() - start, result.rows
    else:
        from openpyxl import Workbook
        values = [row_values(row) for row in fleet_export_rows(session, actor, CardFilter())]  # not timed
        start = time.perf_counter()
        workbook = Workbook(write_only=True)
        sheet = SheetWriter(workbook)
        for row in values:
            sheet.append(row)
        sheet.finish()
        workbook.save(out)
        elapsed, rows = time.perf_counter() - start, len(values)
print(json.dumps({"seconds": elapsed, "rows": rows}))
"""


def ensure_database(url: str, cards: int) -> None:
    sys.path.insert(0, str(ROOT))
    from sqlmodel import func, select

    from store.db import Database
    from store.demo import build_demo
    from store.migrate import upgrade
    from store.models import Card

    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        have = session.exec(select(func.count()).select_from(Card)).one()
    if have < cards:
        print(f"Building a {cards:,}-card demo at {url} (about a minute per 100,000 cards) …", flush=True)
        started = time.perf_counter()
        build_demo(db, cards=cards, force=True)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    db.dispose()


def run_child(mode: str, url: str, out: Path) -> tuple[float, int, float]:
    """(seconds, rows, peak RSS in MB) of one run in a fresh process."""
    process = subprocess.Popen([sys.executable, "-c", CHILD, mode, url, str(out)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{stderr}")
    report = json.loads(stdout.strip().splitlines()[-1])
    rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    return report["seconds"], report["rows"], rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="demo database (built when missing; default: a file in the temp folder)")
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.gettempdir()) / f'cardsonline-bench-{args.cards}.db'}"
    ensure_database(url, args.cards)

    times: dict[str, list[float]] = {"export": [], "baseline": []}
    rss: dict[str, list[float]] = {"export": [], "baseline": []}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            for mode in ("export", "baseline") if run % 2 == 0 else ("baseline", "export"):
                seconds, rows, peak = run_child(mode, url, Path(folder) / f"{mode}.xlsx")
                times[mode].append(seconds)
                rss[mode].append(peak)
                print(f"  run {run + 1} {mode:<8} {rows:,} rows  {seconds:6.1f} s  peak RSS {peak:5.0f} MB", flush=True)
        size_mb = (Path(folder) / "export.xlsx").stat().st_size / 1e6

    export, baseline = statistics.median(times["export"]), statistics.median(times["baseline"])
    ratio = export / baseline
    peak = max(rss["export"])
    print(f"Fleet export of {rows:,} cards/OBUs ({size_mb:.1f} MB xlsx), medians of {args.runs} runs:")
    print(f"  export   {export:6.1f} s   (peak RSS {peak:.0f} MB)")
    print(f"  baseline {baseline:6.1f} s   (openpyxl write-only, same cells from a list; "
          f"peak RSS {max(rss['baseline']):.0f} MB)")
    print(f"  ratio    {ratio:.2f}×  (goal ≤ {RATIO_GOAL}×: {'met' if ratio <= RATIO_GOAL else 'NOT met'})")
    print(f"  peak RSS {peak:.0f} MB (goal < {RSS_GOAL_MB} MB: {'met' if peak < RSS_GOAL_MB else 'NOT met'})")


if __name__ == "__main__":
    main()
