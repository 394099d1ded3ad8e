"""The CSV report: UTF-8 with a BOM (Excel then shows Vietnamese names), one row per district × carrier
plus a totals row; the values are the JSON values (same keys, same rounding), so the two agree.

Every row carries ``report_status`` (``final`` or ``provisional``): a sheet cut out of the file still
says whether its figures can change.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from broadcaster.reports._model import METRICS, Report, Row

FINAL, PROVISIONAL = "final", "provisional"


def header(report: Report) -> list[str]:
    return [
        "district_code",
        "district",
        "carrier",
        *METRICS,
        *(f"skipped:{reason}" for reason in report.skip_reasons),
        *(f"failed:{code}" for code in report.failure_codes),
        "report_status",
    ]


def line(report: Report, row: Row) -> list[Any]:
    values = row.metrics(report.zone)
    status = FINAL if report.final else PROVISIONAL
    return [
        row.district_code,
        row.district,
        row.carrier,
        *("" if values[name] is None else values[name] for name in METRICS),
        *(row.skipped_by_reason.get(reason, 0) for reason in report.skip_reasons),
        *(row.failed_by_reason.get(code, 0) for code in report.failure_codes),
        status,
    ]


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header(report))
    for row in [*report.rows, report.totals]:
        writer.writerow(line(report, row))
    return "\ufeff" + out.getvalue()
