"""The database layer: readers and writers of one SQLite file do not queue behind each other."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from broadcaster import db


def test_a_reader_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """While a writer holds the lock, ``reading()`` answers at once with the last committed state
    (a plain connection would wait for the writer, up to the 30-second busy timeout)."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    answers: list[int] = []

    def read() -> None:
        with db.reading(engine) as conn:
            answers.append(conn.execute(text("SELECT COUNT(*) FROM t")).scalar_one())

    with engine.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock until the block ends
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(10)
        assert answers == [1]
    with db.reading(engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 2
    engine.dispose()
