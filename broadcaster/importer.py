"""Import a subscriber list: every good row kept, every bad row accounted for with its reason.

Rows stream from ``audiences.readers``; each is normalised (``audiences.phones``) and placed in a
district of the audience's province (``audiences.divisions``), or rejected with a reason code and a
Vietnamese message that goes to the rejects file with the row number and the original values.
Accepted rows are inserted in chunks with ``ON CONFLICT DO NOTHING``, so a number already in the
audience (or twice in the file) is counted as a duplicate, never inserted twice, and importing the
same file again adds nothing.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from audiences import divisions, phones, readers
from broadcaster.models import Audience, CarrierSource, Subscriber, utcnow

CHUNK_ROWS = 1000

MISSING_DISTRICT = "missing_district"
UNKNOWN_DISTRICT = "unknown_district"

_CARRIER_NAMES = {
    "viettel": "viettel",
    "vinaphone": "vinaphone",
    "vina": "vinaphone",
    "vnpt": "vinaphone",
    "mobifone": "mobifone",
    "mobi": "mobifone",
    "vietnamobile": "vietnamobile",
    "gmobile": "gmobile",
    "beeline": "gmobile",
    "itel": "itel",
    "itelecom": "itel",
    "reddi": "reddi",
}


class AudienceFileError(Exception):
    """The file as a whole cannot be imported (the message says why and what to do)."""


@dataclass
class ImportSummary:
    audience: str
    audience_id: int
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    by_district: Counter[str] = field(default_factory=Counter)
    by_carrier: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    rejects_path: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "by_district": dict(sorted(self.by_district.items())),
            "by_carrier": dict(sorted(self.by_carrier.items())),
        }


def declared_carrier(value: str) -> str | None:
    key = readers.fold_header(value).replace(" ", "")
    return _CARRIER_NAMES.get(key)


class _Placer:
    """Finds a row's district (and commune) in the province, by code or by name; cached per spelling."""

    def __init__(self, province_code: str) -> None:
        self.province_code = province_code
        self.reference = divisions.load()
        self._districts: dict[str, str | None] = {}

    def district(self, value: str) -> str | None:
        if value not in self._districts:
            self._districts[value] = self._find_district(value)
        return self._districts[value]

    def _find_district(self, value: str) -> str | None:
        if value.isdigit():
            found = self.reference.district(value.zfill(3))
            return found.code if found and found.province_code == self.province_code else None
        found = self.reference.find_district(self.province_code, value)
        return found.code if found else None

    def commune(self, value: str, district_code: str | None) -> tuple[str, str] | None:
        """(commune code, its district code) for a commune name or code, or None."""
        if value.isdigit():
            found = self.reference.commune(value.zfill(5))
        else:
            found = self.reference.find_commune(self.province_code, value, district_code)
        if found is None or found.province_code != self.province_code:
            return None
        return found.code, found.district_code


