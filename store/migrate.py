"""Alembic, driven from code: `upgrade(engine)` brings any database to the head revision."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate leaves out SQLite's trigram index `card_text` (and FTS5's shadow tables): raw SQL of
    migration 0004, not a model."""
    return not (type_ == "table" and name is not None and (name == "card_text" or name.startswith("card_text_")))


def include_object(item: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Autogenerate leaves out the expression indexes of migration 0003 on both sides: PostgreSQL reflects
    their expressions rewritten, so they never compare equal (tests/store/test_migrations.py checks that they
    exist)."""
    return not (type_ == "index" and name is not None and name.startswith("ix_card_sort_"))
