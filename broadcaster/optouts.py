"""Opt-outs: numbers that must never be messaged, in any campaign.

Opted-out numbers stay in their audiences; the planner turns them into ``skipped`` messages with the
reason ``opted_out``, so the report still accounts for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from audiences import phones, readers
from broadcaster.models import OptOut, utcnow

CHUNK = 1000


@dataclass
class OptOutSummary:
    rows: int = 0
    added: int = 0
    already: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    """(row number, raw value, message) for values that are not mobile numbers."""


def add(engine: Engine, values: Iterable[tuple[int, str]], source: str) -> OptOutSummary:
    """Add (row number, raw number) pairs; invalid numbers are reported, known ones counted."""
    summary = OptOutSummary()
    chunk: dict[str, None] = {}
    for row_number, raw in values:
        summary.rows += 1
        phone = phones.normalize(raw)
        if isinstance(phone, phones.Rejection):
            summary.rejected.append((row_number, raw, phone.message))
            continue
        chunk[phone.msisdn] = None
        if len(chunk) >= CHUNK:
            _insert(engine, list(chunk), source, summary)
            chunk = {}
    _insert(engine, list(chunk), source, summary)
    summary.already = summary.rows - len(summary.rejected) - summary.added
    return summary


def import_file(engine: Engine, path: Path) -> OptOutSummary:
    with readers.open_sheet(path) as sheet:
        column = sheet.columns.phone
        return add(engine, ((n, row.get(column, "")) for n, row in sheet.rows()), f"file:{path.name}")


def _insert(engine: Engine, numbers: list[str], source: str, summary: OptOutSummary) -> None:
    if not numbers:
        return
    table = OptOut.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    now = utcnow()
    statement = (
        dialect.insert(table)
        .values([{"msisdn": n, "since": now, "source": source} for n in numbers])
        .on_conflict_do_nothing(index_elements=["msisdn"])
        .returning(table.c.msisdn)
    )
    with engine.begin() as conn:
        summary.added += len(conn.execute(statement).all())
