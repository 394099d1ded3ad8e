"""Compliance reports on SQLite and PostgreSQL: figures against an independent reckoning of the data,
every format against the JSON, provisional marking, scopes, purges, the audit export, the CLI, and
the printed page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, text

from broadcaster import reports
from broadcaster.models import (
    Audience,
    AuditEvent,
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    Run,
    RunStatus,
    SkipReason,
)
from broadcaster.reports import _labels
from broadcaster.reports._read import snapshot
from broadcaster.reports._xlsx import HEADER_ROW, SHEETS

M = MessageStatus
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2024, 8, 10, 2, 0, tzinfo=UTC)
BASE = datetime(2024, 7, 30, 0, 30, tzinfo=UTC)  # 07:30 in Tây Ninh
DISTRICTS = ("703", "705", "706", "709", "712")
CARRIERS = ("viettel", "vinaphone", "mobifone", "itel")
CODES = ("UNDELIV", "REJECTD", "BLACKLIST", None)
PRICES = {"viettel": 350.0, "vinaphone": 330.0, "mobifone": 312.5}  # itel has no price: its cost is unknown
REQUIRE_BROWSER = os.environ.get("BROADCASTER_REQUIRE_BROWSER") == "1"
FEW = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- data: messages written straight into the tables -------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One message as the test means it; ``sent_ms``/``latency_ms`` are offsets in milliseconds."""

    district: str
    carrier: str
    status: str
    reason: str | None = None
    code: str | None = None
    segments: int = 2
    sent_ms: int | None = None
    latency_ms: int | None = None
    msisdn: str | None = None

    @property
    def sent_at(self) -> datetime | None:
        return BASE + timedelta(milliseconds=self.sent_ms) if self.sent_ms is not None else None

    @property
    def final_at(self) -> datetime | None:
        if self.status in M.IN_FLIGHT:
            return None
        if self.sent_at is not None and self.latency_ms is not None:
            return self.sent_at + timedelta(milliseconds=self.latency_ms)
        return BASE


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    status = draw(st.sampled_from(M.ALL))
    submitted = status in (M.SENT, M.DELIVERED, M.EXPIRED) or (status == M.FAILED and draw(st.booleans()))
    settled = status in (M.DELIVERED, M.FAILED, M.EXPIRED) and submitted
    return Spec(
        district=draw(st.sampled_from(DISTRICTS)),
        carrier=draw(st.sampled_from(CARRIERS)),
        status=status,
        reason=draw(st.sampled_from((SkipReason.OPTED_OUT, SkipReason.DUPLICATE, SkipReason.OUTSIDE_AREA, None)))
        if status == M.SKIPPED
        else None,
        code=draw(st.sampled_from(CODES)) if status == M.FAILED else None,
        segments=0 if status == M.SKIPPED else draw(st.integers(1, 4)),
        sent_ms=draw(st.integers(0, 30 * 3600 * 1000)) if submitted else None,
        # Some receipts are recorded a little before the send itself (the carrier answered first).
        latency_ms=draw(st.integers(-1500, 2 * 3600 * 1000)) if settled else None,
    )


_numbers = iter(range(10**8))


