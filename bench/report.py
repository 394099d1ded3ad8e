"""Compliance reports on a synthetic run of a million messages (SQLite; optionally PostgreSQL).

The run is written straight into the real schema with one ``INSERT … SELECT`` (a recursive CTE on
SQLite, ``generate_series`` on PostgreSQL): nine districts of Tây Ninh, seven carriers in market
shares, every final status, skip reasons and carrier error codes, sends spread over eight hours and
delivery times from a second to an hour. Then it times:

- the aggregate reports: one ``reports.build`` and the JSON, HTML and XLSX files written from it
  (``aggregate_s``; goal ≤ 5 s), and, for comparison, three separate builds as three CLI calls would do
  (``aggregate_three_builds_s``);
- the message-level CSV export (``messages_csv_s``; goal ≤ 15 s).

    .venv/bin/python bench/report.py                 # 1,000,000 messages, SQLite
    .venv/bin/python bench/report.py --quick         # 100,000 messages (well under a minute)
    .venv/bin/python bench/report.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from broadcaster import db, reports  # noqa: E402
from broadcaster.models import Audience, Campaign, CampaignStatus, Run, RunStatus  # noqa: E402

AGGREGATE_GOAL_S = 5.0
MESSAGES_GOAL_S = 15.0
START = datetime(2024, 7, 30, 0, 0, tzinfo=UTC)  # 07:00 in Tây Ninh
SPREAD_S = 8 * 3600

# Shared by both dialects: h1..h3 are pseudo-random integers of the message number i.
_DISTRICT = (
    "CASE h1 % 100 / 11 WHEN 0 THEN '703' WHEN 1 THEN '705' WHEN 2 THEN '706' WHEN 3 THEN '707' "
    "WHEN 4 THEN '708' WHEN 5 THEN '709' WHEN 6 THEN '710' WHEN 7 THEN '711' ELSE '712' END"
)
_CARRIER = (
    "CASE WHEN h2 % 100 < 52 THEN 'viettel' WHEN h2 % 100 < 76 THEN 'vinaphone' "
    "WHEN h2 % 100 < 93 THEN 'mobifone' WHEN h2 % 100 < 96 THEN 'vietnamobile' "
    "WHEN h2 % 100 < 97 THEN 'gmobile' WHEN h2 % 100 < 99 THEN 'itel' ELSE 'reddi' END"
)
# 1.5% skipped, 0.2% cancelled, 0.8% refused at submission, 1.5% failed by receipt, 1% expired.
_STATUS = (
    "CASE WHEN h3 % 10000 < 150 THEN 'skipped' WHEN h3 % 10000 < 170 THEN 'cancelled' "
    "WHEN h3 % 10000 < 400 THEN 'failed' WHEN h3 % 10000 < 500 THEN 'expired' ELSE 'delivered' END"
)
_SUBMITTED = "NOT (h3 % 10000 < 250)"  # skipped, cancelled and refused ones were never accepted
_SKIP = "CASE h1 % 3 WHEN 0 THEN 'opted_out' WHEN 1 THEN 'duplicate' ELSE 'outside_area' END"
_ERROR = (
    "CASE WHEN h3 % 10000 < 250 THEN CASE h2 % 2 WHEN 0 THEN 'REFUSED' ELSE 'BLACKLISTED' END "
    "ELSE CASE h2 % 3 WHEN 0 THEN 'UNDELIV' WHEN 1 THEN 'ABSENT' ELSE 'REJECTD' END END"
)
# Milliseconds to the receipt: mostly seconds, skewed, with a 3% tail of up to an hour.
_LATENCY = "(300 + (h1 % 997) * (h1 % 997) / 25 + CASE WHEN h2 % 100 < 3 THEN (h3 % 3600) * 1000 ELSE 0 END)"

_SQLITE = f"""
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n),
hashed AS (SELECT i, (i * 2654435761) % 1000003 AS h1, (i * 40503 + 17) % 65537 AS h2,
                  (i * 2246822519) % 999983 AS h3 FROM seq),
shaped AS (SELECT i, h1, h2, h3, {_STATUS} AS status, {_SUBMITTED} AS submitted,
                  (:start + i * {SPREAD_S} / :n) * 1000000 + (h2 * 7919) % 1000000 AS sent_us,
                  {_LATENCY} * 1000 AS latency_us
           FROM hashed)
