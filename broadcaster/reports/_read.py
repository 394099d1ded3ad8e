"""Consistent, non-blocking reads for reports: one snapshot for all the statements of a report.

On SQLite the engine begins every transaction with ``BEGIN IMMEDIATE`` (``broadcaster.db``), which
takes the write lock; a report that held it for seconds would stall the dispatch workers. Reports
therefore read through the raw connection inside a plain (deferred) ``BEGIN``: in WAL mode that is a
snapshot that blocks no writer. On PostgreSQL a ``REPEATABLE READ, READ ONLY`` transaction gives the
same snapshot. Both speak the same dialect-neutral statements (``:name`` parameters; a list
parameter is written ``IN (:name)`` and expanded here).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text

_CURSORS = itertools.count(1)
SQLITE_SORT_THREADS = 4
"""Worker threads SQLite may use to sort the rows of a GROUP BY (reset when the report is done)."""


class Reader(Protocol):
    dialect: str

    def rows(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def stream(
        self, statement: str, params: Mapping[str, Any] | None = None, *, batch: int = 5000
    ) -> Iterator[tuple[Any, ...]]: ...


def expand(statement: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``IN (:runs)`` with ``runs=[1, 2]`` -> ``IN (:runs_0, :runs_1)``; an empty list matches nothing."""
    flat: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            names = [f"{name}_{i}" for i in range(len(value))]
            flat.update(zip(names, value, strict=True))
            replacement = ", ".join(f":{n}" for n in names) if names else "NULL"
            statement = re.sub(rf":{name}\b", replacement, statement)
        else:
            flat[name] = value
    return statement, flat


class _SqliteReader:
    dialect = "sqlite"

    def __init__(self, dbapi: Any) -> None:
        self._dbapi = dbapi

    def rows(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        sql, flat = expand(statement, params)
        cursor = self._dbapi.cursor()
        try:
            return list(cursor.execute(sql, flat).fetchall())
        finally:
            cursor.close()

    def stream(
        self, statement: str, params: Mapping[str, Any] | None = None, *, batch: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        sql, flat = expand(statement, params)
        cursor = self._dbapi.cursor()
        cursor.arraysize = batch
        try:
            cursor.execute(sql, flat)
            while chunk := cursor.fetchmany(batch):
                yield from chunk
        finally:
            cursor.close()


class _PostgresReader:
    dialect = "postgresql"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        sql, flat = expand(statement, params)
        return [tuple(row) for row in self._conn.execute(text(sql), flat)]

    def stream(
        self, statement: str, params: Mapping[str, Any] | None = None, *, batch: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows through a named (server-side) cursor inside the snapshot's transaction.

        psycopg's own named cursor, fetched ``batch`` rows at a time: SQLAlchemy's ``stream_results``
        with psycopg 3 was seen to buffer the whole result (hundreds of MB for a million rows).
        """
        sql, flat = expand(statement, params)
        compiled = text(sql).compile(dialect=self._conn.dialect)
        dbapi: Any = self._conn.connection.driver_connection
        cursor = dbapi.cursor(name=f"report_{next(_CURSORS)}")
        try:
            cursor.execute(str(compiled), flat)
            while chunk := cursor.fetchmany(batch):
                yield from chunk
        finally:
            cursor.close()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Reader]:
    """A read-only snapshot of the database for the statements of one report; nothing is written."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        dbapi: Any = raw.driver_connection
        try:
            dbapi.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")
            dbapi.execute("BEGIN")
            yield _SqliteReader(dbapi)
        finally:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            dbapi.execute("PRAGMA threads=0")
            raw.close()
        return
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield _PostgresReader(conn)


def utc(value: Any) -> datetime | None:
    """A timestamp as read (a string on SQLite, a datetime on PostgreSQL) -> aware UTC datetime."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
