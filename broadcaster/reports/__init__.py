"""Compliance reports (DESIGN §4, §5 step 7, §6): what reached whom, per district and carrier.

``build`` reads one snapshot of the database into a ``Report`` (per run, per campaign or per period);
the formats are views of that one object, so they cannot disagree:

- ``json``: ``Report.as_json()``, the DESIGN §6 contract extended with the new figures;
- ``csv``: UTF-8 with a BOM, one line per district × carrier plus the totals;
- ``xlsx``: a summary sheet and one sheet per view, numbers as numbers;
- ``html``: the printable A4 page in Vietnamese with its charts inline.

Every report checks the invariant (targeted = delivered + failed + expired + skipped + cancelled +
pending) and says whether it holds (``Report.reconciles``); a report is ``final`` only when nothing is
in flight, and says "provisional" in every format otherwise. ``export_messages`` writes the
message-level CSV of an audit, with phone numbers masked unless asked otherwise. Reports read only
columns that survive the retention purge, so purging phone numbers changes no figure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from broadcaster.reports._build import build
from broadcaster.reports._csv import to_csv
from broadcaster.reports._export import COLUMNS as EXPORT_COLUMNS
from broadcaster.reports._export import ExportSummary, export_messages
from broadcaster.reports._html import to_html
from broadcaster.reports._model import COUNTS, METRICS, Check, HourCount, Report, ReportError, Row, Scope
from broadcaster.reports._xlsx import to_xlsx

FORMATS = ("json", "csv", "xlsx", "html")


def to_json(report: Report) -> str:
    return json.dumps(report.as_json(), ensure_ascii=False, indent=2)


def write(report: Report, fmt: str, path: Path, *, province: str = "", department: str = "") -> Path:
    """Write ``report`` as ``fmt`` to ``path``; ``province`` and ``department`` head the HTML page."""
    if fmt not in FORMATS:
        msg = f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}"
        raise ReportError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(to_json(report), encoding="utf-8")
    elif fmt == "csv":
        path.write_text(to_csv(report), encoding="utf-8")
    elif fmt == "xlsx":
        path.write_bytes(to_xlsx(report))
    else:
        path.write_text(to_html(report, province=province, department=department), encoding="utf-8")
    return path


def by_district(report: Report) -> list[Row]:
    """Rows summed over carriers, one per district (for the console and the demo's table)."""
    return list(report.districts)


def by_carrier(report: Report) -> list[Row]:
    """Rows summed over districts, one per carrier."""
    return list(report.carriers)


def carriers_of(rows: Sequence[Row]) -> list[str]:
    return sorted({row.carrier for row in rows})


__all__ = [
    "COUNTS",
    "Check",
    "EXPORT_COLUMNS",
    "ExportSummary",
    "FORMATS",
    "HourCount",
    "METRICS",
    "Report",
    "ReportError",
    "Row",
    "Scope",
    "build",
    "by_carrier",
    "by_district",
    "carriers_of",
    "export_messages",
    "to_csv",
    "to_html",
    "to_json",
    "to_xlsx",
    "write",
]
