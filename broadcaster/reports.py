"""Reports: what reached whom, per district and carrier, with totals that reconcile (DESIGN §4, §6).

Aggregation is one SQL query per report; the formats (JSON, CSV, HTML) are views of the same
``Report`` object, so they cannot disagree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine, bindparam

from audiences import divisions
from broadcaster.models import Campaign
from broadcaster.queue import sql

COUNTS = ("targeted", "delivered", "failed", "expired", "skipped", "cancelled", "pending", "segments")
FORMATS = ("json", "csv", "html")


class ReportError(Exception):
    pass


@dataclass
class Row:
    district_code: str
    district: str
    carrier: str
    targeted: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    skipped: int = 0
    cancelled: int = 0
    pending: int = 0
    segments: int = 0

    @property
    def reconciles(self) -> bool:
        return self.targeted == (
            self.delivered + self.failed + self.expired + self.skipped + self.cancelled + self.pending
        )


@dataclass
class Report:
    campaign: int
    campaign_name: str
    runs: list[int]
    rows: list[Row]
    generated_at: datetime
    totals: Row = field(init=False)

    def __post_init__(self) -> None:
        self.totals = Row(district_code="", district="Tổng cộng", carrier="")
        for row in self.rows:
            for name in COUNTS:
                setattr(self.totals, name, getattr(self.totals, name) + getattr(row, name))

    @property
    def final(self) -> bool:
        return self.totals.pending == 0

    @property
    def reconciles(self) -> bool:
        return all(row.reconciles for row in self.rows) and self.totals.reconciles

    @property
    def delivery_rate(self) -> float:
        submitted = self.totals.targeted - self.totals.skipped - self.totals.cancelled
        return self.totals.delivered / submitted if submitted else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "campaign": self.campaign,
            "run": self.runs[0] if len(self.runs) == 1 else self.runs,
            "final": self.final,
            "reconciles": self.reconciles,
            "totals": {name: getattr(self.totals, name) for name in COUNTS},
            "rows": [asdict(row) for row in self.rows],
        }


_AGGREGATE = sql(
    """
SELECT district_code, carrier,
       COUNT(*) AS targeted,
       SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END),
       SUM(CASE WHEN status IN ('queued', 'sending', 'sent') THEN 1 ELSE 0 END),
       SUM(CASE WHEN sent_at IS NOT NULL THEN segments ELSE 0 END)
FROM message WHERE run_id IN :runs
GROUP BY district_code, carrier
ORDER BY district_code, carrier
"""
).bindparams(bindparam("runs", expanding=True))


def build(engine: Engine, campaign_id: int, run_id: int | None = None, *, now: datetime) -> Report:
    with engine.connect() as conn:
        campaign = conn.execute(
            sql("SELECT id, name FROM campaign WHERE id = :id"), {"id": campaign_id}
        ).first()
        if campaign is None:
            msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
            raise ReportError(msg)
        runs = [
            row[0]
            for row in conn.execute(sql("SELECT id FROM run WHERE campaign_id = :id ORDER BY id"), {"id": campaign_id})
        ]
        if run_id is not None:
            if run_id not in runs:
                msg = f"run {run_id} does not belong to campaign {campaign_id} (its runs: {runs or 'none'})"
                raise ReportError(msg)
            runs = [run_id]
        rows = conn.execute(_AGGREGATE, {"runs": runs}).all() if runs else []
    reference = divisions.load()
    report_rows = []
    for district_code, carrier, *counts in rows:
        district = reference.district(district_code)
        report_rows.append(
            Row(district_code, district.name if district else district_code, carrier, *(int(c or 0) for c in counts))
        )
    return Report(campaign=campaign_id, campaign_name=campaign[1], runs=runs, rows=report_rows, generated_at=now)


def to_csv(report: Report) -> str:
    """UTF-8 with BOM, so that Excel shows Vietnamese names; one row per district × carrier, then totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["district_code", "district", "carrier", *COUNTS])
    for row in [*report.rows, report.totals]:
        writer.writerow([row.district_code, row.district, row.carrier, *(getattr(row, n) for n in COUNTS)])
    return "\ufeff" + out.getvalue()


def to_html(report: Report, *, province: str, department: str) -> str:
    env = Environment(loader=PackageLoader("broadcaster", "web/templates"), autoescape=select_autoescape())
    return env.get_template("report.html").render(report=report, province=province, department=department)


def write(report: Report, fmt: str, path: Path, *, province: str = "", department: str = "") -> Path:
    if fmt not in FORMATS:
        msg = f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}"
        raise ReportError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    elif fmt == "csv":
        path.write_text(to_csv(report), encoding="utf-8")
    else:
        path.write_text(to_html(report, province=province, department=department), encoding="utf-8")
    return path


def campaign_name(campaign: Campaign) -> str:
    return campaign.name


def by_district(report: Report) -> list[Row]:
    """Rows summed over carriers, one per district (for the console and the demo's table)."""
    merged: dict[str, Row] = {}
    for row in report.rows:
        target = merged.setdefault(row.district_code, Row(row.district_code, row.district, ""))
        for name in COUNTS:
            setattr(target, name, getattr(target, name) + getattr(row, name))
    return [merged[code] for code in sorted(merged)]


def carriers_of(rows: Sequence[Row]) -> list[str]:
    return sorted({row.carrier for row in rows})