INSERT INTO message (run_id, msisdn, district_code, carrier, status, skip_reason, error_code, error_reason,
                     attempts, segments, queued_at, sent_at, final_at)
SELECT :run, '+849' || printf('%08d', i), {_DISTRICT}, {_CARRIER}, status,
       CASE WHEN status = 'skipped' THEN {_SKIP} END,
       CASE WHEN status = 'failed' THEN {_ERROR} END,
       CASE WHEN status = 'failed' THEN 'carrier said no' END,
       CASE WHEN status IN ('skipped', 'cancelled') THEN 0 ELSE 1 END,
       CASE WHEN status = 'skipped' THEN 0 ELSE 2 END,
       strftime('%Y-%m-%d %H:%M:%S', :start, 'unixepoch') || '.000000',
       CASE WHEN submitted THEN strftime('%Y-%m-%d %H:%M:%S', sent_us / 1000000, 'unixepoch')
                                || '.' || printf('%06d', sent_us % 1000000) END,
       CASE WHEN status IN ('delivered', 'failed', 'expired')
            THEN strftime('%Y-%m-%d %H:%M:%S', (sent_us + latency_us) / 1000000, 'unixepoch')
                 || '.' || printf('%06d', (sent_us + latency_us) % 1000000)
            WHEN status IN ('skipped', 'cancelled') THEN strftime('%Y-%m-%d %H:%M:%S', :start, 'unixepoch') || '.000000'
       END
FROM shaped
"""

_POSTGRES = f"""
WITH hashed AS (SELECT i, (i * 2654435761) % 1000003 AS h1, (i * 40503 + 17) % 65537 AS h2,
                       (i * 2246822519) % 999983 AS h3 FROM generate_series(1::bigint, :n) AS i),
shaped AS (SELECT i, h1, h2, h3, {_STATUS} AS status, {_SUBMITTED} AS submitted,
                  (:start + i * {SPREAD_S} / :n) * 1000000 + (h2 * 7919) % 1000000 AS sent_us,
                  {_LATENCY} * 1000 AS latency_us
           FROM hashed)
INSERT INTO message (run_id, msisdn, district_code, carrier, status, skip_reason, error_code, error_reason,
                     attempts, segments, queued_at, sent_at, final_at)
SELECT :run, '+849' || lpad(i::text, 8, '0'), {_DISTRICT}, {_CARRIER}, status,
       CASE WHEN status = 'skipped' THEN {_SKIP} END,
       CASE WHEN status = 'failed' THEN {_ERROR} END,
       CASE WHEN status = 'failed' THEN 'carrier said no' END,
       CASE WHEN status IN ('skipped', 'cancelled') THEN 0 ELSE 1 END,
       CASE WHEN status = 'skipped' THEN 0 ELSE 2 END,
       to_timestamp(:start),
       CASE WHEN submitted THEN to_timestamp(sent_us / 1000000.0) END,
       CASE WHEN status IN ('delivered', 'failed', 'expired') THEN to_timestamp((sent_us + latency_us) / 1000000.0)
            WHEN status IN ('skipped', 'cancelled') THEN to_timestamp(:start) END
FROM shaped
"""


def _seed(engine: Engine, messages: int) -> tuple[int, int]:
    """A completed campaign with one run of ``messages`` messages; returns (campaign id, run id)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        audience = conn.execute(
            insert(Audience.__table__).returning(Audience.__table__.c.id),  # type: ignore[attr-defined]
            {"name": "bench", "province_code": "72", "created_at": now},
        ).scalar_one()
        campaign = conn.execute(
            insert(Campaign.__table__).returning(Campaign.__table__.c.id),  # type: ignore[attr-defined]
            {"name": "Ngày toàn dân phòng, chống mua bán người 30/7 (bench)", "template_name": "30-7/2024",
             "template_text": "…", "encoding_policy": "auto", "sender": "TUYENTRUYEN", "audience_ids": [audience],
             "group_by": "district", "send_window": "07:00-22:00", "status": CampaignStatus.COMPLETED,
             "created_by": "bench", "approved_by": "bench2", "created_at": now, "updated_at": now},
        ).scalar_one()  # fmt: skip
        run = conn.execute(
            insert(Run.__table__).returning(Run.__table__.c.id),  # type: ignore[attr-defined]
            {"campaign_id": campaign, "scheduled_for": START, "status": RunStatus.COMPLETED,
             "send_window": "07:00-22:00", "timezone": "Asia/Ho_Chi_Minh", "targeted": messages,
             "created_at": now, "planned_at": START, "completed_at": now},
        ).scalar_one()  # fmt: skip
        statement = _SQLITE if engine.dialect.name == "sqlite" else _POSTGRES
        conn.execute(text(statement), {"n": messages, "run": run, "start": int(START.timestamp())})
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE message")
    return int(campaign), int(run)


