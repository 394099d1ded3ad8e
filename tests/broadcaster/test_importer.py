"""Audience import (DESIGN §5 step 1, §6): exact counts, rejects, idempotence, placing, carriers, CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, select

from audiences import divisions
from audiences.readers import ReadError
from broadcaster import importer
from broadcaster.importer import AudienceFileError, import_audience
from broadcaster.models import Audience, Subscriber

TAY_NINH = "72"


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def subscribers(engine: Engine, audience_id: int) -> dict[str, dict[str, Any]]:
    """msisdn -> the stored row, for one audience."""
    table = Subscriber.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.audience_id == audience_id)).mappings().all()
    return {row["msisdn"]: dict(row) for row in rows}


def audience_names(engine: Engine) -> list[str]:
    table = Audience.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(select(table.c.name))]


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# Ten rows: 3 accepted, 1 duplicate (row 4 repeats row 2 in another form), 6 rejected.
MIXED_HEADER = ("Họ tên", "Số điện thoại", "Quận/Huyện")
MIXED_ROWS = (
    ("Nguyễn Văn An", "0912345678", "Huyện Tân Biên"),  # row 2: vinaphone, 705
    ("Trần Thị Bích", "+84 987 654 321", "tan bien"),  # row 3: viettel, 705
    ("Lê Minh Châu", "0912 345 678", "Tân Châu"),  # row 4: duplicate of row 2
    ("Phạm Quốc Dũng", "02763822123", "Tân Biên"),  # row 5: landline
    ("Võ Thị Hạnh", "091234", "Tân Biên", "ô thừa"),  # row 6: too short, one cell beyond the header
    ("Phan Hoàng Long", "0901234567", "Huyện Không Có"),  # row 7: unknown district
    ("Bùi Ngọc Mai", "0921234567", ""),  # row 8: no district
    ("Đặng Thanh Tâm", "", "Tân Biên"),  # row 9: no number
    ("Huỳnh Văn Tư", "9.12346E+08", "Tân Biên"),  # row 10: rounded by Excel
    ("Trương Thị Năm", "01662345678", "706"),  # row 11: old 11-digit Viettel, district by code
)
MIXED_REASONS = {
    5: "landline",
    6: "too_short",
    7: "unknown_district",
    8: "missing_district",
    9: "empty",
    10: "excel_rounded",
}


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "mixed.csv", MIXED_HEADER, MIXED_ROWS)


class TestCounts:
    def test_rows_are_accepted_rejected_or_duplicates(self, engine: Engine, mixed_file: Path) -> None:
        """rows = accepted + rejected + duplicates, with the exact counts per district, carrier and reason."""
        summary = import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH)
        assert (summary.rows, summary.accepted, summary.rejected, summary.duplicates) == (10, 3, 6, 1)
        assert summary.rows == summary.accepted + summary.rejected + summary.duplicates
        assert summary.by_district == {"705": 2, "706": 1}
        assert summary.by_carrier == {"vinaphone": 1, "viettel": 2}
        assert summary.by_reason == {reason: 1 for reason in MIXED_REASONS.values()}
        stored = subscribers(engine, summary.audience_id)
        assert sorted(stored) == ["+84362345678", "+84912345678", "+84987654321"]
        assert stored["+84912345678"]["district_code"] == "705", "the first row of a number wins"
        assert stored["+84362345678"]["carrier"] == "viettel"
        assert {row["province_code"] for row in stored.values()} == {TAY_NINH}

    def test_json_summary_has_the_documented_shape(self, engine: Engine, mixed_file: Path) -> None:
        """as_json() is DESIGN §6's summary: these keys, in this order, plain JSON values."""
        summary = import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH)
        document = json.loads(json.dumps(summary.as_json()))
        assert list(document) == ["audience", "rows", "accepted", "rejected", "duplicates", "by_district", "by_carrier"]
        assert document == {
            "audience": "Tây Ninh",
            "rows": 10,
            "accepted": 3,
            "rejected": 6,
            "duplicates": 1,
            "by_district": {"705": 2, "706": 1},
            "by_carrier": {"viettel": 2, "vinaphone": 1},
        }

    def test_importing_the_same_file_again_adds_nothing(self, engine: Engine, mixed_file: Path) -> None:
        """The second import finds every good row already there: all duplicates, nothing added."""
        first = import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH)
        before = subscribers(engine, first.audience_id)
        second = import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH)
        assert second.audience_id == first.audience_id
        assert (second.rows, second.accepted, second.rejected, second.duplicates) == (10, 0, 6, 4)
        assert second.by_district == {} and second.by_carrier == {}
        assert subscribers(engine, first.audience_id) == before

    def test_the_same_number_in_two_audiences_is_kept_in_both(self, engine: Engine, mixed_file: Path) -> None:
        """Duplicates are per audience: another audience takes the same numbers."""
        first = import_audience(engine, mixed_file, name="A", province_code=TAY_NINH)
        second = import_audience(engine, mixed_file, name="B", province_code=TAY_NINH)
        assert first.accepted == second.accepted == 3
        assert sorted(subscribers(engine, first.audience_id)) == sorted(subscribers(engine, second.audience_id))

    def test_counts_stay_exact_across_transactions(
        self, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With tiny transactions, duplicates within a chunk, across chunks and against the audience all count."""
        monkeypatch.setattr(importer, "TRANSACTION_ROWS", 3)
        monkeypatch.setattr(importer, "CHUNK_ROWS", 4)
        numbers = [f"09123450{i:02d}" for i in range(10)]
        rows = [(n, "Tân Biên") for n in numbers]
        rows += [(numbers[0], "Tân Châu"), (numbers[1], "Tân Châu"), (numbers[9], "706"), ("bad", "705")]
        rows += [(numbers[9], "705")]  # the same number twice in the same chunk
        path = write_csv(tmp_path / "chunks.csv", ("SĐT", "Huyện"), rows)
        seen: list[int] = []
        summary = import_audience(engine, path, name="chunks", province_code=TAY_NINH, progress=seen.append)
        assert (summary.rows, summary.accepted, summary.rejected, summary.duplicates) == (15, 10, 1, 4)
        assert summary.by_district == {"705": 10}
        assert len(subscribers(engine, summary.audience_id)) == 10
        assert seen == sorted(seen) and seen[-1] == 15 and len(seen) >= 3

    def test_damage_halfway_keeps_the_rows_before_and_says_so(self, engine: Engine, tmp_path: Path) -> None:
        """A byte no encoding reads, past the sample: one clear error naming the row; earlier rows are in."""
        path = tmp_path / "damaged.csv"
        lines = ["Số điện thoại,Quận/Huyện"] + [f"09123{i:05d},Huyện Tân Biên" for i in range(3000)]
        path.write_bytes(("\n".join(lines) + "\n").encode() + b"0987654321,T\x81n Bi\x81n\n")
        with pytest.raises(AudienceFileError) as caught:
            import_audience(engine, path, name="damaged", province_code=TAY_NINH)
        message = str(caught.value)
        assert "dòng 3002" in message and "3000 rows before it were imported" in message
        audience_id = _audience_id(engine, "damaged")
        assert audience_id is not None
        assert len(subscribers(engine, audience_id)) == 3000


def _audience_id(engine: Engine, name: str) -> int | None:
    table = Audience.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return conn.execute(select(table.c.id).where(table.c.name == name)).scalar_one_or_none()


class TestRejects:
    def test_every_rejected_row_is_written_with_its_values_and_reason(
        self, engine: Engine, mixed_file: Path, tmp_path: Path
    ) -> None:
        """The rejects CSV: one line per rejected row, its number, every original value, reason code, message."""
        rejects = tmp_path / "out" / "rejects.csv"
        summary = import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH, rejects_path=rejects)
        lines = read_rejects(rejects)
        assert len(lines) == summary.rejected == len(MIXED_REASONS)
        header = list(lines[0])
        assert header == ["dòng", *MIXED_HEADER, "các cột khác", "mã lỗi", "lý do"]
        by_row = {int(line["dòng"]): line for line in lines}
        assert {row: line["mã lỗi"] for row, line in by_row.items()} == MIXED_REASONS
        for row, line in by_row.items():
            original = MIXED_ROWS[row - 2]
            assert [line[h] for h in MIXED_HEADER] == list(original[:3])
            assert line["mã lỗi"] in importer.REASONS
            assert len(line["lý do"]) > 20
        assert by_row[6]["các cột khác"] == "Cột D=ô thừa"
        assert "Excel" in by_row[10]["lý do"] and "Text" in by_row[10]["lý do"]
        assert "Huyện Không Có" in by_row[7]["lý do"]

    def test_a_clean_file_leaves_a_rejects_file_with_its_header_only(self, engine: Engine, tmp_path: Path) -> None:
        """--rejects always writes the file, so the operator can tell "none rejected" from "not run"."""
        path = write_csv(tmp_path / "clean.csv", ("SĐT", "Huyện"), [("0912345678", "Tân Biên")])
        rejects = tmp_path / "rejects.csv"
        import_audience(engine, path, name="clean", province_code=TAY_NINH, rejects_path=rejects)
        assert read_rejects(rejects) == []
        assert rejects.read_text(encoding="utf-8-sig").startswith("dòng,SĐT,Huyện,")


class TestPlacing:
    def test_district_names_in_every_spelling_and_by_code(self, engine: Engine, tmp_path: Path) -> None:
        """Prefixes, abbreviations, no diacritics, capitals, tone placement and codes find the same district."""
        spellings = {
            "Huyện Tân Biên": "705",
            "H. Tân Biên": "705",
            "tan bien": "705",
            "TÂN BIÊN": "705",
            "705": "705",
            "Thị xã Hoà Thành": "709",
            "TX Hòa Thành": "709",
            "Huyện Hòa Thành": "709",
            "TP Tây Ninh": "703",
            "thanh pho tay ninh": "703",
            "Thị xã Trảng Bàng": "712",
        }
        rows = [(f"09123456{i:02d}", name) for i, name in enumerate(spellings)]
        path = write_csv(tmp_path / "spellings.csv", ("Số điện thoại", "Quận/Huyện"), rows)
        summary = import_audience(engine, path, name="spellings", province_code=TAY_NINH)
        assert summary.accepted == len(spellings), summary.by_reason
        stored = subscribers(engine, summary.audience_id)
        for i, code in enumerate(spellings.values()):
            assert stored[f"+849123456{i:02d}"]["district_code"] == code

    def test_district_from_the_commune(self, engine: Engine, tmp_path: Path) -> None:
        """Without a district, the commune (by name or code) gives it; with both, both are kept."""
        reference = divisions.load()
        tan_lap = reference.find_commune(TAY_NINH, "Xã Tân Lập")
        suoi_ngo = reference.find_commune(TAY_NINH, "Xã Suối Ngô")
        assert tan_lap is not None and suoi_ngo is not None
        rows = [
            ("0912000001", "", "Xã Tân Lập"),
            ("0912000002", "", suoi_ngo.code),
            ("0912000003", "Tân Biên", "tan lap"),
            ("0912000004", "Tân Biên", "Xã Không Có"),  # unknown commune, known district: district kept
            ("0912000005", "", "Xã Không Có"),  # nothing to place it by
            ("0912000006", "", "Xã Tân Bình"),  # two communes of the province have that name
        ]
        path = write_csv(tmp_path / "communes.csv", ("SĐT", "Huyện", "Xã/Phường"), rows)
        rejects = tmp_path / "rejects.csv"
        summary = import_audience(engine, path, name="communes", province_code=TAY_NINH, rejects_path=rejects)
        stored = subscribers(engine, summary.audience_id)
        placed = {n: (row["district_code"], row["commune_code"]) for n, row in stored.items()}
        assert placed == {
            "+84912000001": ("705", tan_lap.code),
            "+84912000002": ("706", suoi_ngo.code),
            "+84912000003": ("705", tan_lap.code),
            "+84912000004": ("705", None),
        }
        assert summary.by_reason == {"unknown_commune": 1, "ambiguous_commune": 1}
        ambiguous = next(line for line in read_rejects(rejects) if line["mã lỗi"] == "ambiguous_commune")
        candidates = [c.code for c in reference.communes("703") + reference.communes("705") if "Tân Bình" in c.name]
        assert len(candidates) == 2 and all(code in ambiguous["lý do"] for code in candidates)

    def test_an_ambiguous_district_is_rejected_listing_the_candidates(self, engine: Engine, tmp_path: Path) -> None:
        """The name "Kỳ Anh" is both a huyện and a thị xã of Hà Tĩnh: rejected with both; the full name is accepted."""
        rows = [("0912000001", "Kỳ Anh"), ("0912000002", "Thị xã Kỳ Anh"), ("0912000003", "Huyện Kỳ Anh")]
        path = write_csv(tmp_path / "ha-tinh.csv", ("SĐT", "Quận/Huyện"), rows)
        rejects = tmp_path / "rejects.csv"
        summary = import_audience(engine, path, name="Hà Tĩnh", province_code="42", rejects_path=rejects)
        assert summary.by_reason == {"ambiguous_district": 1}
        (line,) = read_rejects(rejects)
        assert line["dòng"] == "2" and line["Quận/Huyện"] == "Kỳ Anh"
        assert "447 Huyện Kỳ Anh" in line["lý do"] and "449 Thị xã Kỳ Anh" in line["lý do"]
        stored = subscribers(engine, summary.audience_id)
        assert {n: row["district_code"] for n, row in stored.items()} == {"+84912000002": "449", "+84912000003": "447"}

    def test_rows_of_another_province_are_rejected_as_such(self, engine: Engine, tmp_path: Path) -> None:
        """A district code or a province column of another province: outside_province, not a silent bucket."""
        rows = [
            ("0912000001", "760", "Tây Ninh"),  # Quận 1 of Hồ Chí Minh City
            ("0912000002", "Tân Biên", "Long An"),
            ("0912000003", "Tân Biên", "Tỉnh Tây Ninh"),
            ("0912000004", "Tân Biên", "80"),  # Tây Ninh's code since July 2025
        ]
        path = write_csv(tmp_path / "provinces.csv", ("SĐT", "Quận/Huyện", "Tỉnh"), rows)
        summary = import_audience(engine, path, name="provinces", province_code=TAY_NINH)
        assert summary.by_reason == {"outside_province": 2}
        assert sorted(subscribers(engine, summary.audience_id)) == ["+84912000003", "+84912000004"]


class TestCarriersAndAttributes:
    def test_a_declared_carrier_overrides_the_prefix(self, engine: Engine, tmp_path: Path) -> None:
        """Number portability: the list's carrier wins (source "declared"); an unknown name falls back to the prefix."""
        rows = [
            ("0987654321", "Tân Biên", "MobiFone"),  # Viettel prefix, ported
            ("0912345678", "Tân Biên", ""),
            ("0901234567", "Tân Biên", "Khác"),
            ("0921234567", "Tân Biên", "VNPT"),
        ]
        path = write_csv(tmp_path / "carriers.csv", ("Số điện thoại", "Quận/Huyện", "Nhà mạng"), rows)
        summary = import_audience(engine, path, name="carriers", province_code=TAY_NINH)
        stored = subscribers(engine, summary.audience_id)
        assert {n: (r["carrier"], r["carrier_source"]) for n, r in stored.items()} == {
            "+84987654321": ("mobifone", "declared"),
            "+84912345678": ("vinaphone", "prefix"),
            "+84901234567": ("mobifone", "prefix"),
            "+84921234567": ("vinaphone", "declared"),
        }
        assert summary.by_carrier == {"mobifone": 2, "vinaphone": 2}

    def test_names_and_extra_columns_become_attributes(self, engine: Engine, tmp_path: Path) -> None:
        """The name and unknown columns are kept for templates; row-number columns and empty cells are not."""
        rows = [
            ("1", 'Nguyễn Văn "An"', "0912000001", "Tân Biên", "hộ nghèo"),
            ("2", "Trần Thị Bích", "0912000002", "Tân Biên", ""),
            ("3", "", "0912000003", "Tân Biên", ""),
        ]
        path = write_csv(tmp_path / "names.csv", ("STT", "Họ và tên", "SĐT", "Huyện", "Ghi chú"), rows)
        summary = import_audience(engine, path, name="names", province_code=TAY_NINH)
        stored = subscribers(engine, summary.audience_id)
        assert stored["+84912000001"]["attributes"] == {"Ghi chú": "hộ nghèo", "name": 'Nguyễn Văn "An"'}
        assert stored["+84912000002"]["attributes"] == {"name": "Trần Thị Bích"}
        assert stored["+84912000003"]["attributes"] is None


class TestExcel:
    def test_an_xlsx_damaged_by_excel(self, engine: Engine, tmp_path: Path) -> None:
        """Numbers stored as numbers or floats, E+08 text, apostrophes are read; digits Excel rounded away are not."""
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(["DANH SÁCH THUÊ BAO HUYỆN TÂN BIÊN"])
        sheet.append(["STT", "Họ tên", "Số điện thoại", "Quận/Huyện"])
        sheet.append([1, "An", 912345678, "Huyện Tân Biên"])
        sheet.append([2, "Bích", 987654321.0, "Tân Biên"])
        sheet.append([3, "Châu", "9.01234567E+08", "tan bien"])
        sheet.append([4, "Dũng", "'0921234567", 705])
        sheet.append([5, "Hạnh", "9.12346E+08", "Tân Biên"])
        sheet.append([6, "Long", 2763822123, "Tân Biên"])
        path = tmp_path / "damaged.xlsx"
        workbook.save(path)
        rejects = tmp_path / "rejects.csv"
        summary = import_audience(engine, path, name="xlsx", province_code=TAY_NINH, rejects_path=rejects)
        assert (summary.rows, summary.accepted, summary.rejected) == (6, 4, 2)
        assert sorted(subscribers(engine, summary.audience_id)) == [
            "+84901234567", "+84912345678", "+84921234567", "+84987654321",
        ]  # fmt: skip
        assert {(line["dòng"], line["mã lỗi"]) for line in read_rejects(rejects)} == {
            ("7", "excel_rounded"),
            ("8", "landline"),
        }


class TestFileErrors:
    def test_no_district_column(self, engine: Engine, tmp_path: Path) -> None:
        """One message naming the columns found; no audience is created."""
        path = write_csv(tmp_path / "no-district.csv", ("Họ tên", "SĐT"), [("An", "0912345678")])
        with pytest.raises(AudienceFileError, match=r'không có cột quận/huyện.*"Họ tên", "SĐT"'):
            import_audience(engine, path, name="x", province_code=TAY_NINH)
        assert audience_names(engine) == []

    def test_no_phone_column(self, engine: Engine, tmp_path: Path) -> None:
        """The reader's message lists the headers it found."""
        path = write_csv(tmp_path / "no-phone.csv", ("Họ tên", "Huyện"), [("An", "Tân Biên")])
        with pytest.raises(ReadError, match=r'không có cột số điện thoại.*"Họ tên", "Huyện"'):
            import_audience(engine, path, name="x", province_code=TAY_NINH)
        assert audience_names(engine) == []

    def test_header_only_and_empty_files(self, engine: Engine, tmp_path: Path) -> None:
        """A header without rows, and a file of 0 bytes: a message each, no audience."""
        header_only = write_csv(tmp_path / "header.csv", ("SĐT", "Huyện"), [])
        with pytest.raises(AudienceFileError, match="không có dòng dữ liệu"):
            import_audience(engine, header_only, name="x", province_code=TAY_NINH)
        empty = tmp_path / "empty.csv"
        empty.write_bytes(b"")
        with pytest.raises(ReadError, match="trống"):
            import_audience(engine, empty, name="x", province_code=TAY_NINH)
        assert audience_names(engine) == []

    def test_province_mistakes(self, engine: Engine, mixed_file: Path) -> None:
        """An unknown province code, or an audience that belongs to another province, is refused."""
        with pytest.raises(AudienceFileError, match="unknown province code '99'"):
            import_audience(engine, mixed_file, name="x", province_code="99")
        import_audience(engine, mixed_file, name="Tây Ninh", province_code=TAY_NINH)
        with pytest.raises(AudienceFileError, match="belongs to province 72, not 42"):
            import_audience(engine, mixed_file, name="Tây Ninh", province_code="42")


class TestEstimate:
    def test_csv_rows_are_estimated_from_line_breaks(self, mixed_file: Path, tmp_path: Path) -> None:
        """The progress bar's total: data lines of a CSV; unknown (None) for Excel."""
        assert importer.estimate_rows(mixed_file) == len(MIXED_ROWS)
        assert importer.estimate_rows(tmp_path / "list.xlsx") is None


# ------------------------------------------------------------------------------------------- CLI


def _cli(workspace: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    if database_url is not None:
        env["BROADCASTER_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


class TestCommand:
    def test_json_output_and_rejects_file(self, database_url: str, mixed_file: Path, tmp_path: Path) -> None:
        """`audience import --json` prints exactly the DESIGN §6 object on one line; --rejects gets the rows."""
        rejects = tmp_path / "rejects.csv"
        url = database_url if database_url.startswith("postgresql") else None
        proc = _cli(
            tmp_path / "ws",
            "audience", "import", str(mixed_file), "--name", "Tây Ninh", "--rejects", str(rejects), "--json",
            database_url=url,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        (line,) = proc.stdout.splitlines()
        document = json.loads(line)
        assert list(document) == ["audience", "rows", "accepted", "rejected", "duplicates", "by_district", "by_carrier"]
        assert document["audience"] == "Tây Ninh"
        assert (document["rows"], document["accepted"], document["rejected"], document["duplicates"]) == (10, 3, 6, 1)
        assert document["by_district"] == {"705": 2, "706": 1}
        assert document["by_carrier"] == {"viettel": 2, "vinaphone": 1}
        assert len(read_rejects(rejects)) == 6

    def test_summary_for_people(self, mixed_file: Path, tmp_path: Path) -> None:
        """Without --json: the counts, the districts and the reasons, and where to find the rejected rows."""
        proc = _cli(tmp_path / "ws", "audience", "import", str(mixed_file), "--name", "Tây Ninh")
        assert proc.returncode == 0, proc.stderr
        assert "10 rows, 3 added, 1 duplicates, 6 rejected" in proc.stdout
        assert "Rejected by reason:" in proc.stdout and "excel_rounded 1" in proc.stdout
        assert "--rejects" in proc.stdout

    @pytest.mark.parametrize(
        ("case", "expected"),
        [
            ("no-phone", "không có cột số điện thoại"),
            ("no-district", "không có cột quận/huyện"),
            ("empty", "trống"),
            ("missing", "Không tìm thấy tệp"),
            ("xls", ".xls"),
            ("province", "unknown province code"),
            ("rejects-is-input", "is the file being imported"),
        ],
    )
    def test_bad_files_give_one_error_line(self, tmp_path: Path, case: str, expected: str) -> None:
        """Each mistake: exit 1 and one line on stderr saying what and what to do; no traceback."""
        path = tmp_path / "list.csv"
        extra: list[str] = []
        if case == "no-phone":
            write_csv(path, ("Họ tên", "Huyện"), [("An", "Tân Biên")])
        elif case == "no-district":
            write_csv(path, ("Họ tên", "SĐT"), [("An", "0912345678")])
        elif case == "empty":
            path.write_bytes(b"")
        elif case == "xls":
            path = tmp_path / "list.xls"
            path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
        elif case in ("province", "rejects-is-input"):
            write_csv(path, ("SĐT", "Huyện"), [("0912345678", "Tân Biên")])
            extra = ["--province", "99"] if case == "province" else ["--rejects", str(path)]
        proc = _cli(tmp_path / "ws", "audience", "import", str(path), "--name", "x", *extra)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: ") and expected in lines[0]
        assert "Traceback" not in proc.stderr and proc.stdout == ""
