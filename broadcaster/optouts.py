"""Opt-outs: numbers that must never be messaged, in any campaign.

Opted-out numbers stay in their audiences; the planner turns them into ``skipped`` messages with the
reason ``opted_out``, so the report still accounts for them. A number is stored once (E.164), so
For example ``0912 345 678`` and ``+84912345678`` are the same opt-out; adding it again changes nothing.
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
REJECTED_LISTED = 1000
"""At most this many invalid values are kept in the summary (all are counted)."""
SOURCE_MAX = 40  # OptOut.source


@dataclass
class OptOutSummary:
    rows: int = 0
    added: int = 0
    already: int = 0
    """Valid numbers that were opted out before (or earlier in the same input)."""
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    """(row number, raw value, message) of the first REJECTED_LISTED values that are not mobile numbers."""
    rejected_count: int = 0


def add(engine: Engine, values: Iterable[tuple[int, str]], source: str) -> OptOutSummary:
    """Opt out (row number, raw number) pairs; invalid numbers are reported, known ones counted."""
    source = source[:SOURCE_MAX]
    summary = OptOutSummary()
    chunk: dict[str, None] = {}
    for row_number, raw in values:
        summary.rows += 1
        phone = phones.normalize(raw)
        if isinstance(phone, phones.Rejection):
            summary.rejected_count += 1
            if len(summary.rejected) < REJECTED_LISTED:
                summary.rejected.append((row_number, raw, phone.message))
            continue
        chunk[phone.msisdn] = None
        if len(chunk) >= CHUNK:
            _insert(engine, list(chunk), source, summary)
            chunk = {}
    _insert(engine, list(chunk), source, summary)
    summary.already = summary.rows - summary.rejected_count - summary.added
    return summary


def import_file(engine: Engine, path: Path) -> OptOutSummary:
    """Opt out every number in the phone column of a CSV or XLSX file (raises readers.ReadError)."""
    with readers.open_sheet(path) as sheet:
        column = sheet.columns.phone
        return add(engine, ((n, row[column]) for n, row in sheet.rows()), f"file:{path.name}")


def _insert(engine: Engine, numbers: list[str], source: str, summary: OptOutSummary) -> None:
    if not numbers:
        return
    table = OptOut.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["msisdn"]).returning(table.c.msisdn)
    now = utcnow()
    with engine.begin() as conn:
        added = conn.execute(statement, [{"msisdn": n, "since": now, "source": source} for n in numbers]).all()
    summary.added += len(added)
