"""user totp_last_step: a one-time code is accepted once (replay protection)

`app_user.totp_last_step` is the RFC 6238 time step (Unix time // 30) of the last one-time code accepted for
the user; a code of that step or an earlier one is refused (store.services.users.claim_totp_step). Empty for
every existing user: their next code is accepted as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
