"""Manage cards and OBUs at scale: the median time from a changed filter to the first page of rows in the
store (`search_cards` for one page, its search plan included), on a 100,000-card demo against a 1,000-card
one.

Goal (issue 4): at most 1.5×. The two databases are measured alternately, each measurement in a fresh
session, for typical filters: no filter, a text with many matches ("1-A"), a licence plate (one match), a
plate typed without dashes, a driver's name, status active, an expiry range. The screen shows the page first
and counts the matches in the background (`count_cards`): the count's time is printed beside, not in the
ratio. SQLite's plan of the slowest filters says where the time goes.

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


def filters(today, plate: str, driver: str) -> dict:
    from store.models import CardStatus
    from store.queries.card_filter import CardFilter

    return {
        "no filter": CardFilter(),
        'text "1-A"': CardFilter(text="1-A"),
        "a plate": CardFilter(text=plate),
        "plate, no dashes": CardFilter(text=plate.replace("-", "").lower()),
        "a driver": CardFilter(text=driver),
        "status active": CardFilter(statuses=(CardStatus.ACTIVE,)),
        "expiry range": CardFilter(expiry_from=today, expiry_to=today + timedelta(days=180)),
    }


def sample_values(db, number_id) -> tuple[str, str]:
    """A plate and a driver's full name from the middle of the fleet (the same query on both databases)."""
    from sqlmodel import func, select

    from store.models import Card

    with db.session() as session:
        named = (Card.customer_number_id == number_id, Card.license_plate.is_not(None),
                 Card.driver_name.is_not(None))
        count = session.exec(select(func.count()).select_from(Card).where(*named)).one()
        plate, driver = session.exec(select(Card.license_plate, Card.driver_name).where(*named)
                                     .order_by(Card.id).offset(count // 2).limit(1)).one()
    return plate, driver


def measure(db, actor, number_id, card_filter) -> tuple[float, float, int]:
    """(seconds for the first page, seconds for the background count, the count) in a fresh session."""
    from store.queries.cards import count_cards, search_cards

    with db.session() as session:
        started = time.perf_counter()
        search_cards(session, actor, number_id, card_filter, limit=PAGE)
        page = time.perf_counter() - started
        started = time.perf_counter()
        count = count_cards(session, actor, number_id, card_filter)
        return page, time.perf_counter() - started, count


def query_plan(db, actor, number_id, card_filter) -> list[str]:
    """SQLite's plan of the page query: 'USE TEMP B-TREE FOR ORDER BY' sorts the matches without an index."""
    from dataclasses import replace

    from sqlmodel import select

    from store.models import Card, FleetDivision
    from store.queries.card_filter import card_filter_clauses, plan_search, scoped_filter
    from store.queries.cards import CardSort

    with db.session() as session:
        scoped = scoped_filter(session, actor, replace(card_filter, customer_number_ids=(number_id,)))
        plan = plan_search(session, scoped)
        key = CardSort().expression()
        query = (select(Card.id).join(FleetDivision, FleetDivision.id == Card.division_id)
                 .where(*card_filter_clauses(scoped, plan)).order_by(key, Card.id).limit(PAGE))
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        steps = [row[-1] for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
        candidates = plan.text_candidates
        described = (f"walk the sort index, keeping {candidates} trigram candidates" if plan.dense_text
                     else f"start from {candidates} trigram candidates" if candidates is not None
                     else "walk the sort index" + (", date indexes skipped" if plan.skip_date_indexes else ""))
        return [described] + steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db100k", type=Path, help="SQLite file of the 100,000-card demo (built when missing)")
    parser.add_argument("--db1k", type=Path, help="SQLite file of the 1,000-card demo (built when missing)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="search-fleet-"))
    big = ensure_database(args.db100k or folder / "demo-100k.db", 100_000)
    small = ensure_database(args.db1k or folder / "demo-1k.db", 1_000)
    databases = {}
    for name, db in (("100k", big), ("1k", small)):
        actor, number_id, today = context(db)
        databases[name] = (db, actor, number_id, filters(today, *sample_values(db, number_id)))

    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for db, actor, number_id, cases in databases.values():  # warm the caches once
        for card_filter in cases.values():
            measure(db, actor, number_id, card_filter)
    for _run in range(args.runs):
        for name, (db, actor, number_id, cases) in databases.items():  # alternating
            for label, card_filter in cases.items():
                page, count_time, count = measure(db, actor, number_id, card_filter)
                times.setdefault((name, label), []).append((page, count_time))
                counts[(name, label)] = count

    print(f"\nFirst page ({PAGE} rows), median of {args.runs} runs, milliseconds; the count runs after it:")
    print(f"{'filter':<17} {'100k page':>9} {'count':>7} {'matches':>8} │ {'1k page':>7} {'count':>6} "
          f"{'matches':>7} │ {'ratio':>6}")
    totals: dict[str, list[float]] = {"100k": [], "1k": []}
    slow = []
    for label in databases["1k"][3]:
        medians = {}
        for name in ("100k", "1k"):
            medians[name] = (statistics.median(p for p, _c in times[(name, label)]),
                             statistics.median(c for _p, c in times[(name, label)]))
            totals[name].append(medians[name][0])
        ratio = medians["100k"][0] / medians["1k"][0]
        print(f"{label:<17} {medians['100k'][0] * 1000:>9.1f} {medians['100k'][1] * 1000:>7.1f} "
              f"{counts[('100k', label)]:>8,} │ {medians['1k'][0] * 1000:>7.1f} {medians['1k'][1] * 1000:>6.1f} "
              f"{counts[('1k', label)]:>7,} │ {ratio:>5.2f}×")
        if ratio > RATIO_GOAL:
            db, actor, number_id, cases = databases["100k"]
            slow.append(f"  {label}: {ratio:.2f}×\n    plan: " + " | ".join(query_plan(db, actor, number_id,
                                                                                     cases[label])))
    overall = sum(totals["100k"]) / sum(totals["1k"])
    print(f"\nRatio 100k / 1k of the first page, all these filters together (sum of the medians): {overall:.2f}× "
          f"(goal ≤ {RATIO_GOAL}×) — "
          + ("met." if overall <= RATIO_GOAL else "NOT met."))
    if slow:
        print("Filters over the goal on their own, and SQLite's plan for them:")
        print("\n".join(slow))


if __name__ == "__main__":
    main()