def seed(
    engine: Engine,
    runs: Sequence[Sequence[Spec]],
    *,
    scheduled: Sequence[datetime] | None = None,
    planned: Sequence[int | None] | None = None,
    run_status: str = RunStatus.COMPLETED,
) -> tuple[int, list[int]]:
    """A campaign with one run per list of specs; returns (campaign id, run ids)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        audience = conn.execute(
            insert(Audience.__table__).returning(Audience.__table__.c.id),  # type: ignore[attr-defined]
            {"name": f"audience {next(_numbers)}", "province_code": "72", "created_at": now},
        ).scalar_one()
        campaign = conn.execute(
            insert(Campaign.__table__).returning(Campaign.__table__.c.id),  # type: ignore[attr-defined]
            {"name": "30/7 – thử nghiệm", "template_name": "30-7/2024", "template_text": "…",
             "encoding_policy": "auto", "sender": "TUYENTRUYEN", "audience_ids": [audience], "group_by": "district",
             "send_window": "07:00-22:00", "status": CampaignStatus.ACTIVE, "created_by": "op",
             "approved_by": "boss", "created_at": now, "updated_at": now},
        ).scalar_one()  # fmt: skip
        ids = []
        for index, messages in enumerate(runs):
            when = scheduled[index] if scheduled else BASE + timedelta(days=index)
            targeted = planned[index] if planned else len(messages)
            run = conn.execute(
                insert(Run.__table__).returning(Run.__table__.c.id),  # type: ignore[attr-defined]
                {"campaign_id": campaign, "scheduled_for": when, "status": run_status,
                 "send_window": "07:00-22:00", "timezone": "Asia/Ho_Chi_Minh", "targeted": targeted or 0,
                 "created_at": now, "planned_at": when if targeted is not None else None},
            ).scalar_one()  # fmt: skip
            ids.append(int(run))
            if messages:
                conn.execute(
                    insert(Message.__table__),  # type: ignore[attr-defined]
                    [
                        {"run_id": run, "msisdn": spec.msisdn or f"+8491{next(_numbers):07d}",
                         "district_code": spec.district, "carrier": spec.carrier, "status": spec.status,
                         "skip_reason": spec.reason, "error_code": spec.code,
                         "error_reason": f"{spec.code} for +84912345678" if spec.code else None,
                         "attempts": 1, "segments": spec.segments, "queued_at": BASE,
                         "sent_at": spec.sent_at, "final_at": spec.final_at}
                        for spec in messages
                    ],
                )  # fmt: skip
    return int(campaign), ids


def build(engine: Engine, campaign: int, run: int | None = None, **kwargs: Any) -> reports.Report:
    return reports.build(engine, campaign, run, now=NOW, prices=PRICES, **kwargs)


# --- the independent reckoning -----------------------------------------------------------------------


def percentile_cont(values: Sequence[int], p: float) -> float | None:
    """PostgreSQL's percentile_cont, in seconds to the millisecond."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return round((ordered[low] + (ordered[high] - ordered[low]) * (position - low)) / 1000, 3)


def reckon(messages: Iterable[Spec]) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    """Expected figures for every cell, district (carrier None), carrier (district None) and the total."""
    groups: dict[tuple[str | None, str | None], list[Spec]] = defaultdict(list)
    for spec in messages:
        for key in ((spec.district, spec.carrier), (spec.district, None), (None, spec.carrier), (None, None)):
            groups[key].append(spec)
    result = {}
    for key, members in groups.items():
        statuses = Counter(s.status for s in members)
        latencies = [max(0, s.latency_ms) for s in members if s.status == M.DELIVERED and s.latency_ms is not None]
        sent = [s.sent_at for s in members if s.sent_at is not None]
        result[key] = {
            "targeted": len(members),
            "delivered": statuses[M.DELIVERED],
            "failed": statuses[M.FAILED],
            "expired": statuses[M.EXPIRED],
            "skipped": statuses[M.SKIPPED],
            "cancelled": statuses[M.CANCELLED],
            "pending": sum(statuses[s] for s in M.IN_FLIGHT),
            "submitted": len(sent),
            "segments": sum(s.segments for s in members if s.sent_at is not None),
            "skipped_by_reason": dict(Counter(s.reason or "unknown" for s in members if s.status == M.SKIPPED)),
            "failed_by_reason": dict(Counter(s.code or "unknown" for s in members if s.status == M.FAILED)),
            "first_sent_at": min(sent).astimezone(ZONE).isoformat(timespec="seconds") if sent else None,
            "last_sent_at": max(sent).astimezone(ZONE).isoformat(timespec="seconds") if sent else None,
            "median_delivery_s": percentile_cont(latencies, 0.5),
            "p95_delivery_s": percentile_cont(latencies, 0.95),
        }
    return result


def keyed(document: dict[str, Any]) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    out = {(row["district_code"], row["carrier"]): row for row in document["rows"]}
    out.update({(row["district_code"], None): row for row in document["by_district"]})
    out.update({(None, row["carrier"]): row for row in document["by_carrier"]})
    out[(None, None)] = document["totals"]
    return out


BUCKETS = ("delivered", "failed", "expired", "skipped", "cancelled", "pending")


def assert_reconciles(figures: dict[str, Any]) -> None:
    assert figures["targeted"] == sum(figures[name] for name in BUCKETS), figures
    assert sum(figures["skipped_by_reason"].values()) == figures["skipped"]
    assert sum(figures["failed_by_reason"].values()) == figures["failed"]


