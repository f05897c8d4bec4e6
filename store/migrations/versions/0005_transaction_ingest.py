"""transaction ingest: product blocks, and (card, time) indexes for the anomaly checks

`card_product_block`: a limit with the action *block* was exceeded, so that product is blocked for the card
until the limit's period ends (store.issuer.anomaly_rules). The two (card, time) indexes serve the history the
import reads per batch: a card's transactions of the current period and its last odometer reading.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import store.models.base

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PRODUCTS = ('diesel', 'petrol 95', 'petrol 98', 'lpg', 'cng', 'adblue', 'ev charging', 'car wash', 'shop',
            'lubricants', 'parking', 'tolls')


def upgrade() -> None:
    op.create_table(
        'card_product_block',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('product', sa.Enum(*PRODUCTS, name='product', native_enum=False, create_constraint=False,
                                     length=32), nullable=False),
        sa.Column('blocked_from', store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('until', store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('anomaly_id', sa.Integer(), nullable=True),
        sa.Column('created_at', store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['anomaly_id'], ['anomaly.id'], ),
        sa.ForeignKeyConstraint(['card_id'], ['card.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('card_product_block', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_product_block_anomaly_id'), ['anomaly_id'], unique=False)
        batch_op.create_index('ix_card_product_block_card_until', ['card_id', 'until'], unique=False)
    with op.batch_alter_table('fuel_transaction', schema=None) as batch_op:
        batch_op.create_index('ix_fuel_transaction_card_time', ['card_id', 'occurred_at'], unique=False)
    with op.batch_alter_table('toll_transaction', schema=None) as batch_op:
        batch_op.create_index('ix_toll_transaction_card_time', ['card_id', 'exit_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('toll_transaction', schema=None) as batch_op:
        batch_op.drop_index('ix_toll_transaction_card_time')
    with op.batch_alter_table('fuel_transaction', schema=None) as batch_op:
        batch_op.drop_index('ix_fuel_transaction_card_time')
    with op.batch_alter_table('card_product_block', schema=None) as batch_op:
        batch_op.drop_index('ix_card_product_block_card_until')
        batch_op.drop_index(batch_op.f('ix_card_product_block_anomaly_id'))
    op.drop_table('card_product_block')
