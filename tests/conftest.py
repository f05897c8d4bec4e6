"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
CARDSONLINE_TEST_DATABASE_URL is set) with a fixed clock."""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from store import models  # noqa: F401
from store.db import Database, FixedClock, make_engine

TEST_DATABASE_URL_ENV = "CARDSONLINE_TEST_DATABASE_URL"
START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def _reset_postgres(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def database_url(tmp_path) -> str:
    url = os.environ.get(TEST_DATABASE_URL_ENV)
    if url:
        engine = make_engine(url)
        _reset_postgres(engine)
        engine.dispose()
        return url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def db(database_url, clock):
    """An empty database at the schema head, built by the Alembic migrations."""
    from store.migrate import upgrade

    database = Database(database_url, clock=clock)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(db):
    with db.session() as s:
        yield s
