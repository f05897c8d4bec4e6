"""Manage cards and OBUs at scale: the median time from a changed filter to the first page of rows in the
store (`search_cards` for one page + `count_cards`, the two queries the screen runs), on a 100,000-card demo
against a 1,000-card one.

Goal (issue 4): at most 1.5×. The two databases are measured alternately, each measurement in a fresh
session, for a few typical filters: text "1-A", status active, an expiry range. The split between the page
query and the count, and SQLite's query plan, say where the time goes when the ratio is bad.

    .venv/bin/python benchmarks/search_fleet.py [--db100k FILE] [--db1k FILE] [--runs 7]

Without --db100k/--db1k the demos are built in a temporary folder (the 100k one takes about a minute); with
them, existing files are reused (and built there when missing or smaller).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 1.5
PAGE = 51  # the screen reads one row more than it shows, to know whether there is a next page


def ensure_database(path: Path, cards: int):
    from sqlmodel import func, select

    from store.db import Database
    from store.demo import build_demo
    from store.migrate import upgrade
    from store.models import Card

    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    with db.session() as session:
        have = session.exec(select(func.count()).select_from(Card)).one()
    if have < cards:
        print(f"Building a {cards:,}-card demo at {path} (about a minute per 100,000 cards) …", flush=True)
        started = time.perf_counter()
        build_demo(db, cards=cards, force=True)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return db


def context(db):
    """(actor, customer number id, today) of fleetadmin on the first customer number, as the screen has."""
    from sqlmodel import select

    from store.models import User
    from store.services.context import actor_for

    with db.session() as session:
        actor = actor_for(session, session.exec(select(User).where(User.username == "fleetadmin")).one())
    return actor, actor.customer_number_ids[0], db.clock.now().date()


def filters(today) -> dict:
    from store.models import CardStatus
    from store.queries.card_filter import CardFilter

    return {
        'text "1-A"': CardFilter(text="1-A"),
        "status active": CardFilter(statuses=(CardStatus.ACTIVE,)),
        "expiry range": CardFilter(expiry_from=today, expiry_to=today + timedelta(days=180)),
    }


def measure(db, actor, number_id, card_filter) -> tuple[float, float, int]:
    """(seconds for the first page, seconds for the count, the count) in a fresh session."""
    from store.queries.cards import count_cards, search_cards

    with db.session() as session:
        started = time.perf_counter()
        search_cards(session, actor, number_id, card_filter, limit=PAGE)
        page = time.perf_counter() - started
        started = time.perf_counter()
        count = count_cards(session, actor, number_id, card_filter)
        return page, time.perf_counter() - started, count


def query_plan(db, actor, number_id, card_filter) -> list[str]:
    """SQLite's plan of the page query: 'USE TEMP B-TREE FOR ORDER BY' is a sort without an index."""
    from sqlalchemy import and_, or_, text  # noqa: F401
    from sqlmodel import select

    from store.models import Card, FleetDivision
    from store.queries.card_filter import card_filter_clauses, scoped_filter
    from store.queries.cards import _card_sort_key
    from dataclasses import replace

    with db.session() as session:
        scoped = scoped_filter(session, actor, replace(card_filter, customer_number_ids=(number_id,)))
        query = (select(Card.id).join(FleetDivision, FleetDivision.id == Card.division_id)
                 .where(*card_filter_clauses(scoped)).order_by(_card_sort_key(), Card.id).limit(PAGE))
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        return [row[-1] for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db100k", type=Path, help="SQLite file of the 100,000-card demo (built when missing)")
    parser.add_argument("--db1k", type=Path, help="SQLite file of the 1,000-card demo (built when missing)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="search-fleet-"))
    big = ensure_database(args.db100k or folder / "demo-100k.db", 100_000)
    small = ensure_database(args.db1k or folder / "demo-1k.db", 1_000)
    databases = {"100k": (big, *context(big)), "1k": (small, *context(small))}

    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for name, (db, actor, number_id, today) in databases.items():  # warm the caches once
        for label, card_filter in filters(today).items():
            measure(db, actor, number_id, card_filter)
    for _run in range(args.runs):
        for name, (db, actor, number_id, today) in databases.items():  # alternating
            for label, card_filter in filters(today).items():
                page, count_time, count = measure(db, actor, number_id, card_filter)
                times.setdefault((name, label), []).append((page, count_time))
                counts[(name, label)] = count

    print(f"\nFirst page ({PAGE} rows) + count, median of {args.runs} runs, milliseconds:")
    print(f"{'filter':<16} {'100k page':>10} {'count':>8} {'matches':>8} │ {'1k page':>8} {'count':>7} "
          f"{'matches':>7} │ {'ratio':>6}")
    totals = {"100k": [], "1k": []}
    verdicts = []
    for label in filters(databases["1k"][3]):
        row, medians = [], {}
        for name in ("100k", "1k"):
            pages = [p for p, _c in times[(name, label)]]
            count_times = [c for _p, c in times[(name, label)]]
            both = [p + c for p, c in times[(name, label)]]
            medians[name] = (statistics.median(pages), statistics.median(count_times), statistics.median(both))
            totals[name].append(medians[name][2])
        ratio = medians["100k"][2] / medians["1k"][2]
        print(f"{label:<16} {medians['100k'][0] * 1000:>10.1f} {medians['100k'][1] * 1000:>8.1f} "
              f"{counts[('100k', label)]:>8,} │ {medians['1k'][0] * 1000:>8.1f} {medians['1k'][1] * 1000:>7.1f} "
              f"{counts[('1k', label)]:>7,} │ {ratio:>5.1f}×")
        if ratio > RATIO_GOAL:
            page_share = medians["100k"][0] / medians["100k"][2]
            cause = "the count(*)" if page_share < 0.5 else "the page query"
            plan = query_plan(databases["100k"][0], databases["100k"][1], databases["100k"][2],
                              filters(databases["100k"][3])[label])
            sort = any("TEMP B-TREE FOR ORDER BY" in step for step in plan)
            verdicts.append(f"  {label}: {ratio:.1f}× — mostly {cause} ({page_share:.0%} of the time is the page)"
                            + ("; the page sorts without an index (plan: USE TEMP B-TREE FOR ORDER BY on "
                               "coalesce(license_plate, embossed_name, ''))" if sort else "")
                            + ".\n    plan: " + " | ".join(plan))
    overall = sum(totals["100k"]) / sum(totals["1k"])
    print(f"\nOverall ratio 100k / 1k (sum of the medians): {overall:.2f}× (goal ≤ {RATIO_GOAL}×) — "
          + ("met." if overall <= RATIO_GOAL else "NOT met."))
    if verdicts:
        print("Filters over the goal, and why:")
        print("\n".join(verdicts))


if __name__ == "__main__":
    main()
