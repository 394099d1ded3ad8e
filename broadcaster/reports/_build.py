"""From the ``message`` table to a ``Report``: a few set-based statements over one snapshot.

1. The cells: one ``GROUP BY`` over district, carrier, status, reason and hour gives every count, the
   segments billed, the first and last send, and the messages submitted and delivered per hour; Python
   rolls them up to districts, carriers, totals and the timeline, so every level adds up by
   construction. (A GROUP BY costs SQLite a sort of every row, so everything that can share that one
   sort does.)
2. Delivery times (``sent_at`` → ``final_at`` of delivered messages, to the millisecond): the median
   and the 95th percentile, exactly as ``percentile_cont`` defines them, for every cell, district,
   carrier and the total. PostgreSQL computes them with ``percentile_cont`` over ``GROUPING SETS``.
   SQLite has no percentile function, so the cells statement also counts delivered messages per
   latency bucket (two significant digits, ``printf('%.1e')``); only the buckets that hold the wanted
   ranks are then read value by value, and the percentiles interpolated from those exact values.
3. The runs' own record (``run.targeted``, written when planning ended) against the messages counted.

Only columns that survive the retention purge are read (never ``msisdn``), so a purged run reports
exactly as before.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine

from audiences import divisions
from broadcaster.logs import mask_text
from broadcaster.models import MessageStatus, RunStatus
from broadcaster.reports._model import (
    SECONDS_DIGITS,
    UNKNOWN_REASON,
    Check,
    HourCount,
    Report,
    ReportError,
    Row,
    Scope,
    rollups,
)
from broadcaster.reports._read import Reader, snapshot, utc

PERCENTILES = (0.5, 0.95)
M = MessageStatus

RUNS_OF_CAMPAIGN = (
    "SELECT id, scheduled_for, status, targeted, planned_at FROM run WHERE campaign_id = :campaign ORDER BY id"
)

# Milliseconds from submission to the final receipt; a receipt recorded before the send (the carrier
# answered first) counts as zero.
_LATENCY_SQLITE = "MAX(0, round((julianday(final_at) - julianday(sent_at)) * 86400000.0))"
_LATENCY_PG = "GREATEST(0, round(EXTRACT(EPOCH FROM (final_at - sent_at)) * 1000))::float8"
_TIMED = f"status = '{M.DELIVERED}' AND sent_at IS NOT NULL AND final_at IS NOT NULL"

_CELLS = f"""
SELECT district_code, carrier, status,
       CASE status WHEN '{M.FAILED}' THEN error_code WHEN '{M.SKIPPED}' THEN skip_reason END AS reason,
       {{bucket}} AS bucket,
       {{sent_hour}} AS sent_hour,
       CASE WHEN status = '{M.DELIVERED}' THEN {{final_hour}} END AS final_hour,
       COUNT(*), COUNT(sent_at), SUM(CASE WHEN sent_at IS NOT NULL THEN segments ELSE 0 END),
       MIN(sent_at), MAX(sent_at),
       MIN(CASE WHEN status = '{M.FAILED}' THEN error_reason END)
FROM message
WHERE run_id IN (:runs)
GROUP BY district_code, carrier, status, reason, bucket, sent_hour, final_hour
"""
_DIALECT = {
    "sqlite": {
        "bucket": f"CASE WHEN {_TIMED} THEN printf('%.1e', {_LATENCY_SQLITE}) END",
        "sent_hour": "substr(sent_at, 1, 13)",
        "final_hour": "substr(final_at, 1, 13)",
    },
    "postgresql": {
        "bucket": "CAST(NULL AS TEXT)",
        "sent_hour": "to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')",
        "final_hour": "to_char(final_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')",
    },
}


class CellRow(NamedTuple):
    """One group of the cells statement."""

    district_code: str
    carrier: str
    status: str
    reason: str | None
    bucket: str | None
    sent_hour: str | None
    final_hour: str | None
    messages: int
    submitted: int
    segments: int | None
    first_sent: Any
    last_sent: Any
    failure_text: str | None


_EXACT_SQLITE = f"""
SELECT district_code, carrier, bucket, latency, COUNT(*)
FROM (SELECT district_code, carrier, {_LATENCY_SQLITE} AS latency,
             printf('%.1e', {_LATENCY_SQLITE}) AS bucket
      FROM message WHERE run_id IN (:runs) AND {_TIMED})
WHERE bucket IN (:buckets)
GROUP BY district_code, carrier, latency
"""

_PERCENTILES_PG = f"""
SELECT district_code, carrier, GROUPING(district_code, carrier),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency)
FROM (SELECT district_code, carrier, {_LATENCY_PG} AS latency
      FROM message WHERE run_id IN (:runs) AND {_TIMED}) AS d