# --- parsing the other formats back --------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def csv_value(text_value: str, like: Any) -> Any:
    if isinstance(like, str):
        return text_value
    if text_value == "":
        return None
    if isinstance(like, bool):
        return text_value == "True"
    if isinstance(like, int):
        return int(text_value)
    if isinstance(like, float):
        return float(text_value)
    return text_value


class Tables(HTMLParser):
    """Every table of the page: rows of (row attributes, [(cell attributes, text)])."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[dict[str, str], list[tuple[dict[str, str], str]]]]] = {}
        self._table: str | None = None
        self._cell: dict[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = values.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append((values, []))
        elif tag in ("td", "th") and self._table is not None:
            self._cell, self._text = values, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1][1].append((self._cell, "".join(self._text).strip()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def vietnamese_number(shown: str) -> float | None:
    """``1.234.567`` -> 1234567; ``97,15%`` -> 0.9715; ``–`` -> None."""
    if shown == "–":
        return None
    if shown.endswith("%"):
        return round(float(shown[:-1].replace(".", "").replace(",", ".")) / 100, 6)
    return float(shown.replace(".", "").replace(",", "."))


def html_rows(html: str, table: str, attribute: str) -> dict[str, dict[str, tuple[str, str]]]:
    """table id -> {district or carrier code: {key: (shown text, data-value)}}."""
    parser = Tables()
    parser.feed(html)
    rows = {}
    for attrs, cells in parser.tables[table]:
        if attribute in attrs:
            rows[attrs[attribute]] = {c["data-key"]: (shown, c["data-value"]) for c, shown in cells if "data-key" in c}
    return rows


def xlsx_table(book: openpyxl.Workbook, sheet: str) -> list[dict[str, Any]]:
    ws = book[sheet]
    headers = [cell.value for cell in ws[HEADER_ROW]]
    lines = []
    for values in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True):
        if all(v is None for v in values):
            continue
        lines.append(dict(zip(headers, values, strict=False)))
    return lines


# --- tests ---------------------------------------------------------------------------------------


class TestFigures:
    @FEW
    @given(messages=st.lists(specs(), max_size=90))
    def test_random_runs_match_an_independent_reckoning(self, engine: Engine, messages: list[Spec]) -> None:
        """Counts, reasons, segments, send times and delivery percentiles match the data, at every level."""
        campaign, (run,) = seed(engine, [messages])
        document = build(engine, campaign, run).as_json()
        expected = reckon(messages)
        got = keyed(document)
        if not messages:
            assert document["rows"] == [] and document["totals"]["targeted"] == 0
            return
        assert set(got) == set(expected)
        for key, figures in expected.items():
            for name, value in figures.items():
                assert got[key][name] == value, (key, name)
            assert_reconciles(got[key])
        assert document["reconciles"] is True
        assert document["final"] == (expected[(None, None)]["pending"] == 0)

    @FEW
    @given(messages=st.lists(specs(), min_size=1, max_size=60))
    def test_rates_costs_and_timeline(self, engine: Engine, messages: list[Spec]) -> None:
        """Delivery rate, estimated cost (unknown without a price) and the hourly timeline add up."""
        campaign, (run,) = seed(engine, [messages])
        document = build(engine, campaign, run).as_json()
        for row in [*document["rows"], document["totals"]]:
            attempted = row["targeted"] - row["skipped"] - row["cancelled"]
            assert row["delivery_rate"] == (round(row["delivered"] / attempted, 4) if attempted else None)
        for row in document["rows"]:
            price = PRICES.get(row["carrier"])
            expected_cost = round(row["segments"] * price) if price is not None else (None if row["segments"] else 0)
            assert row["cost_vnd"] == expected_cost
        costs = [row["cost_vnd"] for row in document["rows"]]
        assert document["totals"]["cost_vnd"] == (None if None in costs else sum(costs))
        submitted = Counter(s.sent_at.replace(minute=0, second=0, microsecond=0) for s in messages if s.sent_at)
        delivered = Counter(
            s.final_at.replace(minute=0, second=0, microsecond=0)
            for s in messages
            if s.status == M.DELIVERED and s.final_at
        )
        hours = {datetime.fromisoformat(item["hour"]): item for item in document["timeline"]}
        assert set(hours) == set(submitted) | set(delivered)
        for hour, item in hours.items():
            assert (item["submitted"], item["delivered"]) == (submitted[hour], delivered[hour])

    def test_json_contract(self, engine: Engine) -> None:
        """The DESIGN §6 keys are all there, with the same meaning; the new ones sit beside them."""
        campaign, (run,) = seed(engine, [[Spec("705", "viettel", M.DELIVERED, sent_ms=0, latency_ms=900)]])
        document = build(engine, campaign, run).as_json()
        assert {"campaign", "run", "final", "totals", "rows"} <= set(document)
        assert (document["campaign"], document["run"], document["final"]) == (campaign, run, True)
        assert set(reports.COUNTS) <= set(document["totals"])
        row = document["rows"][0]
        assert {"district_code", "district", "carrier", *reports.COUNTS} <= set(row)
        assert (row["district_code"], row["district"], row["carrier"]) == ("705", "Huyện Tân Biên", "viettel")
        json.dumps(document)  # serialisable as it is

    def test_public_face(self) -> None:
        """The package's public names are deliberate (and sorted)."""
        assert reports.__all__ == sorted(reports.__all__)
        assert {"build", "write", "by_district", "export_messages", "Report", "Row", "ReportError"} <= set(
            reports.__all__
        )


