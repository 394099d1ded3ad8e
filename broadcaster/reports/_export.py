"""The message-level export for an audit: one CSV line per message, streamed, numbers masked.

Rows come through a server-side cursor (PostgreSQL) or a plain cursor read in chunks (SQLite), inside
the same non-blocking snapshot as the reports, and go straight to the file: memory does not grow with
the run. Phone numbers are masked (``+8491****678``) unless the caller asks for them with
``reveal=True``, which is recorded as an ``AuditEvent`` naming who asked. Numbers already purged by
the retention sweep are empty either way.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from audiences import divisions
from audiences.phones import mask
from broadcaster.logs import mask_text
from broadcaster.models import AuditEvent, utcnow
from broadcaster.reports._build import RUNS_OF_CAMPAIGN, campaign_name, resolve_runs, scope_of
from broadcaster.reports._model import ReportError
from broadcaster.reports._read import snapshot

COLUMNS = (
    "message_id",
    "run_id",
    "district_code",
    "district",
    "carrier",
    "msisdn",
    "status",
    "skip_reason",
    "error_code",
    "error_reason",
    "attempts",
    "segments",
    "route",
    "provider_id",
    "queued_at",
    "sent_at",
    "final_at",
)
# Timestamps leave the database as UTC text to the second ("2024-07-30 01:15:03"): converting text
# through a cache is far cheaper than a datetime per value, and many messages share a second.
_MESSAGES = (
    "SELECT id, run_id, district_code, carrier, msisdn, status, skip_reason, error_code, error_reason, "
    "attempts, segments, route, provider_id, {queued_at}, {sent_at}, {final_at} "
    "FROM message WHERE run_id IN (:runs) ORDER BY id"
)
_SECOND = {
    "sqlite": "substr({column}, 1, 19)",
    "postgresql": "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
}
CACHE_LIMIT = 500_000
BATCH = 5000


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    messages: int
    runs: list[int]
    revealed: bool


def export_messages(
    engine: Engine,
    campaign_id: int,
    path: Path,
    *,
    run_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
    reveal: bool = False,
    actor: str | None = None,
) -> ExportSummary:
    """Write every message of the scope (one run, the campaign, or a period) to ``path`` as CSV.

    With ``reveal=True`` the numbers are written in full; ``actor`` (who asked) is then required and
    recorded in the audit log before the file is written.
    """
    if reveal and not actor:
        msg = "exporting unmasked phone numbers is recorded in the audit log: say who you are (--as NAME)"
        raise ReportError(msg)
    scope = scope_of(run_id, start, end, timezone)
    zone = scope.zone
    path.parent.mkdir(parents=True, exist_ok=True)
    counted = [0]
    with snapshot(engine) as reader:
        name = campaign_name(reader, campaign_id)
        runs = resolve_runs(reader.rows(RUNS_OF_CAMPAIGN, {"campaign": campaign_id}), campaign_id, scope)
        ids = [run.id for run in runs]
        if reveal:
            _audit(engine, actor or "", campaign_id, name, ids, path)
        names = _district_names()
        # The BOM by hand: the utf-8-sig codec encodes in Python, a call per line.
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write("\ufeff")
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            if ids:
                local = _LocalTime(zone)
                second = _SECOND[reader.dialect]
                statement = _MESSAGES.format(
                    **{column: second.format(column=column) for column in ("queued_at", "sent_at", "final_at")}
                )
                writer.writerows(
                    _lines(reader.stream(statement, {"runs": ids}, batch=BATCH), names, local, reveal, counted)
                )
    return ExportSummary(path=path, messages=counted[0], runs=ids, revealed=reveal)


def _lines(
    rows: Iterable[tuple[Any, ...]], names: dict[str, str], local: _LocalTime, reveal: bool, counted: list[int]
) -> Iterator[tuple[Any, ...]]:
    """CSV lines of message rows (one generator for ``writerows``: a million calls cost seconds)."""
    known = local.seen
    for (mid, run, district_code, carrier, msisdn, status, skip, code, reason, attempts, segments, route,
         provider, queued, sent, final) in rows:  # fmt: skip
        if reveal:
            number, text = msisdn or "", reason or ""
        else:
            number = mask(msisdn) if msisdn else ""
            text = mask_text(reason) if reason else ""
        counted[0] += 1
        yield (
            mid, run, district_code, names.get(district_code, district_code), carrier, number, status, skip or "",
            code or "", text, attempts, segments, route or "", provider or "",
            known.get(queued) or local(queued), known.get(sent) or local(sent), known.get(final) or local(final),
        )  # fmt: skip


class _LocalTime:
    """``"2024-07-30 01:15:03"`` (UTC) -> ``"2024-07-30T08:15:03+07:00"``, remembered per second."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self.seen: dict[str | None, str] = {None: ""}
        """Converted values (look here first: a dictionary lookup is cheaper than a call)."""

    def __call__(self, value: str | None) -> str:
        if not value:
            return ""
        found = self.seen.get(value)
        if found is None:
            if len(self.seen) >= CACHE_LIMIT:
                self.seen.clear()
                self.seen[None] = ""
            moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
            found = self.seen[value] = moment.astimezone(self._zone).isoformat(timespec="seconds")
        return found


def _district_names() -> dict[str, str]:
    reference = divisions.load()
    return {d.code: d.name for p in reference.provinces() for d in reference.districts(p.code)}


def _audit(engine: Engine, actor: str, campaign_id: int, name: str, runs: list[int], path: Path) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            AuditEvent(
                at=utcnow(),
                actor=actor,
                action="report.export_unmasked",
                object_type="campaign",
                object_id=str(campaign_id),
                after={"campaign": name, "runs": runs, "file": str(path)},
            )
        )
