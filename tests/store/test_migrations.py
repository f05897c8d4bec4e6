"""The Alembic migrations build exactly the schema the models describe, on every backend."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from store.db import make_engine
from store.migrate import alembic_config, current_revision, include_name, include_object, upgrade


def test_head_matches_the_models(db):
    upgrade(db.engine)  # a second upgrade is a no-op
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name,
                                                             "include_object": include_object})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert current_revision(db.engine) is not None


def test_sqlite_file_gets_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'app.db'}")  # the folder is created too
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def demo_at_revision(tmp_path, clock, revision: str, cards: int = 10):
    """A database at `revision` holding the demo, as far as that revision's tables and columns hold it: the demo
    is written by today's code at the head, then copied over (today's models can't write into an old schema).
    Returns the Database and the demo's (users, cards, invoices) counts."""
    import sqlalchemy as sa

    from store.db import Database
    from store.demo import build_demo

    source = Database(f"sqlite:///{tmp_path / 'demo.db'}", clock=clock)
    upgrade(source.engine)
    build_demo(source, cards=cards)
    counts = "SELECT (SELECT count(*) FROM app_user), (SELECT count(*) FROM card), (SELECT count(*) FROM invoice)"
    with source.engine.connect() as connection:
        demo_counts = tuple(connection.exec_driver_sql(counts).one())
    source.dispose()
    database = Database(f"sqlite:///{tmp_path / 'old.db'}", clock=clock)
    upgrade(database.engine, revision)
    old = sa.MetaData()
    old.reflect(database.engine)
    with database.engine.connect() as connection:
        # Full-text tables and their shadow tables are filled by triggers on the copied rows.
        virtual = [row[0] for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]
        connection.exec_driver_sql(f"ATTACH DATABASE '{tmp_path / 'demo.db'}' AS demo")
        for table in old.sorted_tables:  # parents first: the foreign keys hold at every insert
            if table.name == "alembic_version" or any(table.name == name or table.name.startswith(name + "_")
                                                      for name in virtual):
                continue
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            connection.exec_driver_sql(f'INSERT INTO main."{table.name}" ({columns}) '
                                       f'SELECT {columns} FROM demo."{table.name}"')
        connection.commit()
        connection.exec_driver_sql("DETACH DATABASE demo")
    return database, demo_counts


def test_upgrade_from_the_first_revision_keeps_the_data(tmp_path, clock):
    """A database still at the first revision, holding the demo (demo_at_revision), comes through every
    migration with its rows; a column added since is empty."""
    database, demo_counts = demo_at_revision(tmp_path, clock, "0001")
    counts = "SELECT (SELECT count(*) FROM app_user), (SELECT count(*) FROM card), (SELECT count(*) FROM invoice)"
    upgrade(database.engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and current_revision(database.engine) == head
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM app_user").scalar() == 4
        assert tuple(connection.exec_driver_sql(counts).one()) == demo_counts
        assert connection.exec_driver_sql("SELECT count(*) FROM app_user WHERE totp_last_step IS NOT NULL").scalar() == 0
        # Migration 0007 (its own frozen copy of the snapshot) gave every card one version: its configuration as
        # the application writes it today, valid from the card's creation.
        from store.services.card_history import _current_snapshots

        versions = connection.exec_driver_sql(
            "SELECT card_id, count(*), min(config), min(valid_from) FROM card_config_version GROUP BY card_id").all()
        current = _current_snapshots(connection, [row[0] for row in versions])
        assert len(versions) == demo_counts[1] > 0 and {row[1] for row in versions} == {1}
        assert {row[0]: row[2] for row in versions} == {card_id: config for card_id, (config, _c) in current.items()}
    database.dispose()


def test_the_card_search_indexes_exist(db):
    """The expression indexes that autogenerate cannot compare (see store.migrate.include_name) are there,
    on the columns the models name."""
    from store.models.cards import CARD_SEARCH_INDEXES

    upgrade(db.engine)
    sqlite = db.engine.dialect.name == "sqlite"
    # The inspector leaves expression indexes out on SQLite: ask the catalogue.
    catalogue = ("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'card'" if sqlite
                 else "SELECT indexname FROM pg_indexes WHERE tablename = 'card'")
    with db.engine.connect() as connection:
        present = set(connection.exec_driver_sql(catalogue).scalars())
        assert {index.name for index in CARD_SEARCH_INDEXES} <= present
        if sqlite:
            assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'card_text'").scalar()