class TestReconciliation:
    def test_a_lost_message_is_reported(self, engine: Engine) -> None:
        """A run that holds fewer messages than it was planned with does not reconcile, and says so."""
        messages = [Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=1000)] * 3
        campaign, (run,) = seed(engine, [messages], planned=[4])
        report = build(engine, campaign, run)
        assert report.reconciles is False
        assert [c.name for c in report.checks if not c.ok] == ["planned"]
        assert "planned 4, counted 3" in report.checks[-1].detail
        assert "SỐ LIỆU KHÔNG KHỚP" in reports.to_html(report)
        assert report.as_json()["reconciles"] is False

    def test_an_unknown_status_breaks_the_sums(self, engine: Engine) -> None:
        """A status no report knows is counted in targeted but in no bucket: the report says it does not add up."""
        campaign, (run,) = seed(engine, [[Spec("703", "viettel", "lost"), Spec("703", "viettel", M.QUEUED)]])
        report = build(engine, campaign, run)
        assert not report.reconciles
        failed = {c.name for c in report.checks if not c.ok}
        assert failed == {"statuses", "buckets"}
        assert report.totals.targeted == 2 and report.totals.pending == 1

    def test_final_only_when_nothing_is_in_flight(self, engine: Engine) -> None:
        """A run still being planned, or with a message in flight, makes the report provisional."""
        done = [Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=10)]
        campaign, (run,) = seed(engine, [done])
        assert build(engine, campaign, run).final
        campaign, (run,) = seed(engine, [done], planned=[None], run_status=RunStatus.PLANNING)
        report = build(engine, campaign, run)
        assert not report.final and report.runs_in_progress == 1
        campaign, (run,) = seed(engine, [[*done, Spec("703", "viettel", M.SENT, sent_ms=5)]])
        assert not build(engine, campaign, run).final


