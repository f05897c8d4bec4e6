"""A card's configuration history (issue 8): each transaction is judged against the configuration in force at
its time, not the one the card has when the issuer's file comes in.

What the anomaly rules read of a card (limits and allowed products, the controls, the status with its block
time, the renewal cancellation and the plastics) is kept as versions in `card_config_version`: `valid_from`
(inclusive) to `valid_to` (exclusive, None while in force). A transaction exactly at a change's instant is
judged by the new version.

`record_card_versions(session, card_ids, now)` is the only writer: every service that changes what a card's
snapshot holds calls it once its changes are made (in the same transaction); it compares the card's snapshot
with its open version and, when they differ, closes that one at `now` and opens a new one from `now`.

Safety net: changes to cards, limits or plastics made through the ORM and committed without that call (a test's
fixture, a path that forgot it) are amended into the open version at commit (`now=None`: no new version, the
change counts as if it had always been so: the behaviour before this history existed). A card with no version
gets one from its creation (or the epoch).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable

from sqlalchemy import bindparam, event, inspect, insert, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from ..models import Card, CardConfigVersion, CardLimit, CardStatus, Plastic, RenewalStatus

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHUNK = 500
PENDING = "card_config_pending"  # session.info: ids of cards changed through the ORM, not recorded yet

# The card columns in a snapshot (what store.issuer.anomaly_rules.CardConfig reads besides the fixed ones).
CARD_FIELDS = ("status", "rank", "blocked_at", "cancelled_by_user", "renewal_status", "code_type", "odometer_prompt",
               "tank_capacity_l", "allowed_weekdays", "allowed_hours_from", "allowed_hours_to", "forbidden_days",
               "allowed_countries", "max_transactions_per_day")
_MONEY, _VOLUME = Decimal("0.01"), Decimal("0.001")


def _text(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _number(value: Any, step: Decimal) -> str | None:
    # Decimal("100"), Decimal("100.00") and a float from SQLite must give the same text (no spurious version).
    return None if value is None else str(Decimal(str(value)).quantize(step))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def snapshot(card: Any, limits: Iterable[Any], plastics: Iterable[Any]) -> str:
    """The canonical JSON of a card's configuration: `card` has CARD_FIELDS (a row, a dict or a Card), `limits`
    (product, allowed, amount, volume, period, action) and `plastics` (rank, status, expiry_date) tuples."""
    get = card.get if isinstance(card, dict) else (lambda name: getattr(card, name))
    renewal = _text(get("renewal_status"))
    data = {
        "status": _text(get("status")), "rank": get("rank"), "blocked_at": _iso(get("blocked_at")),
        "cancelled": bool(get("cancelled_by_user")) or renewal == RenewalStatus.CANCELLED.value,
        "code_type": _text(get("code_type")), "odometer_prompt": bool(get("odometer_prompt")),
        "tank_capacity_l": _number(get("tank_capacity_l"), _VOLUME),
        "allowed_weekdays": sorted(int(day) for day in get("allowed_weekdays") or ()),
        "hours": [get("allowed_hours_from"), get("allowed_hours_to")],
        "forbidden_days": sorted(str(day) for day in get("forbidden_days") or ()),
        "allowed_countries": sorted(str(country).upper() for country in get("allowed_countries") or ()),
        "max_transactions_per_day": get("max_transactions_per_day"),
        "limits": sorted([_text(product), bool(allowed), _number(amount, _MONEY), _number(volume, _VOLUME),
                          _text(period), _text(action)]
                         for product, allowed, amount, volume, period, action in limits),
        "plastics": sorted([rank, _text(status), _iso(expiry)] for rank, status, expiry in plastics),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _current_snapshots(connection, card_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    """(snapshot, created_at) of each card as the tables hold it now."""
    card, limit, plastic = Card.__table__.c, CardLimit.__table__.c, Plastic.__table__.c
    out = {}
    for first in range(0, len(card_ids), CHUNK):
        chunk = card_ids[first:first + CHUNK]
        limits: dict[int, list] = {}
        for row in connection.execute(select(limit.card_id, limit.product, limit.allowed, limit.amount,
                                             limit.volume, limit.period, limit.action)
                                      .where(limit.card_id.in_(chunk))):
            limits.setdefault(row[0], []).append(tuple(row[1:]))
        plastics: dict[int, list] = {}
        for row in connection.execute(select(plastic.card_id, plastic.rank, plastic.status, plastic.expiry_date)
                                      .where(plastic.card_id.in_(chunk))):
            plastics.setdefault(row[0], []).append(tuple(row[1:]))
        for row in connection.execute(select(card.id, card.created_at, *(card[name] for name in CARD_FIELDS))
                                      .where(card.id.in_(chunk))):
            values = row._mapping
            out[row.id] = (snapshot(dict(values), limits.get(row.id, ()), plastics.get(row.id, ())), row.created_at)
    return out


def record_card_versions(session: Session, card_ids: Iterable[int], now: datetime | None) -> int:
    """Bring the cards' versions up to date with what the tables hold (see the module's docstring); returns how
    many versions were written. `now`: the instant the change takes effect; None amends the open version."""
    ids = sorted({card_id for card_id in card_ids if card_id is not None})
    if not ids:
        return 0
    session.flush()  # the ORM's changes into the tables first (they may also land in PENDING: done below)
    pending = session.info.get(PENDING)
    if pending:
        pending.difference_update(ids)
    connection = session.connection()
    current = _current_snapshots(connection, ids)
    version = CardConfigVersion.__table__
    v = version.c
    open_versions: dict[int, tuple[int, datetime, str]] = {}
    for first in range(0, len(ids), CHUNK):
        for version_id, card_id, valid_from, config in connection.execute(
                select(v.id, v.card_id, v.valid_from, v.config).where(v.card_id.in_(ids[first:first + CHUNK]),
                                                                     v.valid_to.is_(None))):
            open_versions[card_id] = (version_id, valid_from, config)
    amend, close, add = [], [], []
    for card_id, (config, created_at) in current.items():
        opened = open_versions.get(card_id)
        if opened is not None and opened[2] == config:
            continue
        if opened is not None and (now is None or opened[1] >= now):
            amend.append({"b_id": opened[0], "b_config": config})  # untimed, or the same instant: one version
            continue
        if opened is not None:
            close.append({"b_id": opened[0], "b_to": now})
        add.append(dict(card_id=card_id, valid_from=now or created_at or EPOCH, valid_to=None, config=config))
    if amend:
        connection.execute(update(version).where(v.id == bindparam("b_id")).values(config=bindparam("b_config")),
                           amend)
    if close:
        connection.execute(update(version).where(v.id == bindparam("b_id")).values(valid_to=bindparam("b_to")),
                           close)
    if add:
        connection.execute(insert(version), add)
    return len(amend) + len(add)


# --- the safety net -----------------------------------------------------------------------------------

def _changed_card_ids(session: OrmSession) -> set[int]:
    ids: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Card):
            ids.add(obj.id)
        elif isinstance(obj, (CardLimit, Plastic)):
            ids.add(obj.card_id)
    for obj in session.dirty:
        if isinstance(obj, Card):
            attrs = inspect(obj).attrs
            if any(attrs[name].history.has_changes() for name in CARD_FIELDS):
                ids.add(obj.id)
        elif isinstance(obj, (CardLimit, Plastic)) and session.is_modified(obj):
            ids.add(obj.card_id)
    for obj in session.deleted:
        if isinstance(obj, (CardLimit, Plastic)):
            ids.add(obj.card_id)
    ids.discard(None)
    return ids


@event.listens_for(OrmSession, "after_flush")
def _note_changes(session: OrmSession, _context) -> None:
    ids = _changed_card_ids(session)
    if ids:
        session.info.setdefault(PENDING, set()).update(ids)


@event.listens_for(OrmSession, "before_commit")
def _amend_unrecorded(session: OrmSession) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # commit flushes after this hook: flush now so its changes are noted
    pending = session.info.pop(PENDING, None)
    if pending:
        record_card_versions(session, pending, None)


@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop(PENDING, None)


def backfill_versions(connection) -> int:
    """One version per card that has none, valid from its creation (or the epoch): migration 0007."""
    card, v = Card.__table__.c, CardConfigVersion.__table__.c
    have = select(v.card_id)
    ids = [row[0] for row in connection.execute(select(card.id).where(card.id.not_in(have)).order_by(card.id))]
    written = 0
    for first in range(0, len(ids), 5_000):
        current = _current_snapshots(connection, ids[first:first + 5_000])
        rows = [dict(card_id=card_id, valid_from=created_at or EPOCH, valid_to=None, config=config)
                for card_id, (config, created_at) in current.items()]
        if rows:
            connection.execute(insert(CardConfigVersion.__table__), rows)
            written += len(rows)
    return written


def initial_versions(card: dict, limits: Iterable[dict], plastics: Iterable[dict]) -> list[dict]:
    """The version rows of a card written directly as its final state (the demo): one from its creation (or the
    epoch); a card blocked at `blocked_at` gets two, active before (its blocked plastics active) and blocked
    from then, so a transaction before the block is judged as the issuer saw it then."""
    limit_rows = [(x["product"], x["allowed"], x["amount"], x["volume"], x["period"], x["action"]) for x in limits]
    plastic_rows = [(x["rank"], x["status"], x["expiry_date"]) for x in plastics]
    start = card.get("created_at") or EPOCH
    final = snapshot(card, limit_rows, plastic_rows)
    blocked_at = card.get("blocked_at")
    if blocked_at is None or blocked_at <= start:
        return [dict(card_id=card["id"], valid_from=start, valid_to=None, config=final)]
    before = snapshot({**card, "status": CardStatus.ACTIVE, "blocked_at": None}, limit_rows,
                      [(rank, CardStatus.ACTIVE if _text(status) == CardStatus.BLOCKED.value else status, expiry)
                       for rank, status, expiry in plastic_rows])
    return [dict(card_id=card["id"], valid_from=start, valid_to=blocked_at, config=before),
            dict(card_id=card["id"], valid_from=blocked_at, valid_to=None, config=final)]
