"""Alembic environment: the engine comes from store.migrate (or CARDSONLINE_DATABASE_URL for the alembic CLI)."""
from alembic import context

from store import models  # noqa: F401  (registers every table)
from store.db import make_engine
from store.migrate import include_name, include_object
from sqlmodel import SQLModel

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or make_engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
            compare_type=True,
            include_name=include_name,
            include_object=include_object,
        )
        context.run_migrations()


run_migrations_online()
