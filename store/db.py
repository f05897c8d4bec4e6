"""Engine and sessions from one URL, SQLite pragmas, and the injectable clock."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

# SQLAlchemy and SQLModel take about a second to import here: they load on first use, so the TUI can
# paint its login screen first (see benchmarks/startup.py).
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

DATABASE_URL_ENV = "CARDSONLINE_DATABASE_URL"
APP_NAME = "cardsonline"


class Clock(Protocol):
    def now(self) -> datetime:  # timezone-aware UTC
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass
class FixedClock:
    """A clock that only moves when told: tests, demos and `--now` batch runs."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    return f"sqlite:///{data_dir() / 'cardsonline.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite.

    Parsed by hand: the CLI asks this at start-up, before SQLAlchemy is worth importing.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///relative.db, sqlite:////absolute.db
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 32 MB of page cache instead of 2: a transaction that touches many pages (the daily import updates
    # thousands of cards and month totals) then neither re-reads them nor spills dirty ones to the WAL early.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    from sqlalchemy import event
    from sqlmodel import create_engine

    url = url or default_database_url()
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """One database: its engine (made on first use), a session factory and the clock every rule reads."""

    def __init__(self, url: str | None = None, clock: Clock | None = None, engine: Engine | None = None):
        self.url = url or default_database_url()
        if engine is not None:
            self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)

    def session(self) -> Session:
        from sqlmodel import Session

        from .services import card_history  # noqa: F401  (registers the configuration history's safety net)

        return Session(self.engine, expire_on_commit=False)

    def ensure_schema(self) -> None:
        """Bring the schema to the newest migration, once per process (threads wait for the first)."""
        with self._schema_lock:
            if not self._schema_ready:
                from .migrate import upgrade

                upgrade(self.engine)
                self._schema_ready = True

    def is_empty(self) -> bool:
        from sqlalchemy import inspect

        return not inspect(self.engine).has_table("customer")

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