class TestFormats:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(messages=st.lists(specs(), min_size=1, max_size=60))
    def test_every_format_agrees_with_the_json(
        self, engine: Engine, tmp_path_factory: pytest.TempPathFactory, messages: list[Spec]
    ) -> None:
        """The CSV, the XLSX and the HTML tables hold the JSON's numbers, row by row and in total."""
        folder = tmp_path_factory.mktemp("formats")
        campaign, (run,) = seed(engine, [messages])
        report = build(engine, campaign, run)
        paths = {fmt: reports.write(report, fmt, folder / f"r.{fmt}", province="Tỉnh Tây Ninh", department="Sở KH&CN")
                 for fmt in reports.FORMATS}  # fmt: skip
        document = json.loads(paths["json"].read_text(encoding="utf-8"))
        assert document == json.loads(json.dumps(report.as_json()))
        self._csv(document, paths["csv"])
        self._xlsx(document, paths["xlsx"])
        self._html(document, paths["html"].read_text(encoding="utf-8"))

    def _csv(self, document: dict[str, Any], path: Path) -> None:
        lines = read_csv(path)
        assert len(lines) == len(document["rows"]) + 1
        totals = {**document["totals"], "district_code": "", "district": "Tổng cộng", "carrier": ""}
        for line, row in zip(lines, [*document["rows"], totals], strict=True):
            for name in ("district_code", "district", "carrier", *reports.METRICS):
                assert csv_value(line[name], row[name]) == row[name], name
            for reason, count in row["skipped_by_reason"].items():
                assert int(line[f"skipped:{reason}"]) == count
            for code, count in row["failed_by_reason"].items():
                assert int(line[f"failed:{code}"]) == count
            assert line["report_status"] == ("final" if document["final"] else "provisional")

    def _xlsx(self, document: dict[str, Any], path: Path) -> None:
        book = openpyxl.load_workbook(path)
        assert book.sheetnames == list(SHEETS)
        label = {header: key for key, header in _labels.COLUMNS}
        views = {SHEETS[1]: document["rows"], SHEETS[2]: document["by_district"], SHEETS[3]: document["by_carrier"]}
        for sheet, rows in views.items():
            lines = xlsx_table(book, sheet)
            assert len(lines) == len(rows) + 1
            assert book[sheet].freeze_panes == f"A{HEADER_ROW + 1}"
            assert all(cell.font.bold for cell in book[sheet][HEADER_ROW] if cell.value)
            for line, row in zip(lines, [*rows, document["totals"]], strict=True):
                for header, value in line.items():
                    key = label[header]
                    if key in ("district", "district_code", "carrier"):
                        if line is not lines[-1]:
                            shown = _labels.carrier_name(row[key]) if key == "carrier" else row[key]
                            assert value == shown
                    elif key.endswith("_sent_at"):
                        if value is not None:  # Excel keeps days as a float: round to the second
                            value = (value + timedelta(microseconds=500_000)).replace(microsecond=0, tzinfo=ZONE)
                        assert (value.isoformat() if value else None) == row[key], key
                    else:
                        assert value == row[key], (sheet, key)
                        assert value is None or isinstance(value, int | float)
        summary = {line["Chỉ tiêu"]: line["Giá trị"] for line in xlsx_table(book, SHEETS[0])}
        for key in ("targeted", "delivered", "failed", "expired", "skipped", "cancelled", "pending", "segments"):
            assert summary[_labels.HEADERS[key]] == document["totals"][key]
        reasons = xlsx_table(book, SHEETS[4])
        assert reasons[-1]["Số tin nhắn"] == document["totals"]["skipped"] + document["totals"]["failed"]
        hours = xlsx_table(book, SHEETS[5])
        assert hours[-1]["Thành công"] == sum(item["delivered"] for item in document["timeline"])

    def _html(self, document: dict[str, Any], html: str) -> None:
        assert _labels.TITLE in html
        assert "UBND TỈNH TÂY NINH" in html and "SỞ KH&amp;CN" in html
        for table, attribute, rows, key in (
            ("by-district", "data-district", document["by_district"], "district_code"),
            ("by-carrier", "data-carrier", document["by_carrier"], "carrier"),
        ):
            shown = html_rows(html, table, attribute)
            expected = {row[key]: row for row in rows} | {"": document["totals"]}
            assert set(shown) == set(expected)
            for code, cells in shown.items():
                for name, (visible, raw) in cells.items():
                    value = expected[code][name]
                    assert vietnamese_number(visible) == (None if value is None else pytest.approx(value)), (code, name)
                    assert raw == ("" if value is None else str(value))
        assert html.count("<svg") == 3

    def test_no_external_assets(self, engine: Engine) -> None:
        """The page loads nothing: no link, script, image, font or URL of any kind."""
        campaign, (run,) = seed(engine, [[Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=10)]])
        html = reports.to_html(build(engine, campaign, run), province="Tỉnh Tây Ninh", department="Sở")
        for marker in ("<link", "<script", "<img", "@import", "url(", "http:", "https:", "@font-face", "src="):
            assert marker not in html, marker

    def test_provisional_says_so_in_every_format(self, engine: Engine, tmp_path: Path) -> None:
        """While a message is in flight every format, every row, sheet and page says "provisional"."""
        messages = [Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=10), Spec("705", "itel", M.QUEUED)]
        campaign, (run,) = seed(engine, [messages])
        report = build(engine, campaign, run)
        assert not report.final
        for fmt in reports.FORMATS:
            reports.write(report, fmt, tmp_path / f"r.{fmt}")
        assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["final"] is False
        assert {line["report_status"] for line in read_csv(tmp_path / "r.csv")} == {"provisional"}
        book = openpyxl.load_workbook(tmp_path / "r.xlsx")
        for sheet in book.worksheets:
            assert str(sheet["A2"].value).startswith("BÁO CÁO TẠM THỜI"), sheet.title
            assert "TẠM THỜI" in sheet.oddHeader.center.text
        html = (tmp_path / "r.html").read_text(encoding="utf-8")
        assert 'class="watermark"' in html and "BÁO CÁO TẠM THỜI" in html
        assert re.search(r"@top-center\s*{[^}]*TẠM THỜI", html), "the page margin repeats it on every page"

    def test_final_report_carries_no_provisional_mark(self, engine: Engine, tmp_path: Path) -> None:
        """A final report is not marked provisional anywhere."""
        campaign, (run,) = seed(engine, [[Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=10)]])
        report = build(engine, campaign, run)
        assert report.final
        html = reports.to_html(report)
        assert "TẠM THỜI" not in html
        assert {line["report_status"] for line in read_csv(reports.write(report, "csv", tmp_path / "r.csv"))} == {
            "final"
        }
        book = openpyxl.load_workbook(reports.write(report, "xlsx", tmp_path / "r.xlsx"))
        assert all("TẠM THỜI" not in str(sheet["A2"].value) for sheet in book.worksheets)

    def test_unknown_format(self, engine: Engine, tmp_path: Path) -> None:
        """An unknown format is refused with the list of formats."""
        campaign, (run,) = seed(engine, [[]])
        with pytest.raises(reports.ReportError, match="csv, xlsx, html"):
            reports.write(build(engine, campaign, run), "pdf", tmp_path / "r.pdf")