GROUP BY GROUPING SETS ((district_code, carrier), (district_code), (carrier), ())
"""

_PER_RUN = "SELECT run_id, COUNT(*) FROM message WHERE run_id IN (:runs) GROUP BY run_id"


class RunInfo(NamedTuple):
    id: int
    scheduled_for: datetime | None
    status: str
    targeted: int
    """As recorded when planning ended."""
    planned_at: datetime | None


Cell = tuple[str, str]
Group = tuple[str | None, str | None]
"""(district, carrier) with None for "all": a cell, a district, a carrier or the total."""


def build(
    engine: Engine,
    campaign_id: int,
    run_id: int | None = None,
    *,
    now: datetime,
    start: date | None = None,
    end: date | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
    prices: Mapping[str, float] | None = None,
) -> Report:
    """The report of one run, of every run of the campaign, or of the runs scheduled in a period.

    ``start``/``end`` are local dates in ``timezone`` (both included; either may be open). ``prices``
    is VND per segment per carrier (``settings.prices``) for the cost estimate.
    """
    scope = scope_of(run_id, start, end, timezone)
    prices = dict(prices or {})
    with snapshot(engine) as reader:
        name = campaign_name(reader, campaign_id)
        runs = resolve_runs(reader.rows(RUNS_OF_CAMPAIGN, {"campaign": campaign_id}), campaign_id, scope)
        ids = [run.id for run in runs]
        cells = (
            [CellRow(*row) for row in reader.rows(_CELLS.format(**_DIALECT[reader.dialect]), {"runs": ids})]
            if ids
            else []
        )
        percentiles = _percentiles(reader, ids, cells) if ids else {}
        per_run = dict(reader.rows(_PER_RUN, {"runs": ids})) if ids else {}
    rows, unknown = _rows(cells, prices)
    districts, carriers, totals = rollups(rows)
    for group_rows, key in (
        (rows, lambda r: (r.district_code, r.carrier)),
        (districts, lambda r: (r.district_code, None)),
        (carriers, lambda r: (None, r.carrier)),
        ([totals], lambda r: (None, None)),
    ):
        for row in group_rows:
            row.median_delivery_s, row.p95_delivery_s = percentiles.get(key(row), (None, None))
    reason_texts = _reason_texts(cells)
    return Report(
        campaign=campaign_id,
        campaign_name=name,
        runs=ids,
        rows=rows,
        generated_at=now,
        scope=scope,
        districts=districts,
        carriers=carriers,
        totals=totals,
        timeline=_timeline(cells),
        checks=_checks(rows, totals, unknown, runs, per_run),
        runs_in_progress=sum(1 for run in runs if run.status == RunStatus.PLANNING),
        prices=prices,
        reason_texts=reason_texts,
        run_times={run.id: run.scheduled_for for run in runs if run.scheduled_for is not None},
    )


def campaign_name(reader: Reader, campaign_id: int) -> str:
    found = reader.rows("SELECT name FROM campaign WHERE id = :id", {"id": campaign_id})
    if not found:
        msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
        raise ReportError(msg)
    return str(found[0][0])


def scope_of(run_id: int | None, start: date | None, end: date | None, timezone: str) -> Scope:
    if run_id is not None and (start or end):
        msg = "a report covers one run (--run) or a period (--from/--until), not both; drop one of them"
        raise ReportError(msg)
    if start and end and end < start:
        msg = f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()}); swap --from and --until"
        raise ReportError(msg)
    if run_id is not None:
        return Scope(Scope.RUN, run=run_id, timezone=timezone)
    if start or end:
        return Scope(Scope.PERIOD, start=start, end=end, timezone=timezone)
    return Scope(Scope.CAMPAIGN, timezone=timezone)


def resolve_runs(rows: Sequence[tuple[Any, ...]], campaign_id: int, scope: Scope) -> list[RunInfo]:
    """The campaign's runs (rows of ``RUNS_OF_CAMPAIGN``) that the scope covers."""
    runs = [RunInfo(int(r[0]), utc(r[1]), str(r[2]), int(r[3] or 0), utc(r[4])) for r in rows]
    if scope.kind == Scope.RUN:
        chosen = [run for run in runs if run.id == scope.run]
        if not chosen:
            ids = [run.id for run in runs]
            msg = f"run {scope.run} does not belong to campaign {campaign_id} (its runs: {ids or 'none'})"
            raise ReportError(msg)
        return chosen
    if scope.kind == Scope.PERIOD:
        zone = scope.zone
        low = datetime.combine(scope.start, time(), zone).astimezone(UTC) if scope.start else None
        high = datetime.combine(scope.end + timedelta(days=1), time(), zone).astimezone(UTC) if scope.end else None
        return [
            run
            for run in runs
            if run.scheduled_for is not None
            and (low is None or run.scheduled_for >= low)
            and (high is None or run.scheduled_for < high)
        ]
    return runs


