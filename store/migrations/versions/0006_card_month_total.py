"""card month totals: each card's transactions summed per month of its customer's time zone (issue 8)

The monthly reports read `card_month_total` instead of every transaction. The table is filled here from the
transactions already stored (store.issuer.month_totals.rebuild_month_totals); from now on whatever inserts
transactions adds them to it in the same transaction.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 23:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    money = sa.Numeric(precision=16, scale=2)
    volume = sa.Numeric(precision=16, scale=3)
    op.create_table(
        'card_month_total',
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('fuel_count', sa.Integer(), nullable=False),
        sa.Column('fuel_litres', volume, nullable=False),
        sa.Column('fuel_excl', money, nullable=False),
        sa.Column('fuel_incl', money, nullable=False),
        sa.Column('toll_count', sa.Integer(), nullable=False),
        sa.Column('toll_excl', money, nullable=False),
        sa.Column('toll_incl', money, nullable=False),
        sa.Column('cons_count', sa.Integer(), nullable=False),
        sa.Column('cons_litres', volume, nullable=False),
        sa.Column('cons_cost', money, nullable=False),
        sa.Column('km_min', sa.Integer(), nullable=True),
        sa.Column('km_max', sa.Integer(), nullable=True),
        sa.Column('km_litres', volume, nullable=False),
        sa.Column('km_cost', money, nullable=False),
        sa.Column('low_litres', volume, nullable=False),
        sa.Column('low_cost', money, nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['card.id'], ),
        sa.PrimaryKeyConstraint('card_id', 'month'),
        sqlite_with_rowid=False,
    )
    from store.issuer.month_totals import rebuild_month_totals

    rebuild_month_totals(op.get_bind())


def downgrade() -> None:
    op.drop_table('card_month_total')
