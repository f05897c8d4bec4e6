"""card_text: a trigram full-text index over the searchable text of cards (SQLite only)

The quick search finds text anywhere in a card number, plate, name or driver ("contains"), which no B-tree
index serves: on 100,000 cards a rare text meant reading them all. FTS5's trigram tokenizer answers
"which cards contain this text" from an index; store.queries.card_filter uses it to narrow the search when
it has few candidates. Triggers keep it in step with `card`. PostgreSQL has no table here: its planner
scans with statistics, and pg_trgm could serve the same role later.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:20:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = "number, plate, plate_compact, embossed_name, driver_name"


def _values(row: str) -> str:
    return (f"{row}.number, {row}.license_plate, replace({row}.license_plate, '-', ''), {row}.embossed_name, "
            f"{row}.driver_name")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE VIRTUAL TABLE card_text USING fts5({COLUMNS}, tokenize='trigram')")
    op.execute(f"INSERT INTO card_text (rowid, {COLUMNS}) SELECT id, {_values('card')} FROM card")
    op.execute(f"CREATE TRIGGER card_text_insert AFTER INSERT ON card BEGIN "
               f"INSERT INTO card_text (rowid, {COLUMNS}) VALUES (new.id, {_values('new')}); END")
    op.execute("CREATE TRIGGER card_text_delete AFTER DELETE ON card BEGIN "
               "DELETE FROM card_text WHERE rowid = old.id; END")
    op.execute(f"CREATE TRIGGER card_text_update AFTER UPDATE OF number, license_plate, embossed_name, "
               f"driver_name ON card BEGIN DELETE FROM card_text WHERE rowid = old.id; "
               f"INSERT INTO card_text (rowid, {COLUMNS}) VALUES (new.id, {_values('new')}); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("card_text_update", "card_text_delete", "card_text_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS card_text")
