"""Engines, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, so the API,
the scheduler and the dispatch workers of one process can share the file. PostgreSQL goes through
psycopg 3. The schema is owned by Alembic: ``migrate()`` brings any database to the newest revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "broadcaster_read_only"


class DatabaseError(Exception):
    """The database cannot be reached or used; the message says which one and what to check."""


def normalise_url(url: str) -> str:
    """Plain ``postgresql://`` URLs use psycopg 3, the driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins: BEGIN IMMEDIATE (a writer
        # waits for the lock at its start, never fails half way), plain BEGIN for ``reading()``.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only. On SQLite it does not take the write lock, so readers (monitors,
    pollers, dashboards) never queue behind, or hold up, the writers. Write with ``engine.begin()``."""
    with engine.connect() as conn:
        yield conn.execution_options(**{READ_ONLY: True})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly (see make_engine)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (the service does this on start)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            msg = f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
            raise DatabaseError(msg) from exc
        raise


def session(engine: Engine) -> Session:
    """A session for one use case; the caller owns the transaction (``with session.begin():``)."""
    return Session(engine, expire_on_commit=False)
