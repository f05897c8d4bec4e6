"""An executemany without SQLAlchemy's per-row parameter work, for the import's big batches (issue 8).

`connection.execute(statement, rows)` builds each row's parameters through the compiled statement
(construct_params: about a sixth of a daily import's CPU). On SQLite the statement is compiled once per set of
keys here, and each row becomes a tuple through the same bind processors SQLAlchemy would apply (enums to their
value, UTC datetimes to naive UTC, Numeric to float), sent with the driver's executemany: the same SQL and the
same values. Other databases take the ordinary path.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from enum import Enum as PyEnum
from operator import itemgetter
from typing import Any, Callable

from sqlalchemy import Date, Enum
from sqlalchemy.engine import Connection

from ..models.base import UTCDateTime

_COMPILED: dict[tuple, tuple] = {}  # (key, dialect, row keys): (SQL, row getter, (position, processor)...)


def executemany(connection: Connection, key: str, statement: Any | Callable[[], Any], rows: list[dict]) -> None:
    """Run `statement` once per row of `rows` (dicts with the same keys). `key` names the statement (it is
    compiled once per key, dialect and set of row keys); `statement` may be a callable that makes it."""
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name != "sqlite":
        connection.execute(statement() if callable(statement) else statement, rows)
        return
    names = tuple(rows[0])
    cache_key = (key, dialect.name, names)
    entry = _COMPILED.get(cache_key)
    if entry is None:
        compiled = (statement() if callable(statement) else statement).compile(dialect=dialect,
                                                                               column_keys=list(names))
        processors, order = dict(compiled._bind_processors), compiled.positiontup
        for name in order:  # the same values from C calls where SQLAlchemy's processors are Python
            kind = compiled.binds[name].type
            if isinstance(kind, UTCDateTime):
                processors[name] = _sqlite_utc
            elif isinstance(kind, Enum) and kind.enum_class is not None and processors.get(name) is not None:
                processors[name] = _enum_value(processors[name], kind.enum_class)
            elif type(kind) is Date and processors.get(name) is not None:
                processors[name] = _sqlite_date
        # itemgetter of one name returns the value, not a 1-tuple: wrap it.
        getter = itemgetter(*order) if len(order) > 1 else (lambda row, name=order[0]: (row[name],))
        entry = _COMPILED[cache_key] = (compiled.string, getter, tuple(
            (index, processors[name]) for index, name in enumerate(order) if processors.get(name) is not None))
    sql, getter, processed = entry
    if not processed:
        params = [getter(row) for row in rows]
    else:
        params = []
        for row in rows:
            values = list(getter(row))
            for index, processor in processed:
                values[index] = processor(values[index])
            params.append(tuple(values))
    connection.exec_driver_sql(sql, params)


_UTC = timezone.utc


def _sqlite_utc(value: datetime | None) -> str | None:
    """What UTCDateTime and SQLite's DATETIME make of an aware datetime (naive UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'),
    in one C call instead of two Python ones (the import binds a few per row)."""
    if value is None:
        return None
    if value.tzinfo is not _UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use store.db clock times")
        value = value.astimezone(_UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00


def _sqlite_date(value: date | None) -> str | None:
    """SQLite's DATE as SQLAlchemy writes it (YYYY-MM-DD)."""
    return None if value is None else value.isoformat()


def _enum_value(processor: Callable[[Any], Any], enum_class: type[PyEnum]) -> Callable[[Any], Any]:
    """A member of `enum_class` as its stored value (store.models.base.enum_type stores values); anything else
    (text, None) through SQLAlchemy's own processor, which checks it."""
    values = {member: member.value for member in enum_class}
    get = values.get

    def process(value: Any) -> Any:
        stored = get(value)
        return processor(value) if stored is None else stored
    return process
