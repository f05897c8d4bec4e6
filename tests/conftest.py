"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
CARDSONLINE_TEST_DATABASE_URL is set) with a fixed clock."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

from pathlib import Path

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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One SQLite file migrated to the head; each test gets a copy (migrating per test is slow)."""
    from store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    engine.dispose()
    return path


@pytest.fixture
def database_url(tmp_path, request) -> str:
    url = os.environ.get(TEST_DATABASE_URL_ENV)
    if url:
        engine = make_engine(url)
        _reset_postgres(engine)
        engine.dispose()
        return url
    path = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url, clock):
    """An empty database at the schema head, built by the Alembic migrations."""
    from store.migrate import upgrade

    database = Database(database_url, clock=clock)
    if os.environ.get(TEST_DATABASE_URL_ENV):
        upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(db):
    with db.session() as s:
        yield s


@pytest.fixture
def cheap_password_hashing(monkeypatch):
    """argon2 with tiny cost parameters, for flows that log in many times (the cost is not what they test)."""
    from argon2 import PasswordHasher

    import store.services.passwords as passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", None)


@pytest.fixture
def demo_db(db):
    """The `db` fixture (fixed clock) holding a small demo: fleetadmin, depot, accounting, intern, 20 cards."""
    from store.demo import build_demo

    build_demo(db, cards=20)
    return db
