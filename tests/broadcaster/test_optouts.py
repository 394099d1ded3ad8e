"""Opt-outs: numbers stored once, invalid values reported, and the planner never messages them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, text

from audiences.readers import ReadError
from broadcaster import campaigns, importer, optouts, planner
from broadcaster.config import Settings
from broadcaster.models import utcnow


def stored(engine: Engine) -> dict[str, str]:
    """msisdn -> source of every opt-out."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT msisdn, source FROM optout")).all())


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


class TestAdd:
    def test_every_form_of_a_number_is_one_opt_out(self, engine: Engine) -> None:
        """0912…, +84 912…, 84912… are the same number: stored once, in E.164; later adds count as already."""
        summary = optouts.add(engine, enumerate(["0912345678", "+84 912 345 678", "0987654321"], start=1), "op")
        assert (summary.rows, summary.added, summary.already, summary.rejected_count) == (3, 2, 1, 0)
        again = optouts.add(engine, [(1, "84912345678")], "op")
        assert (again.added, again.already) == (0, 1)
        assert stored(engine) == {"+84912345678": "op", "+84987654321": "op"}

    def test_values_that_are_not_mobile_numbers_are_reported(self, engine: Engine) -> None:
        """A landline or text is not added; its row, value and a Vietnamese reason come back."""
        summary = optouts.add(engine, [(1, "02763822123"), (2, "không"), (3, "0912345678")], "op")
        assert (summary.added, summary.already, summary.rejected_count) == (1, 0, 2)
        assert [(row, value) for row, value, _ in summary.rejected] == [(1, "02763822123"), (2, "không")]
        assert "cố định" in summary.rejected[0][2]
        assert list(stored(engine)) == ["+84912345678"]

    def test_a_long_source_is_cut_to_fit_the_column(self, engine: Engine) -> None:
        """The source names a file; a long file name must not break the insert (PostgreSQL checks lengths)."""
        source = "file:" + "danh-sach-thue-bao-tu-choi-nhan-tin-nam-2024.xlsx"
        optouts.add(engine, [(1, "0912345678")], source)
        assert stored(engine) == {"+84912345678": source[: optouts.SOURCE_MAX]}


class TestImportFile:
    def test_csv_and_xlsx_files(self, engine: Engine, tmp_path: Path) -> None:
        """The phone column of either format is read; other columns are ignored; the source names the file."""
        path = write_csv(tmp_path / "stop.csv", ["Họ tên", "SĐT"], [["An", "0912345678"], ["Bích", "abc"]])
        summary = optouts.import_file(engine, path)
        assert (summary.rows, summary.added, summary.rejected_count) == (2, 1, 1)
        workbook = Workbook()
        workbook.active.append(["Số điện thoại"])
        workbook.active.append([912345678])
        workbook.active.append([987654321.0])
        xlsx = tmp_path / "stop.xlsx"
        workbook.save(xlsx)
        summary = optouts.import_file(engine, xlsx)
        assert (summary.rows, summary.added, summary.already) == (2, 1, 1)
        assert stored(engine) == {"+84912345678": "file:stop.csv", "+84987654321": "file:stop.xlsx"}

    def test_a_file_without_a_phone_column(self, engine: Engine, tmp_path: Path) -> None:
        """The reader's one clear message; nothing is added."""
        path = write_csv(tmp_path / "stop.csv", ["Họ tên"], [["An"]])
        with pytest.raises(ReadError, match="không có cột số điện thoại"):
            optouts.import_file(engine, path)
        assert stored(engine) == {}


class TestPlanner:
    def test_opted_out_numbers_stay_in_the_audience_but_are_never_messaged(
        self, engine: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        """planner.plan_run makes them skipped messages with reason opted_out; everyone else is queued."""
        rows = [[f"09123456{i:02d}", "Huyện Tân Biên" if i % 2 else "Huyện Tân Châu"] for i in range(6)]
        path = write_csv(tmp_path / "audience.csv", ["Số điện thoại", "Quận/Huyện"], rows)
        imported = importer.import_audience(engine, path, name="Tây Ninh", province_code="72")
        assert imported.accepted == 6
        optouts.add(engine, [(1, "+84 912 345 601"), (2, "0912345604")], "op")
        campaign = campaigns.create_campaign(
            engine,
            settings,
            campaigns.NewCampaign(
                name="30/7", template="30-7/2024", audiences=("Tây Ninh",), created_by="op", window="00:00-24:00"
            ),
        )
        assert campaign.id is not None
        campaigns.transition(engine, campaign.id, "submit", "op")
        campaigns.transition(engine, campaign.id, "approve", "boss")
        run = planner.create_run(engine, campaign.id, utcnow(), settings)
        assert run.id is not None
        plan = planner.plan_run(engine, run.id, settings)
        assert (plan.targeted, plan.queued, plan.skipped) == (6, 4, 2)
        with engine.connect() as conn:
            messages = {
                msisdn: (status, reason, sent_at)
                for msisdn, status, reason, sent_at in conn.execute(
                    text("SELECT msisdn, status, skip_reason, sent_at FROM message WHERE run_id = :r"), {"r": run.id}
                )
            }
            kept = conn.execute(text("SELECT COUNT(*) FROM subscriber")).scalar_one()
        assert kept == 6
        assert messages["+84912345601"] == ("skipped", "opted_out", None)
        assert messages["+84912345604"] == ("skipped", "opted_out", None)
        assert {m: s[0] for m, s in messages.items() if s[1] is None} == {
            f"+849123456{i:02d}": "queued" for i in (0, 2, 3, 5)
        }


def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(workspace), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


class TestCommands:
    def test_add_and_import(self, tmp_path: Path) -> None:
        """`optout add` exits 1 when a value is not a number (and says which); `optout import` reports counts."""
        workspace = tmp_path / "ws"
        proc = _cli(workspace, "optout", "add", "0912345678", "+84 987 654 321")
        assert proc.returncode == 0, proc.stderr
        assert "2 added, 0 already opted out." in proc.stdout
        proc = _cli(workspace, "optout", "add", "0912345678", "02763822123")
        assert proc.returncode == 1
        assert "1 already opted out" in proc.stdout
        assert "02763822123" in proc.stderr and "Traceback" not in proc.stderr
        path = write_csv(tmp_path / "stop.csv", ["SĐT"], [["0912345678"], ["0901234567"], ["abc"]])
        proc = _cli(workspace, "optout", "import", str(path))
        assert proc.returncode == 0, proc.stderr
        assert "3 rows: 1 added, 1 already opted out, 1 not phone numbers." in proc.stdout
        assert "stop.csv, row 4: 'abc'" in proc.stderr
