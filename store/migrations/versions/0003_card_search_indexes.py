"""card search indexes: one per sortable column of Manage cards and OBUs, and two for counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:50:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Written exactly as store.models.cards.CARD_SEARCH_INDEXES (and the query) write them.
INDEXES = (
    ("ix_card_sort_plate", ["customer_number_id", sa.text("coalesce(license_plate, embossed_name, '')"), "id"]),
    ("ix_card_sort_number", ["customer_number_id", sa.text("coalesce(number, '')"), "id"]),
    ("ix_card_sort_expiry", ["customer_number_id", sa.text("coalesce(expiry_date, '9999-12-31')"), "id"]),
    ("ix_card_sort_last_use",
     ["customer_number_id", sa.text("coalesce(last_used_at, '0001-01-01 00:00:00.000000')"), "id"]),
    ("ix_card_sort_created",
     ["customer_number_id", sa.text("coalesce(created_at, '0001-01-01 00:00:00.000000')"), "id"]),
    ("ix_card_sort_driver", ["customer_number_id", sa.text("coalesce(driver_name, '')"), "id"]),
    ("ix_card_number_status", ["customer_number_id", "status", "id"]),
    ("ix_card_number_expiry", ["customer_number_id", "expiry_date"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "card", columns)


def downgrade() -> None:
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="card")