class TestScopes:
    def test_run_campaign_and_period(self, engine: Engine) -> None:
        """A period takes the runs scheduled on its local dates; 23:30 and 00:30 in Tây Ninh fall on two dates."""
        late = datetime(2024, 7, 29, 16, 30, tzinfo=UTC)  # 23:30 on 29/7 in Tây Ninh
        early = datetime(2024, 7, 29, 17, 30, tzinfo=UTC)  # 00:30 on 30/7
        one = [Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=5)]
        two = [Spec("705", "mobifone", M.FAILED, code="UNDELIV")] * 2
        campaign, (first, second) = seed(engine, [one, two], scheduled=[late, early])
        assert build(engine, campaign).totals.targeted == 3
        assert build(engine, campaign).as_json()["run"] == [first, second]
        assert build(engine, campaign, first).totals.targeted == 1
        july30 = build(engine, campaign, start=date(2024, 7, 30), end=date(2024, 7, 30))
        assert (july30.runs, july30.totals.targeted) == ([second], 2)
        july29 = build(engine, campaign, end=date(2024, 7, 29))
        assert july29.runs == [first]
        assert build(engine, campaign, start=date(2024, 7, 31)).runs == []
        assert july30.as_json()["scope"] == {
            "kind": "period", "run": None, "from": "2024-07-30", "until": "2024-07-30", "timezone": "Asia/Ho_Chi_Minh"
        }  # fmt: skip

    def test_mistakes_are_explained(self, engine: Engine) -> None:
        """Unknown campaign or run, a run with a period, or a period backwards: one clear error each."""
        campaign, (run,) = seed(engine, [[]])
        with pytest.raises(reports.ReportError, match="no campaign with id 999999"):
            build(engine, 999999)
        with pytest.raises(reports.ReportError, match=f"run {run + 1000} does not belong to campaign {campaign}"):
            build(engine, campaign, run + 1000)
        with pytest.raises(reports.ReportError, match="not both"):
            build(engine, campaign, run, start=date(2024, 7, 1))
        with pytest.raises(reports.ReportError, match="before it starts"):
            build(engine, campaign, start=date(2024, 7, 30), end=date(2024, 7, 1))


