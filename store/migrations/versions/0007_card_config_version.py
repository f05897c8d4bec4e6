"""card configuration versions: the configuration in force at a transaction's time (issue 8)

`card_config_version` keeps what the anomaly rules read of a card (limits, controls, status, plastics) from
`valid_from` to `valid_to` (store.services.card_history). Each existing card gets one version: its current
configuration, valid from its creation (or the epoch when unknown).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 04:00:00
"""
from typing import Sequence, Union

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
    from store.services.card_history import backfill_versions

    backfill_versions(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('card_config_version', schema=None) as batch_op:
        batch_op.drop_index('ix_card_config_version_card_from')
    op.drop_table('card_config_version')
