"""Audience imports over HTTP: upload, background import with progress, rejected rows to download."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, text

from broadcaster import demo, importer

from .conftest import NAMES, Tokens


def upload(client: TestClient, tokens: Tokens, name: str, filename: str, content: bytes) -> dict[str, Any]:
    response = client.post(
        "/api/v1/audiences/imports",
        headers=tokens.headers("operator"),
        files={"file": (filename, content, "application/octet-stream")},
        data={"name": name},
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/v1/audiences/imports/{response.json()['id']}"
    return response.json()


def finish(client: TestClient, tokens: Tokens, job_id: str) -> dict[str, Any]:
    client.app.state.imports.wait(job_id, timeout=120)  # type: ignore[attr-defined]
    response = client.get(f"/api/v1/audiences/imports/{job_id}", headers=tokens.headers("viewer"))
    assert response.status_code == 200
    return response.json()


class TestImport:
    def test_csv_import_matches_the_importer(
        self, client: TestClient, tokens: Tokens, tmp_path: Path, engine: Engine
    ) -> None:
        """The job's summary is the importer's: every row accepted, a duplicate or rejected; the audience lists it."""
        path = demo.write_audience(tmp_path / "list.csv", 600)
        job = upload(client, tokens, "Tây Ninh", "list.csv", path.read_bytes())
        assert job["status"] in ("queued", "running", "done")
        done = finish(client, tokens, job["id"])
        assert done["status"] == "done", done
        summary = done["summary"]
        assert summary["rows"] == 600 == done["rows"]
        assert summary["accepted"] + summary["duplicates"] + summary["rejected"] == 600
        assert sum(summary["by_reason"].values()) == summary["rejected"] > 0
        audiences = client.get("/api/v1/audiences", headers=tokens.headers("viewer")).json()
        assert [(a["name"], a["subscribers"]) for a in audiences] == [("Tây Ninh", summary["accepted"])]
        detail = client.get(f"/api/v1/audiences/{audiences[0]['id']}", headers=tokens.headers("viewer")).json()
        assert detail["by_district"] == summary["by_district"]
        assert sum(detail["by_carrier"].values()) == summary["accepted"]
        with engine.connect() as conn:
            audited = conn.execute(text("SELECT actor FROM auditevent WHERE action = 'audience.import'")).scalar_one()
        assert audited == NAMES["operator"]

    def test_rejects_download(self, client: TestClient, tokens: Tokens, tmp_path: Path) -> None:
        """The rejected rows download as CSV with the row number and a reason each."""
        path = demo.write_audience(tmp_path / "list.csv", 600)
        done = finish(client, tokens, upload(client, tokens, "Tây Ninh", "list.csv", path.read_bytes())["id"])
        assert done["rejects_url"] == f"/api/v1/audiences/imports/{done['id']}/rejects"
        response = client.get(done["rejects_url"], headers=tokens.headers("operator"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) == done["summary"]["rejected"]
        assert all(row["dòng"].isdigit() and row["lý do"] for row in rows)

    def test_xlsx_import(self, client: TestClient, tokens: Tokens) -> None:
        """An Excel list imports like a CSV one."""
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["Họ tên", "Số điện thoại", "Huyện"])
        sheet.append(["An", "0912345678", "Huyện Tân Biên"])
        sheet.append(["Bình", "0987654321", "Huyện Châu Thành"])
        sheet.append(["Chi", "0276 3822 111", "Huyện Châu Thành"])
        buffer = io.BytesIO()
        book.save(buffer)
        done = finish(client, tokens, upload(client, tokens, "Excel", "list.xlsx", buffer.getvalue())["id"])
        assert done["status"] == "done", done
        assert (done["summary"]["accepted"], done["summary"]["rejected"]) == (2, 1)

    def test_a_file_that_cannot_be_imported(self, client: TestClient, tokens: Tokens) -> None:
        """A list without a district column fails with the importer's explanation; nothing to download."""
        content = "Số điện thoại\n0912345678\n".encode()
        done = finish(client, tokens, upload(client, tokens, "Thiếu cột", "list.csv", content)["id"])
        assert done["status"] == "failed"
        assert "Quận/Huyện" in done["error"]
        assert done["rejects_url"] is None
        missing = client.get(f"/api/v1/audiences/imports/{done['id']}/rejects", headers=tokens.headers("operator"))
        assert missing.status_code == 404

    def test_empty_upload_is_refused(self, client: TestClient, tokens: Tokens) -> None:
        """An empty file is refused before any job starts."""
        response = client.post(
            "/api/v1/audiences/imports",
            headers=tokens.headers("operator"),
            files={"file": ("empty.csv", b"", "text/csv")},
            data={"name": "x"},
        )
        assert response.status_code == 422
        assert "empty" in response.json()["detail"]

    def test_unknown_job(self, client: TestClient, tokens: Tokens) -> None:
        """An unknown job id is a 404 that says where the jobs are listed."""
        response = client.get("/api/v1/audiences/imports/nope", headers=tokens.headers("viewer"))
        assert response.status_code == 404
        assert "GET /api/v1/audiences/imports" in response.json()["detail"]

    def test_progress_is_reported_while_importing(self, engine: Engine, tmp_path: Path) -> None:
        """The job's row count grows as the importer reports progress (chunk by chunk)."""
        from broadcaster.api.jobs import ImportJobs

        seen: list[int] = []
        jobs = ImportJobs(engine, tmp_path / "imports", on_rows=seen.append)
        jobs.start()
        try:
            path = demo.write_audience(tmp_path / "big.csv", importer.CHUNK_ROWS * 3 + 10)
            with path.open("rb") as handle:
                job = jobs.submit(audience="Lớn", province_code="72", filename="big.csv", source=handle, actor="t")
            finished = jobs.wait(job.id, timeout=120)
        finally:
            jobs.stop()
        assert finished.status == "done"
        assert len(seen) >= 3 and sum(seen) == finished.rows == importer.CHUNK_ROWS * 3 + 10


class TestOptOuts:
    def test_add_list_and_import(self, client: TestClient, tokens: Tokens) -> None:
        """Numbers are added once; invalid ones come back with a reason; the list shows them masked."""
        added = client.post(
            "/api/v1/optouts",
            headers=tokens.headers("operator"),
            json={"msisdns": ["0912345678", "+84912345678", "12"]},
        ).json()
        assert (added["rows"], added["added"], added["already"], len(added["rejected"])) == (3, 1, 1, 1)
        listed = client.get("/api/v1/optouts", headers=tokens.headers("viewer")).json()
        assert listed["total"] == 1 and listed["items"][0]["msisdn"] == "+8491****678"
        imported = client.post(
            "/api/v1/optouts/import",
            headers=tokens.headers("operator"),
            files={"file": ("optout.csv", "Số điện thoại\n0987654321\n0912345678\n".encode(), "text/csv")},
        ).json()
        assert (imported["added"], imported["already"]) == (1, 1)
