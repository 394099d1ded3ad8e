"""The whole job end to end on each database: import, plan, dispatch, receipts, report."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, text

from broadcaster import demo
from broadcaster.config import Settings
from broadcaster.reports import COUNTS, by_district


class TestDemo:
    def test_every_message_is_accounted_for(self, engine: Engine, settings: Settings) -> None:
        """targeted = delivered + failed + expired + skipped + cancelled + in flight, per row and in total."""
        result = demo.run_demo(engine, settings, subscribers=800)
        report = result.report
        assert report.rows, "the report has rows"
        for row in report.rows:
            parts = row.delivered + row.failed + row.expired + row.skipped + row.cancelled + row.pending
            assert row.targeted == parts, row
        assert report.reconciles
        assert report.final and report.totals.pending == 0
        assert report.totals.delivered > 0 and report.totals.failed > 0
        with engine.connect() as conn:
            statuses = Counter(dict(conn.execute(text("SELECT status, COUNT(*) FROM message GROUP BY status")).all()))
        assert sum(statuses.values()) == report.totals.targeted
        assert statuses["delivered"] == report.totals.delivered
        assert statuses["queued"] == statuses["sending"] == statuses["sent"] == 0

    def test_district_counts_match_the_import(self, engine: Engine, settings: Settings) -> None:
        """Each district is targeted exactly as often as the import placed subscribers in it."""
        result = demo.run_demo(engine, settings, subscribers=800)
        imported = result.import_summary.by_district
        reported = {row.district_code: row.targeted for row in by_district(result.report)}
        assert reported == dict(imported)
        assert set(reported) == set(demo.DISTRICTS)
        assert sum(imported.values()) == result.import_summary.accepted

    def test_rejects_and_report_files(self, engine: Engine, settings: Settings) -> None:
        """Rejected rows are written with their reason, and the CSV report agrees with the report."""
        result = demo.run_demo(engine, settings, subscribers=800)
        with result.rejects_path.open(encoding="utf-8-sig") as handle:
            rejects = list(csv.DictReader(handle))
        assert len(rejects) == result.import_summary.rejected > 0
        assert {r["mã lỗi"] for r in rejects} <= {"landline", "too_short", "unknown_district", "duplicate"}
        with result.csv_path.open(encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        totals = rows[-1]
        for name in COUNTS:
            assert int(totals[name]) == getattr(result.report.totals, name)
        html = result.html_path.read_text(encoding="utf-8")
        assert "Ngày toàn dân phòng, chống mua bán người 30/7" in html
        assert "Huyện Tân Biên" in html

    def test_opted_out_numbers_are_skipped(self, engine: Engine, settings: Settings) -> None:
        """The two opted-out subscribers are skipped with their reason, never sent."""
        demo.run_demo(engine, settings, subscribers=800)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT status, skip_reason, sent_at FROM message m JOIN optout o ON o.msisdn = m.msisdn")
            ).all()
        assert len(rows) == 2
        assert all(r[0] == "skipped" and r[1] == "opted_out" and r[2] is None for r in rows)


def test_demo_command(tmp_path: Path) -> None:
    """`broadcaster demo --dir` prints the district table and where the reports are."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "broadcaster", "demo", "--dir", str(tmp_path / "ws"), "--subscribers", "500"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Huyện Tân Biên" in proc.stdout
    assert "Totals reconcile" in proc.stdout
    assert (tmp_path / "ws" / "reports").is_dir()
    assert len(list((tmp_path / "ws" / "reports").glob("*.html"))) == 1