def import_audience(
    engine: Engine,
    path: Path,
    *,
    name: str,
    province_code: str,
    rejects_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``path`` into the audience ``name`` (created if new) of ``province_code``."""
    reference = divisions.load()
    if reference.province(province_code) is None:
        msg = f"unknown province code {province_code!r}; use the national statistics code, e.g. 72 for Tây Ninh"
        raise AudienceFileError(msg)
    audience_id = _audience(engine, name, province_code)
    summary = ImportSummary(audience=name, audience_id=audience_id, rejects_path=rejects_path)
    placer = _Placer(province_code)
    seen: set[str] = set()
    with readers.open_sheet(path) as sheet, _rejects_writer(rejects_path, sheet.headers) as reject:
        columns = sheet.columns
        if columns.district is None and columns.commune is None:
            found = ", ".join(f'"{h}"' for h in sheet.headers)
            msg = (
                f'Tệp "{path.name}" không có cột quận/huyện hoặc xã/phường (các cột tìm thấy: {found}). '
                'Hãy thêm cột "Quận/Huyện" để chia người nhận theo địa bàn.'
            )
            raise AudienceFileError(msg)
        pending: list[dict[str, Any]] = []
        for row_number, row in sheet.rows():
            summary.rows += 1
            placed = _place(row, columns, placer, province_code, audience_id)
            if isinstance(placed, tuple):
                reason, message = placed
                summary.rejected += 1
                summary.by_reason[reason] += 1
                reject(row_number, row, reason, message)
            elif placed["msisdn"] in seen:
                summary.duplicates += 1
            else:
                seen.add(placed["msisdn"])
                pending.append(placed)
                if len(pending) >= CHUNK_ROWS:
                    _insert(engine, pending, summary)
                    pending = []
            if progress and summary.rows % CHUNK_ROWS == 0:
                progress(summary.rows)
        _insert(engine, pending, summary)
    if progress:
        progress(summary.rows)
    return summary


def _place(
    row: dict[str, str], columns: readers.Columns, placer: _Placer, province_code: str, audience_id: int
) -> dict[str, Any] | tuple[str, str]:
    phone = phones.normalize(row.get(columns.phone, ""))
    if isinstance(phone, phones.Rejection):
        return phone.reason, phone.message
    district_value = row.get(columns.district, "") if columns.district else ""
    commune_value = row.get(columns.commune, "") if columns.commune else ""
    district_code = placer.district(district_value) if district_value else None
    commune_code = None
    if commune_value:
        commune = placer.commune(commune_value, district_code)
        if commune is not None and (district_code is None or commune[1] == district_code):
            commune_code, district_code = commune
    if district_code is None:
        if not district_value and not commune_value:
            return MISSING_DISTRICT, "Dòng này không ghi quận/huyện; hãy điền quận/huyện của thuê bao."
        shown = district_value or commune_value
        return UNKNOWN_DISTRICT, (
            f'Không tìm thấy quận/huyện "{shown}" trong tỉnh mã {province_code}; '
            "hãy kiểm tra chính tả hoặc dùng mã đơn vị hành chính."
        )
    carrier, source = phone.carrier, CarrierSource.PREFIX
    if columns.carrier and row.get(columns.carrier):
        declared = declared_carrier(row[columns.carrier])
        if declared:
            carrier, source = declared, CarrierSource.DECLARED
    extra = {key: row[key] for key in columns.extra if row.get(key)}
    if columns.name and row.get(columns.name):
        extra["name"] = row[columns.name]
    return {
        "audience_id": audience_id,
        "msisdn": phone.msisdn,
        "province_code": province_code,
        "district_code": district_code,
        "commune_code": commune_code,
        "carrier": carrier,
        "carrier_source": source,
        "attributes": extra or None,
    }


def _insert(engine: Engine, rows: list[dict[str, Any]], summary: ImportSummary) -> None:
    if not rows:
        return
    table = Subscriber.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["audience_id", "msisdn"])
        .returning(table.c.district_code, table.c.carrier)
    )
    with engine.begin() as conn:
        inserted = conn.execute(statement).all()
    summary.accepted += len(inserted)
    summary.duplicates += len(rows) - len(inserted)
    summary.by_district.update(row[0] for row in inserted)
    summary.by_carrier.update(row[1] for row in inserted)


def _audience(engine: Engine, name: str, province_code: str) -> int:
    table = Audience.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        existing = conn.execute(select(table.c.id, table.c.province_code).where(table.c.name == name)).first()
        if existing is not None:
            if existing[1] != province_code:
                msg = (
                    f"the audience {name!r} belongs to province {existing[1]}, not {province_code}; "
                    "import into an audience of its own province (use another --name)"
                )
                raise AudienceFileError(msg)
            return int(existing[0])
        return int(
            conn.execute(
                table.insert().values(name=name, province_code=province_code, created_at=utcnow()).returning(table.c.id)
            ).scalar_one()
        )


def audience_size(engine: Engine, audience_id: int) -> int:
    table = Subscriber.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(table.c.audience_id == audience_id)).scalar_one())




@contextmanager
def _rejects_writer(
    path: Path | None, headers: tuple[str, ...]
) -> Iterator[Callable[[int, dict[str, str], str, str], None]]:
    if path is None:
        yield lambda *_: None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("w", encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(handle)
        writer.writerow(["dòng", *headers, "mã lỗi", "lý do"])

        def reject(row_number: int, row: dict[str, str], reason: str, message: str) -> None:
            writer.writerow([row_number, *(row.get(h, "") for h in headers), reason, message])

        yield reject
    finally:
        handle.close()