def _rows(cells: Sequence[CellRow], prices: Mapping[str, float]) -> tuple[list[Row], Counter[str]]:
    """District × carrier rows from the cells; statuses nobody knows are counted apart (they break the sums)."""
    reference = divisions.load()
    rows: dict[Cell, Row] = {}
    unknown: Counter[str] = Counter()
    for (district_code, carrier, status, reason), (count, submitted, segments, first, last) in _fold(cells).items():
        row = rows.get((district_code, carrier))
        if row is None:
            district = reference.district(district_code)
            row = rows[(district_code, carrier)] = Row(
                district_code, district.name if district else district_code, carrier
            )
        row.targeted += count
        row.submitted += submitted
        row.segments += segments
        if status in M.IN_FLIGHT:
            row.pending += count
        elif status in M.FINAL:
            setattr(row, status, getattr(row, status) + count)
        else:
            unknown[str(status)] += count
        if status == M.SKIPPED:
            key = reason or UNKNOWN_REASON
            row.skipped_by_reason[key] = row.skipped_by_reason.get(key, 0) + count
        elif status == M.FAILED:
            key = reason or UNKNOWN_REASON
            row.failed_by_reason[key] = row.failed_by_reason.get(key, 0) + count
        first_at, last_at = utc(first), utc(last)
        if first_at and (row.first_sent_at is None or first_at < row.first_sent_at):
            row.first_sent_at = first_at
        if last_at and (row.last_sent_at is None or last_at > row.last_sent_at):
            row.last_sent_at = last_at
    for row in rows.values():
        price = prices.get(row.carrier)
        row.cost_vnd = round(row.segments * price) if price is not None else (0 if row.segments == 0 else None)
    return [rows[key] for key in sorted(rows)], unknown


def _fold(cells: Sequence[CellRow]) -> dict[tuple[str, str, str, str | None], list[Any]]:
    """Sum the cells over their buckets and hours: (district, carrier, status, reason) ->
    [messages, submitted, segments, first send, last send] (times as read: they compare as read)."""
    folded: dict[tuple[str, str, str, str | None], list[Any]] = {}
    for cell in cells:
        key = (cell.district_code, cell.carrier, cell.status, cell.reason)
        into = folded.get(key)
        if into is None:
            folded[key] = [
                int(cell.messages),
                int(cell.submitted),
                int(cell.segments or 0),
                cell.first_sent,
                cell.last_sent,
            ]
            continue
        into[0] += int(cell.messages)
        into[1] += int(cell.submitted)
        into[2] += int(cell.segments or 0)
        if cell.first_sent is not None and (into[3] is None or cell.first_sent < into[3]):
            into[3] = cell.first_sent
        if cell.last_sent is not None and (into[4] is None or cell.last_sent > into[4]):
            into[4] = cell.last_sent
    return folded


def _reason_texts(cells: Sequence[CellRow]) -> dict[str, str]:
    """One carrier wording per failure code (the smallest, for determinism), numbers masked."""
    texts: dict[str, str] = {}
    for cell in cells:
        if cell.status == M.FAILED and cell.failure_text:
            code = cell.reason or UNKNOWN_REASON
            text = mask_text(str(cell.failure_text))
            if code not in texts or text < texts[code]:
                texts[code] = text
    return texts


def _timeline(cells: Sequence[CellRow]) -> list[HourCount]:
    submitted: Counter[str] = Counter()
    delivered: Counter[str] = Counter()
    for cell in cells:
        if cell.sent_hour and cell.submitted:
            submitted[cell.sent_hour] += int(cell.submitted)
        if cell.final_hour:
            delivered[cell.final_hour] += int(cell.messages)
    hours: dict[datetime, list[int]] = {}
    for counter, index in ((submitted, 0), (delivered, 1)):
        for text, count in counter.items():
            hours.setdefault(_hour(text), [0, 0])[index] += count
    return [HourCount(hour, *hours[hour]) for hour in sorted(hours)]


def _hour(value: str) -> datetime:
    """``2024-07-30 01`` (or ``2024-07-30T01``) -> that hour in UTC."""
    return datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]), tzinfo=UTC)


def _percentiles(
    reader: Reader, runs: list[int], cells: Sequence[CellRow]
) -> dict[Group, tuple[float | None, float | None]]:
    if reader.dialect == "postgresql":
        result: dict[Group, tuple[float | None, float | None]] = {}
        for district_code, carrier, grouping, median, p95 in reader.rows(_PERCENTILES_PG, {"runs": runs}):
            group: Group = (None if grouping & 2 else district_code, None if grouping & 1 else carrier)
            result[group] = (_seconds(median), _seconds(p95))
        return result
    return _bucketed_percentiles(reader, runs, cells)


