"""card configuration versions: the configuration in force at a transaction's time (issue 8)

`card_config_version` keeps what the anomaly rules read of a card (limits, controls, status, plastics) from
`valid_from` to `valid_to` (store.services.card_history). Each existing card gets one version: its current
configuration, valid from its creation (or the epoch when unknown).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 04:00:00
"""
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

import store.models.base

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'card_config_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('valid_from', store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('valid_to', store.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('config', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['card.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('card_config_version', schema=None) as batch_op:
        batch_op.create_index('ix_card_config_version_card_from', ['card_id', 'valid_from'], unique=False)
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('card_config_version', schema=None) as batch_op:
        batch_op.drop_index('ix_card_config_version_card_from')
    op.drop_table('card_config_version')


# --- the backfill, frozen as it was at this revision ------------------------------------------------------
# A migration must give the same result whatever the application's code becomes later: the snapshot of
# store.services.card_history at revision 0007, over the tables as they are at this revision.

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHUNK = 500


class _UTC(sa.types.TypeDecorator):
    """Aware UTC datetimes on both databases (SQLite keeps no zone), as store.models.base.UTCDateTime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_CARD_FIELDS = ("status", "rank", "blocked_at", "cancelled_by_user", "renewal_status", "code_type",
                "odometer_prompt", "tank_capacity_l", "allowed_weekdays", "allowed_hours_from", "allowed_hours_to",
                "forbidden_days", "allowed_countries", "max_transactions_per_day")
_CARD = sa.table(
    "card", sa.column("id", sa.Integer), sa.column("created_at", _UTC), sa.column("status", sa.String),
    sa.column("rank", sa.Integer), sa.column("blocked_at", _UTC), sa.column("cancelled_by_user", sa.Boolean),
    sa.column("renewal_status", sa.String), sa.column("code_type", sa.String),
    sa.column("odometer_prompt", sa.Boolean), sa.column("tank_capacity_l", sa.Numeric(12, 3)),
    sa.column("allowed_weekdays", sa.JSON), sa.column("allowed_hours_from", sa.String),
    sa.column("allowed_hours_to", sa.String), sa.column("forbidden_days", sa.JSON),
    sa.column("allowed_countries", sa.JSON), sa.column("max_transactions_per_day", sa.Integer))
_LIMIT = sa.table(
    "card_limit", sa.column("card_id", sa.Integer), sa.column("product", sa.String),
    sa.column("allowed", sa.Boolean), sa.column("amount", sa.Numeric(14, 2)), sa.column("volume", sa.Numeric(12, 3)),
    sa.column("period", sa.String), sa.column("action", sa.String))
_PLASTIC = sa.table("plastic", sa.column("card_id", sa.Integer), sa.column("rank", sa.Integer),
                    sa.column("status", sa.String), sa.column("expiry_date", sa.Date))
_VERSION = sa.table("card_config_version", sa.column("card_id", sa.Integer), sa.column("valid_from", _UTC),
                    sa.column("valid_to", _UTC), sa.column("config", sa.Text))
_MONEY, _VOLUME = Decimal("0.01"), Decimal("0.001")


def _number(value: Any, step: Decimal) -> Any:
    return None if value is None else str(Decimal(str(value)).quantize(step))


def _iso(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def _snapshot(card: dict, limits, plastics) -> str:
    data = {
        "status": card["status"], "rank": card["rank"], "blocked_at": _iso(card["blocked_at"]),
        "cancelled": bool(card["cancelled_by_user"]) or card["renewal_status"] == "cancelled",
        "code_type": card["code_type"], "odometer_prompt": bool(card["odometer_prompt"]),
        "tank_capacity_l": _number(card["tank_capacity_l"], _VOLUME),
        "allowed_weekdays": sorted(int(day) for day in card["allowed_weekdays"] or ()),
        "hours": [card["allowed_hours_from"], card["allowed_hours_to"]],
        "forbidden_days": sorted(str(day) for day in card["forbidden_days"] or ()),
        "allowed_countries": sorted(str(country).upper() for country in card["allowed_countries"] or ()),
        "max_transactions_per_day": card["max_transactions_per_day"],
        "limits": sorted([product, bool(allowed), _number(amount, _MONEY), _number(volume, _VOLUME), period, action]
                         for product, allowed, amount, volume, period, action in limits),
        "plastics": sorted([rank, status, _iso(expiry)] for rank, status, expiry in plastics),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _backfill(connection) -> None:
    """One version per card, its configuration now, valid from its creation (or the epoch)."""
    ids = [row[0] for row in connection.execute(sa.select(_CARD.c.id).order_by(_CARD.c.id))]
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first:first + CHUNK]
        limits: dict = {}
        for row in connection.execute(sa.select(_LIMIT.c.card_id, _LIMIT.c.product, _LIMIT.c.allowed,
                                                _LIMIT.c.amount, _LIMIT.c.volume, _LIMIT.c.period, _LIMIT.c.action)
                                      .where(_LIMIT.c.card_id.in_(chunk))):
            limits.setdefault(row[0], []).append(tuple(row[1:]))
        plastics: dict = {}
        for row in connection.execute(sa.select(_PLASTIC.c.card_id, _PLASTIC.c.rank, _PLASTIC.c.status,
                                                _PLASTIC.c.expiry_date).where(_PLASTIC.c.card_id.in_(chunk))):
            plastics.setdefault(row[0], []).append(tuple(row[1:]))
        rows = []
        for row in connection.execute(sa.select(_CARD.c.id, _CARD.c.created_at,
                                                *(_CARD.c[name] for name in _CARD_FIELDS))
                                      .where(_CARD.c.id.in_(chunk))):
            rows.append(dict(card_id=row.id, valid_from=row.created_at or EPOCH, valid_to=None,
                             config=_snapshot(dict(row._mapping), limits.get(row.id, ()), plastics.get(row.id, ()))))
        if rows:
            connection.execute(sa.insert(_VERSION), rows)