class TestRetention:
    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(messages=st.lists(specs(), min_size=1, max_size=60))
    def test_purging_numbers_changes_no_figure(self, engine: Engine, messages: list[Spec]) -> None:
        """After the retention purge (msisdn set to NULL) every aggregate report is identical."""
        campaign, (run, other) = seed(engine, [messages, messages[: len(messages) // 2]])
        before = (build(engine, campaign, run).as_json(), build(engine, campaign).as_json())
        with engine.begin() as conn:
            purged = conn.execute(
                text("UPDATE message SET msisdn = NULL WHERE run_id IN (:a, :b)"), {"a": run, "b": other}
            )
        assert purged.rowcount == len(messages) + len(messages) // 2
        assert (build(engine, campaign, run).as_json(), build(engine, campaign).as_json()) == before


class TestMessageExport:
    def test_numbers_are_masked(self, engine: Engine, tmp_path: Path) -> None:
        """Every message is written once, numbers (and numbers in carrier texts) masked, local times."""
        messages = [
            Spec("703", "viettel", M.DELIVERED, sent_ms=1500, latency_ms=2000, msisdn="+84912345678"),
            Spec("705", "mobifone", M.FAILED, code="UNDELIV", sent_ms=0, latency_ms=10, msisdn="+84701234567"),
            Spec("705", "mobifone", M.SKIPPED, reason=SkipReason.OPTED_OUT, segments=0, msisdn="+84381234567"),
        ]
        campaign, (run,) = seed(engine, [messages])
        summary = reports.export_messages(engine, campaign, tmp_path / "m.csv", run_id=run)
        lines = read_csv(tmp_path / "m.csv")
        assert summary.messages == len(lines) == 3 and not summary.revealed
        assert list(lines[0]) == list(reports.EXPORT_COLUMNS)
        assert [line["msisdn"] for line in lines] == ["+8491****678", "+8470****567", "+8438****567"]
        body = (tmp_path / "m.csv").read_text(encoding="utf-8-sig")
        assert "912345678" not in body and "1234567" not in body
        first = lines[0]
        assert (first["district"], first["status"], first["sent_at"]) == (
            "Thành phố Tây Ninh",
            "delivered",
            "2024-07-30T07:30:01+07:00",
        )
        assert first["final_at"] == "2024-07-30T07:30:03+07:00"
        assert lines[1]["error_code"] == "UNDELIV" and lines[1]["error_reason"] == "UNDELIV for +8491****678"

    def test_reveal_is_audited(self, engine: Engine, tmp_path: Path) -> None:
        """Full numbers only for a named person, and the audit log records who and what."""
        campaign, _ = seed(engine, [[Spec("703", "viettel", M.QUEUED, msisdn="+84912345678")]])
        with pytest.raises(reports.ReportError, match="--as"):
            reports.export_messages(engine, campaign, tmp_path / "m.csv", reveal=True)
        summary = reports.export_messages(engine, campaign, tmp_path / "m.csv", reveal=True, actor="auditor")
        assert summary.revealed and read_csv(tmp_path / "m.csv")[0]["msisdn"] == "+84912345678"
        with engine.connect() as conn:
            events = conn.execute(
                text("SELECT actor, action, object_id FROM auditevent WHERE action = 'report.export_unmasked'")
            ).all()
        assert [tuple(e) for e in events] == [("auditor", "report.export_unmasked", str(campaign))]
        assert AuditEvent.__tablename__ == "auditevent"

    def test_purged_numbers_stay_empty(self, engine: Engine, tmp_path: Path) -> None:
        """A purged run exports empty numbers, revealed or not."""
        campaign, _ = seed(engine, [[Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=1)]])
        with engine.begin() as conn:
            conn.execute(text("UPDATE message SET msisdn = NULL"))
        reports.export_messages(engine, campaign, tmp_path / "m.csv", reveal=True, actor="auditor")
        assert read_csv(tmp_path / "m.csv")[0]["msisdn"] == ""

    def test_streams_many_messages(self, engine: Engine, tmp_path: Path) -> None:
        """More messages than one fetch holds are all written, in id order."""
        spec = Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=1)
        campaign, _ = seed(engine, [[spec] * 12_000])
        summary = reports.export_messages(engine, campaign, tmp_path / "m.csv")
        ids = [int(line["message_id"]) for line in read_csv(tmp_path / "m.csv")]
        assert summary.messages == len(ids) == 12_000 and ids == sorted(ids)


def test_sqlite_report_does_not_block_writers(engine: Engine, tmp_path: Path) -> None:
    """On SQLite a report reads a snapshot without the write lock: a worker can write meanwhile."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never block writers")
    campaign, (run,) = seed(engine, [[Spec("703", "viettel", M.QUEUED)]])
    path = engine.url.database
    assert path
    with snapshot(engine) as reader:
        assert reader.rows("SELECT COUNT(*) FROM message WHERE run_id = :r", {"r": run}) == [(1,)]
        writer = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE message SET status = 'sending' WHERE run_id = ?", (run,))
        writer.execute("COMMIT")
        writer.close()
        assert reader.rows("SELECT status FROM message WHERE run_id = :r", {"r": run}) == [("queued",)]
    assert build(engine, campaign, run).totals.pending == 1


class TestCommand:
    def _run(self, tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
        env["BROADCASTER_DATABASE_URL"] = database_url
        return subprocess.run(
            [sys.executable, "-m", "broadcaster", "--dir", str(tmp_path), "report", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    def test_report_and_export(self, engine: Engine, database_url: str, tmp_path: Path) -> None:
        """`broadcaster report` writes each format (inferred from --out too) and the masked message CSV."""
        messages = [Spec("703", "viettel", M.DELIVERED, sent_ms=0, latency_ms=10, msisdn="+84912345678")]
        campaign, (run,) = seed(engine, [messages])
        done = self._run(tmp_path, database_url, str(campaign), "--run", str(run), "--out", str(tmp_path / "r.xlsx"))
        assert done.returncode == 0, done.stderr
        assert "(final)" in done.stdout
        assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames == list(SHEETS)
        done = self._run(tmp_path, database_url, str(campaign), "--from", "30/07/2024", "--until", "2024-07-30",
                         "--format", "json", "--out", str(tmp_path / "r.json"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["runs"] == [run]
        done = self._run(tmp_path, database_url, str(campaign), "--messages", "--out", str(tmp_path / "m.csv"))
        assert done.returncode == 0, done.stderr
        assert read_csv(tmp_path / "m.csv")[0]["msisdn"] == "+8491****678"

    def test_mistakes_are_one_line(self, engine: Engine, database_url: str, tmp_path: Path) -> None:
        """A bad date, --reveal without a name, an unknown campaign: one line on stderr, exit code 1."""
        campaign, _ = seed(engine, [[]])
        for args, expected in (
            ([str(campaign), "--from", "2024-13-01"], "is not a date"),
            ([str(campaign), "--messages", "--reveal"], "--as"),
            (["999999", "--format", "json"], "no campaign with id 999999"),
            ([str(campaign), "--format", "pdf"], "unknown report format"),
        ):
            done = self._run(tmp_path, database_url, *args)
            assert done.returncode == 1, (args, done.stdout)
            assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
            assert "Traceback" not in done.stderr


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        if REQUIRE_BROWSER:
            pytest.fail("BROADCASTER_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


def print_pdf(html: Path, pdf: Path, profile: Path) -> int:
    """Print ``html`` with headless Chromium; returns the number of pages."""
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and pdf.exists(), done.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_prints_on_a_few_a4_pages(engine: Engine, tmp_path: Path) -> None:
    """The HTML prints in headless Chromium to an A4 PDF of a sensible length, provisional or not."""
    executable = _chromium()
    assert executable
    spread = [
        Spec(d, c, status, sent_ms=i * 60_000, latency_ms=4000 + i, code="UNDELIV" if status == M.FAILED else None)
        for i, (d, c, status) in enumerate(
            (d, c, s) for d in DISTRICTS for c in CARRIERS for s in (M.DELIVERED, M.DELIVERED, M.FAILED, M.EXPIRED)
        )
    ]
    campaign, (run,) = seed(engine, [[*spread, Spec("703", "viettel", M.SENT, sent_ms=5)]])
    report = build(engine, campaign, run)
    html = reports.write(
        report, "html", tmp_path / "r.html", province="Tỉnh Tây Ninh", department="Sở Khoa học và Công nghệ"
    )
    pages = print_pdf(html, tmp_path / "r.pdf", tmp_path / "profile")
    assert 2 <= pages <= 5, pages
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+59[45](\.\d+)?\s+84[12](\.\d+)?\s*\]", pdf), "A4 pages"