def _bucketed_percentiles(
    reader: Reader, runs: list[int], cells: Sequence[CellRow]
) -> dict[Group, tuple[float | None, float | None]]:
    """Exact ``percentile_cont`` from bucket counts plus the exact values of the few buckets needed."""
    per_cell: Counter[tuple[str, str, str]] = Counter()
    for cell in cells:
        if cell.bucket is not None:
            per_cell[(cell.district_code, cell.carrier, cell.bucket)] += int(cell.messages)
    coarse: dict[Group, Counter[str]] = defaultdict(Counter)
    members: dict[Group, set[Cell]] = defaultdict(set)
    for (district_code, carrier, bucket), count in per_cell.items():
        for group in _groups_of((district_code, carrier)):
            coarse[group][bucket] += count
            members[group].add((district_code, carrier))
    # Where each wanted rank falls: (bucket, rank within the bucket).
    wanted: dict[Group, list[tuple[float, list[tuple[str, int]]]]] = {}
    needed: set[str] = set()
    for group, histogram in coarse.items():
        ordered = sorted(histogram, key=float)
        total = sum(histogram.values())
        plans = []
        for p in PERCENTILES:
            position = p * (total - 1)
            low = math.floor(position)
            ranks = [low, min(low + 1, total - 1)]
            located = [_locate(ordered, histogram, rank) for rank in ranks]
            needed.update(bucket for bucket, _ in located)
            plans.append((position - low, located))
        wanted[group] = plans
    exact: dict[tuple[Cell, str], list[tuple[float, int]]] = defaultdict(list)
    if needed:
        for district_code, carrier, bucket, latency, count in reader.rows(
            _EXACT_SQLITE, {"runs": runs, "buckets": sorted(needed)}
        ):
            exact[((district_code, carrier), bucket)].append((float(latency), int(count)))
    result: dict[Group, tuple[float | None, float | None]] = {}
    for group, plans in wanted.items():
        values = []
        for fraction, located in plans:
            low_value, high_value = (_value_at(exact, members[group], bucket, offset) for bucket, offset in located)
            values.append(_seconds(low_value + (high_value - low_value) * fraction))
        result[group] = (values[0], values[1])
    return result


def _groups_of(cell: Cell) -> tuple[Group, ...]:
    return (cell, (cell[0], None), (None, cell[1]), (None, None))


def _locate(ordered: list[str], histogram: Mapping[str, int], rank: int) -> tuple[str, int]:
    seen = 0
    for bucket in ordered:
        if rank < seen + histogram[bucket]:
            return bucket, rank - seen
        seen += histogram[bucket]
    msg = f"rank {rank} beyond {seen} values"  # cannot happen: ranks come from the same counts
    raise AssertionError(msg)


def _value_at(
    exact: Mapping[tuple[Cell, str], list[tuple[float, int]]], cells: set[Cell], bucket: str, offset: int
) -> float:
    values = sorted(pair for cell in cells for pair in exact.get((cell, bucket), ()))
    seen = 0
    for value, count in values:
        seen += count
        if offset < seen:
            return value
    msg = f"bucket {bucket} holds {seen} values, fewer than rank {offset + 1}; was the data changed mid-report?"
    raise ReportError(msg)


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(float(milliseconds) / 1000, SECONDS_DIGITS)


def _checks(
    rows: Sequence[Row],
    totals: Row,
    unknown: Counter[str],
    runs: Sequence[RunInfo],
    per_run: Mapping[int, int],
) -> list[Check]:
    checks = []
    if unknown:
        listed = ", ".join(f"{status!r}: {n}" for status, n in sorted(unknown.items()))
        checks.append(Check("statuses", False, f"messages with a status no report knows ({listed})"))
    else:
        checks.append(Check("statuses", True, "every message has a known status"))
    broken = [r for r in rows if not r.reconciles]
    if broken or not totals.reconciles:
        where = ", ".join(f"{r.district_code}/{r.carrier}" for r in broken[:5]) or "totals"
        checks.append(
            Check(
                "buckets", False, f"targeted ≠ delivered + failed + expired + skipped + cancelled + pending at {where}"
            )
        )
    else:
        checks.append(
            Check(
                "buckets",
                True,
                f"targeted {totals.targeted} = delivered {totals.delivered} + failed {totals.failed} "
                f"+ expired {totals.expired} + skipped {totals.skipped} + cancelled {totals.cancelled} "
                f"+ pending {totals.pending}",
            )
        )
    mismatched = [
        f"run {run.id}: planned {run.targeted}, counted {per_run.get(run.id, 0)}"
        for run in runs
        if run.planned_at is not None and run.targeted != per_run.get(run.id, 0)
    ]
    if mismatched:
        checks.append(Check("planned", False, "; ".join(mismatched)))
    else:
        checks.append(Check("planned", True, "every planned run still holds the messages it was planned with"))
    return checks
