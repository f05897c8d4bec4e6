"""Manage cards and OBUs as the user meets it, on a 100,000-card demo against a 1,000-card one:

- first paint: from opening the screen to its first rows painted (the real app, headless, logged in as
  fleetadmin); goal (issue 4) at most 1.5×;
- memory: the app's peak RSS while scrolling the whole result with PgDn, from the first card to the last;
  goal at most 1.2×.

Every measurement is a fresh process (peak RSS is per process), the two databases alternately; medians.

    .venv/bin/python benchmarks/search_screen.py [--db100k FILE] [--db1k FILE] [--runs 5]

Without --db100k/--db1k the demos are built in a temporary folder (see benchmarks/search_fleet.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAINT_GOAL = 1.5
MEMORY_GOAL = 1.2
SIZE = (100, 40)

CHILD = r"""
import asyncio, json, resource, sys, time
from textual.widgets import DataTable, Input

from store.db import Database
from tui.app import CardsOnlineApp

mode, url = sys.argv[1], sys.argv[2]
size = (int(sys.argv[3]), int(sys.argv[4]))
result = {}


async def until(pilot, condition, timeout=600.0):
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(mode)
        await pilot.pause(0)


def shown_rows(screen):
    tables = screen.query(DataTable) if screen.is_mounted else []
    return tables.first().row_count if tables else 0


def cursor_id(table):
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


async def drive(pilot):
    from tui.screens.card_list import CardListScreen
    from tui.screens.login import LoginScreen

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.warm_up_started)
    app.screen.query_one("#username", Input).value = "fleetadmin"
    app.screen.query_one("#password", Input).value = "Fleet#2026"
    app.screen.query_one("#password", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: app.session is not None and not isinstance(app.screen, LoginScreen))
    await app.workers.wait_for_complete()
    await pilot.pause()

    def first_paint():
        started = time.perf_counter()
        screen = CardListScreen()
        app.push_screen(screen)
        return screen, started

    # Once to load the screen's modules (the same cost on both databases), then measured.
    screen, _started = first_paint()
    await until(pilot, lambda: shown_rows(screen) > 0)
    if mode == "paint":
        app.pop_screen()
        await pilot.pause()
        times = []
        for _ in range(3):
            screen, started = first_paint()
            await until(pilot, lambda: shown_rows(screen) > 0)
            await pilot.pause()  # the refresh that paints them
            times.append(time.perf_counter() - started)
            app.pop_screen()
            await pilot.pause()
        result["seconds"] = times
    else:
        from store.queries.cards import search_cards

        with app.db.session() as session:
            last = search_cards(session, app.session.actor, app.active_customer_number.id, last=True, limit=1)
        last_id = str(last[0].id)
        table = screen.query_one(DataTable)
        table.focus()
        presses, seen = 0, set()
        while cursor_id(table) != last_id:
            await pilot.press("pagedown")
            presses += 1
            seen.add(cursor_id(table))
            if presses % 200 == 0:
                await app.workers.wait_for_complete()
        result.update(presses=presses, cursor_positions=len(seen), table_rows=table.row_count)
    app.exit()


db = Database(url)
app = CardsOnlineApp(db)
asyncio.run(app.run_async(headless=True, size=size, auto_pilot=drive))
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(result))
"""


def child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, f"sqlite:///{path}", str(SIZE[0]), str(SIZE[1])],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"The {mode} run on {path} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    from search_fleet import ensure_database

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db100k", type=Path, help="SQLite file of the 100,000-card demo (built when missing)")
    parser.add_argument("--db1k", type=Path, help="SQLite file of the 1,000-card demo (built when missing)")
    parser.add_argument("--runs", type=int, default=5, help="processes per database for the first paint")
    parser.add_argument("--scroll-runs", type=int, default=2, help="processes per database for the memory")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="search-screen-"))
    paths = {"100k": args.db100k or folder / "demo-100k.db", "1k": args.db1k or folder / "demo-1k.db"}
    ensure_database(paths["100k"], 100_000).dispose()
    ensure_database(paths["1k"], 1_000).dispose()

    paint: dict[str, list[float]] = {"100k": [], "1k": []}
    for _ in range(args.runs):
        for name, path in paths.items():
            paint[name] += child("paint", path)["seconds"]
    medians = {name: statistics.median(times) for name, times in paint.items()}
    print(f"First paint of the search screen, median of {len(paint['1k'])} (milliseconds): "
          f"100k {medians['100k'] * 1000:.1f} · 1k {medians['1k'] * 1000:.1f}")
    ratio = medians["100k"] / medians["1k"]
    print(f"  ratio {ratio:.2f}× (goal ≤ {PAINT_GOAL}×) — {'met' if ratio <= PAINT_GOAL else 'NOT met'}.")

    scroll: dict[str, list[dict]] = {"100k": [], "1k": []}
    if args.scroll_runs < 1:
        return
    for _ in range(args.scroll_runs):
        for name, path in paths.items():
            scroll[name].append(child("scroll", path))
    rss = {name: statistics.median(run["peak_rss_mb"] for run in runs) for name, runs in scroll.items()}
    for name, runs in scroll.items():
        print(f"Scrolling the whole {name} result with PgDn: {runs[-1]['presses']:,} presses, "
              f"{runs[-1]['cursor_positions']:,} cursor positions, {runs[-1]['table_rows']} rows in the table at "
              f"the end; peak RSS median {rss[name]:.0f} MB")
    ratio = rss["100k"] / rss["1k"]
    print(f"  peak RSS ratio {ratio:.2f}× (goal ≤ {MEMORY_GOAL}×) — {'met' if ratio <= MEMORY_GOAL else 'NOT met'}.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