CPU: dict[str, float] = {}
"""Processor seconds (all threads of this process) per measurement: a machine shared with other work
stretches wall-clock times, much less these. On PostgreSQL the server's own work is not in them."""


def _timed(action: Any, name: str = "") -> tuple[float, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    if name:
        CPU[name] = time.process_time() - cpu
    return time.perf_counter() - started, result


@contextmanager
def _database(postgres: str | None, folder: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{folder / 'report-bench.db'}"
        return
    admin = create_engine(db.normalise_url(postgres), isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(db.normalise_url(postgres))
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 messages instead of 1,000,000")
    parser.add_argument("--messages", type=int, help="number of messages (overrides --quick)")
    parser.add_argument("--postgres", help="run on this PostgreSQL server (a schema of its own) instead of SQLite")
    args = parser.parse_args()
    messages = args.messages or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp, _database(args.postgres, Path(tmp)) as url:
        folder = Path(tmp)
        engine = db.make_engine(url)
        db.migrate(engine)
        insert_s, (campaign, run) = _timed(lambda: _seed(engine, messages))
        print(f"inserted {messages:,} messages in {insert_s:.1f} s", file=sys.stderr)
        options = {"province": "Tỉnh Tây Ninh", "department": "Sở Khoa học và Công nghệ"}
        prices = {"viettel": 350.0, "vinaphone": 330.0, "mobifone": 330.0, "vietnamobile": 300.0,
                  "gmobile": 300.0, "itel": 300.0, "reddi": 300.0}  # fmt: skip

        def build() -> reports.Report:
            return reports.build(engine, campaign, run, now=datetime.now(UTC), prices=prices)

        build(), build()  # warm the page cache: the figures are for a database in use, not a cold disk
        build_s, report = _timed(build, "build")
        writes = {}
        for fmt in ("json", "html", "xlsx"):
            writes[fmt], _ = _timed(
                lambda fmt=fmt: reports.write(report, fmt, folder / f"report.{fmt}", **options), fmt
            )
        aggregate_s = build_s + sum(writes.values())
        three_s, _ = _timed(
            lambda: [
                reports.write(build(), fmt, folder / f"again.{fmt}", **options) for fmt in ("json", "html", "xlsx")
            ]
        )
        export_s, summary = _timed(
            lambda: reports.export_messages(engine, campaign, folder / "messages.csv", run_id=run), "export"
        )
        assert summary.messages == messages, summary
        assert report.reconciles and report.totals.targeted == messages, report.checks
        engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "report",
                "database": "postgresql" if args.postgres else "sqlite",
                "messages": messages,
                "insert_s": round(insert_s, 2),
                "build_s": round(build_s, 2),
                "json_s": round(writes["json"], 3),
                "html_s": round(writes["html"], 3),
                "xlsx_s": round(writes["xlsx"], 3),
                "aggregate_s": round(aggregate_s, 2),
                "aggregate_goal_s": AGGREGATE_GOAL_S,
                "aggregate_three_builds_s": round(three_s, 2),
                "messages_csv_s": round(export_s, 2),
                "messages_goal_s": MESSAGES_GOAL_S,
                "messages_csv_per_s": round(messages / export_s),
                "aggregate_cpu_s": round(sum(CPU[k] for k in ("build", "json", "html", "xlsx")), 2),
                "messages_csv_cpu_s": round(CPU["export"], 2),
                "load_avg_1m": round(os.getloadavg()[0], 1),
                "median_delivery_s": report.totals.median_delivery_s,
                "p95_delivery_s": report.totals.p95_delivery_s,
                "peak_rss_mb": round(peak_mb),
            }
        )
    )


if __name__ == "__main__":
    main()
