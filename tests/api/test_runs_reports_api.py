"""A run seen through the API: live progress per district and carrier, reports in every format, metrics."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from broadcaster import queue, reports
from broadcaster.config import Settings

from .conftest import Tokens, send_run
from .test_campaigns_api import create


@pytest.fixture
def sent(client: TestClient, tokens: Tokens, audience: Any, engine: Engine, settings: Settings) -> tuple[int, int]:
    """(campaign id, run id) of a campaign approved over HTTP and sent to the end."""
    cid = create(client, tokens)["id"]
    client.post(f"/api/v1/campaigns/{cid}/submit", headers=tokens.headers("operator"))
    assert client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver")).status_code == 200
    return cid, send_run(engine, settings, cid)


class TestRuns:
    def test_progress_counts_every_message(
        self, client: TestClient, tokens: Tokens, sent: tuple[int, int], engine: Engine
    ) -> None:
        """Totals equal the message table's counts; districts and district × carrier rows sum to them."""
        _, run_id = sent
        progress = client.get(f"/api/v1/runs/{run_id}", headers=tokens.headers("viewer")).json()
        with engine.connect() as conn:
            counts = queue.status_counts(conn, run_id)
        assert progress["totals"] == counts
        assert progress["targeted"] == sum(counts.values()) == progress["run"]["targeted"]
        assert progress["done"] == progress["targeted"], "the run was dispatched to the end"
        for status, total in counts.items():
            assert sum(d["counts"][status] for d in progress["districts"]) == total
            assert sum(r["counts"][status] for r in progress["rows"]) == total
        assert {r["carrier"] for r in progress["rows"]} >= {"viettel", "vinaphone", "mobifone"}
        assert all(d["carrier"] == "" and d["district"] for d in progress["districts"])

    def test_list_runs(self, client: TestClient, tokens: Tokens, sent: tuple[int, int]) -> None:
        """Runs are listed by campaign and by status."""
        cid, run_id = sent
        by_campaign = client.get("/api/v1/runs", params={"campaign_id": cid}, headers=tokens.headers("viewer")).json()
        assert [r["id"] for r in by_campaign["items"]] == [run_id]
        completed = client.get("/api/v1/runs", params={"status": "completed"}, headers=tokens.headers("viewer")).json()
        assert completed["total"] == 1
        assert client.get("/api/v1/runs/999", headers=tokens.headers("viewer")).status_code == 404


class TestReports:
    def test_json_report_reconciles(self, client: TestClient, tokens: Tokens, sent: tuple[int, int]) -> None:
        """The JSON report has the contract's keys; its totals reconcile and match the run's progress."""
        cid, run_id = sent
        report = client.get(f"/api/v1/reports/{cid}", headers=tokens.headers("viewer")).json()
        assert report["campaign"] == cid and report["run"] == run_id and report["final"] and report["reconciles"]
        totals = report["totals"]
        parts = sum(totals[k] for k in ("delivered", "failed", "expired", "skipped", "cancelled", "pending"))
        assert totals["targeted"] == parts > 0
        progress = client.get(f"/api/v1/runs/{run_id}", headers=tokens.headers("viewer")).json()
        assert totals["delivered"] == progress["totals"]["delivered"]

    @pytest.mark.parametrize("fmt", [f for f in reports.FORMATS if f != "json"])
    def test_every_format_downloads(self, fmt: str, client: TestClient, tokens: Tokens, sent: tuple[int, int]) -> None:
        """CSV, XLSX and HTML come as attachments with their media type, and hold the totals."""
        cid, run_id = sent
        response = client.get(
            f"/api/v1/reports/{cid}", params={"format": fmt, "run": run_id}, headers=tokens.headers("viewer")
        )
        assert response.status_code == 200, response.text
        assert f'.{fmt}"' in response.headers["content-disposition"]
        delivered = client.get(f"/api/v1/reports/{cid}", headers=tokens.headers("viewer")).json()["totals"]["delivered"]
        if fmt == "csv":
            assert response.headers["content-type"].startswith("text/csv")
            text = response.content.decode("utf-8-sig")
            assert any(str(delivered) in row for row in csv.reader(io.StringIO(text)))
        elif fmt == "xlsx":
            book = load_workbook(io.BytesIO(response.content))
            assert any(delivered in [c for row in s.iter_rows(values_only=True) for c in row] for s in book.worksheets)
        elif fmt == "html":
            assert response.headers["content-type"].startswith("text/html")
            assert "Tổng cộng" in response.text

    def test_unknown_format_and_run(self, client: TestClient, tokens: Tokens, sent: tuple[int, int]) -> None:
        """An unknown format is a 422; a run of another campaign a 404; an unknown campaign a 404."""
        cid, _ = sent
        assert (
            client.get(
                f"/api/v1/reports/{cid}", params={"format": "pdfx"}, headers=tokens.headers("viewer")
            ).status_code
            == 422
        )
        assert (
            client.get(f"/api/v1/reports/{cid}", params={"run": 999}, headers=tokens.headers("viewer")).status_code
            == 404
        )
        assert client.get("/api/v1/reports/999", headers=tokens.headers("viewer")).status_code == 404


class TestMetrics:
    def test_messages_by_status_and_route(self, client: TestClient, sent: tuple[int, int], engine: Engine) -> None:
        """/metrics counts messages by status and route from the database at scrape time."""
        _, run_id = sent
        body = client.get("/metrics").text
        with engine.connect() as conn:
            delivered = queue.status_counts(conn, run_id)["delivered"]
        samples = [s for family in text_string_to_metric_families(body) for s in family.samples]
        messages = [s for s in samples if s.name == "broadcaster_messages" and s.labels["status"] == "delivered"]
        assert sum(s.value for s in messages) == delivered > 0
        assert "sim-viettel" in {s.labels["route"] for s in messages}
        assert [s.value for s in samples if s.name == "broadcaster_database_up"] == [1.0]
