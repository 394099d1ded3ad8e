"""Import a subscriber list: every good row kept, every bad row accounted for with its reason.

Rows stream from ``audiences.readers``; each is normalised (``audiences.phones``) and placed in a
district of the audience's province (``audiences.divisions``), or rejected with a reason code and a
Vietnamese message that goes to the rejects file with the row number and the original values.

    rows = accepted + rejected + duplicates, always.

Placing a row: the district column by code ("705") or by name in any usual spelling ("Huyện Tân
Biên", "H. Tân Biên", "tan bien"); without a district, the district of the commune (by code or by a
name unique in the province). A commune that cannot be found next to a known district is left out
(the row keeps its district). A district name that fits several districts ("Kỳ Anh": the huyện and
the thị xã) is rejected as ``ambiguous_district`` listing the candidates; a province column naming
another province rejects the row as ``outside_province``. A declared carrier column ("Nhà mạng")
overrides the prefix (``carrier_source`` "declared"; number portability).

Accepted rows are inserted in transactions of ``TRANSACTION_ROWS`` with ``ON CONFLICT (audience,
msisdn) DO NOTHING``: a number already in the audience, or met earlier in the file, is counted as a
duplicate, never inserted twice (the first row of a number wins), and importing the same file again
adds nothing. The database is the only memory of the numbers seen, so memory does not grow with the
file (measured: 1,000,000 rows, peak RSS under 200 MB, see ``bench/import_audience.py``). If the
file turns out to be damaged halfway, the rows before the damage stay imported and the error says
so; importing the repaired file again adds the rest.

On SQLite a transaction is one ``executemany`` of a single-row ``INSERT`` and a count of the rows it
added; on PostgreSQL a ``COPY`` into a temporary table and one ``INSERT … SELECT … RETURNING``
(ten times less CPU than a multi-row ``INSERT`` through SQLAlchemy, measured on 300,000 rows).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from json.encoder import encode_basestring
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from audiences import divisions, phones, readers
from broadcaster.models import Audience, CarrierSource, Subscriber, utcnow

CHUNK_ROWS = 5000
"""Progress is reported every CHUNK_ROWS rows read."""
TRANSACTION_ROWS = 50_000
"""Accepted rows per transaction. SQLite rewrites every index page a transaction touches into its
write-ahead log, and random numbers touch most pages of the unique index: small transactions cost
several times more (a million rows: 18 s in transactions of 5,000 rows, 7 s in transactions of
50,000). Rows are held in memory until then (about 25 MB), so that the write lock is held only for
the insert (a fraction of a second), not while the file is read."""
AUDIENCE_NAME_MAX = 200
PLACE_CACHE_SIZE = 50_000
"""Distinct (province, district, commune) spellings remembered; the cache starts over beyond it."""
SQLITE_IMPORT_CACHE_KIB = 64 * 1024
"""SQLite page cache of the importing connection: the unique index takes random inserts."""

# Reason codes of rejected rows (besides those of audiences.phones: empty, not_a_number, ...).
EXCEL_ROUNDED = "excel_rounded"
MISSING_DISTRICT = "missing_district"
UNKNOWN_DISTRICT = "unknown_district"
AMBIGUOUS_DISTRICT = "ambiguous_district"
UNKNOWN_COMMUNE = "unknown_commune"
AMBIGUOUS_COMMUNE = "ambiguous_commune"
OUTSIDE_PROVINCE = "outside_province"
REASONS = (
    *phones.REASONS,
    EXCEL_ROUNDED,
    MISSING_DISTRICT,
    UNKNOWN_DISTRICT,
    AMBIGUOUS_DISTRICT,
    UNKNOWN_COMMUNE,
    AMBIGUOUS_COMMUNE,
    OUTSIDE_PROVINCE,
)

REJECTS_ROW = "dòng"
REJECTS_OVERFLOW = "các cột khác"
REJECTS_REASON = "mã lỗi"
REJECTS_MESSAGE = "lý do"

_CARRIER_NAMES = {
    "viettel": phones.VIETTEL,
    "vinaphone": phones.VINAPHONE,
    "vina": phones.VINAPHONE,
    "vnpt": phones.VINAPHONE,
    "mobifone": phones.MOBIFONE,
    "mobiphone": phones.MOBIFONE,
    "mobi": phones.MOBIFONE,
    "vietnamobile": phones.VIETNAMOBILE,
    "vnmobile": phones.VIETNAMOBILE,
    "gmobile": phones.GMOBILE,
    "beeline": phones.GMOBILE,
    "itelecom": phones.ITEL,
    "itel": phones.ITEL,
    "reddi": phones.REDDI,
}
_CARRIER_PREFIXES = sorted(_CARRIER_NAMES, key=len, reverse=True)
_SCIENTIFIC = re.compile(r"[\s'\"=]*[0-9]+(?:[.,][0-9]*)?[eE][+]?[0-9]{1,3}\s*")
_SHOWN_CANDIDATES = 5
# Row-number columns ("STT", "TT", "Số thứ tự") describe the list, not the subscriber: not kept.
_SEQUENCE_HEADERS = frozenset({"stt", "tt", "sothutu", "sott"})


class AudienceFileError(Exception):
    """The file as a whole cannot be imported (the message says why and what to do)."""


@dataclass
class ImportSummary:
    """What an import did: rows read = accepted (added) + rejected + duplicates (already there)."""

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
        """The summary of DESIGN §6 (``audience import --json``)."""
        return {
            "audience": self.audience,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "by_district": dict(sorted(self.by_district.items())),
            "by_carrier": dict(sorted(self.by_carrier.items())),
        }


class Rejected(NamedTuple):
    """Why a row is not imported: a reason code (one of REASONS) and a message for the operator."""

    reason: str
    message: str


def declared_carrier(value: str) -> str | None:
    """The carrier a list names ("Viettel", "VNPT", "Mobi", "VinaPhone (VNPT)"), or None."""
    key = readers.fold_header(value)
    found = _CARRIER_NAMES.get(key)
    if found is None and key:
        found = next((_CARRIER_NAMES[name] for name in _CARRIER_PREFIXES if key.startswith(name)), None)
    return found


def estimate_rows(path: Path) -> int | None:
    """About how many data rows a CSV file has (its line breaks), for a progress bar; None for Excel."""
    if path.suffix.lower() not in readers.CSV_SUFFIXES:
        return None
    try:
        with path.open("rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    return max(lines - 1, 0)


# --------------------------------------------------------------------------------------- placing


def _listed(candidates: tuple[divisions.Division, ...], reference: divisions.Divisions) -> str:
    shown = []
    for item in candidates[:_SHOWN_CANDIDATES]:
        text = f"{item.code} {item.name}"
        if isinstance(item, divisions.Commune):
            district = reference.district(item.district_code)
            text += f" ({district.name})" if district else ""
        shown.append(text)
    more = len(candidates) - _SHOWN_CANDIDATES
    return "; ".join(shown) + (f"; và {more} nơi khác" if more > 0 else "")


class _Placer:
    """Finds a row's district and commune in the province; remembers each spelling's answer."""

    def __init__(self, province_code: str) -> None:
        self.province_code = province_code
        self.reference = divisions.load()
        province = self.reference.province(province_code)
        self.province_name = province.name if province else province_code
        new = self.reference.new_province_for(province_code)
        self.new_province_code = new.code if new else None
        self._cache: dict[tuple[str, str, str], tuple[str, str | None] | Rejected] = {}

    def place(self, province: str, district: str, commune: str) -> tuple[str, str | None] | Rejected:
        """(district code, commune code or None), or why the row cannot be placed."""
        key = (province, district, commune)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= PLACE_CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._place(province, district, commune)
        return found

    def _place(self, province: str, district: str, commune: str) -> tuple[str, str | None] | Rejected:
        if province and not self._same_province(province):
            return Rejected(
                OUTSIDE_PROVINCE,
                f'Dòng này thuộc tỉnh "{province}", không thuộc {self.province_name} (mã {self.province_code}); '
                "hãy nhập dòng này vào danh sách của tỉnh đó.",
            )
        if not district and not commune:
            return Rejected(MISSING_DISTRICT, "Dòng này không ghi quận/huyện; hãy điền quận/huyện của thuê bao.")
        district_code: str | None = None
        if district:
            found = self._district(district)
            if isinstance(found, Rejected):
                return found
            district_code = found
        commune_code: str | None = None
        if commune:
            placed = self._commune(commune, district_code)
            if isinstance(placed, Rejected):
                if district_code is None:
                    return placed
            else:
                commune_code, district_code = placed
        assert district_code is not None
        return district_code, commune_code

    def _same_province(self, value: str) -> bool:
        if value.isascii() and value.isdigit():
            return value.lstrip("0").zfill(2) in (self.province_code, self.new_province_code)
        try:
            legacy = self.reference.find_province(value)
            new = self.reference.find_new_province(value)
        except divisions.AmbiguousNameError:
            return True  # the district decides
        if legacy is None and new is None:
            return True  # unreadable: the district decides
        return (legacy is not None and legacy.code == self.province_code) or (
            new is not None and new.code == self.new_province_code
        )

    def _district(self, value: str) -> str | Rejected:
        reference = self.reference
        by_code = reference.district(value) if value.isdigit() else None
        if by_code is not None:
            if by_code.province_code == self.province_code:
                return by_code.code
        try:
            found = reference.find_district(self.province_code, value)
        except divisions.AmbiguousNameError as exc:
            return Rejected(
                AMBIGUOUS_DISTRICT,
                f'Tên quận/huyện "{value}" khớp với nhiều đơn vị của {self.province_name}: '
                f"{_listed(exc.candidates, reference)}. Hãy ghi đủ tên (ví dụ có chữ Huyện/Thị xã/Thành phố) "
                "hoặc dùng mã quận/huyện.",
            )
        if found is not None:
            return found.code
        if by_code is not None:
            other = reference.province(by_code.province_code)
            where = other.name if other else f"tỉnh mã {by_code.province_code}"
            return Rejected(
                OUTSIDE_PROVINCE,
                f"Mã quận/huyện {by_code.code} là {by_code.name} thuộc {where}, "
                f"không thuộc {self.province_name}; hãy kiểm tra lại mã.",
            )
        return Rejected(
            UNKNOWN_DISTRICT,
            f'Không tìm thấy quận/huyện "{value}" trong {self.province_name} (mã {self.province_code}); '
            "hãy kiểm tra chính tả hoặc dùng mã đơn vị hành chính.",
        )

    def _commune(self, value: str, district_code: str | None) -> tuple[str, str] | Rejected:
        """(commune code, its district code), or why not."""
        reference = self.reference
        if value.isdigit():
            by_code = reference.commune(value)
            if by_code is not None and by_code.province_code == self.province_code:
                if district_code is None or by_code.district_code == district_code:
                    return by_code.code, by_code.district_code
        try:
            found = reference.find_commune(self.province_code, value, district_code)
        except divisions.AmbiguousNameError as exc:
            return Rejected(
                AMBIGUOUS_COMMUNE,
                f'Tên xã/phường "{value}" khớp với nhiều đơn vị của {self.province_name}: '
                f"{_listed(exc.candidates, reference)}. Hãy điền thêm cột quận/huyện hoặc dùng mã xã/phường.",
            )
        if found is not None:
            return found.code, found.district_code
        return Rejected(
            UNKNOWN_COMMUNE,
            f'Không tìm thấy xã/phường "{value}" trong {self.province_name} (mã {self.province_code}); '
            "hãy kiểm tra chính tả, dùng mã xã/phường hoặc điền cột quận/huyện.",
        )


def _phone_rejection(rejection: phones.Rejection) -> Rejected:
    if rejection.reason == phones.NOT_A_NUMBER and _SCIENTIFIC.fullmatch(rejection.raw):
        return Rejected(
            EXCEL_ROUNDED,
            f'Số "{rejection.raw.strip()}" đã bị Excel đổi sang dạng số khoa học và làm tròn, mất chữ số. '
            'Hãy định dạng cột số điện thoại là "Text" trong Excel, gõ lại số đúng rồi nhập lại.',
        )
    return Rejected(rejection.reason, rejection.message)


# --------------------------------------------------------------------------------------- writing

_Row = tuple[int, str, str, str, str | None, str, str, str | None]
"""A subscriber row in the order of ``_COLUMNS``; attributes already as JSON text."""
_COLUMNS = (
    "audience_id",
    "province_code",
    "msisdn",
    "district_code",
    "commune_code",
    "carrier",
    "carrier_source",
    "attributes",
)


_BY_MSISDN = itemgetter(2)
_Counts = list[tuple[str, str, int]]
"""(district code, carrier, rows added) of a chunk."""


class _SqliteWriter:
    """SQLite: one ``executemany`` of a single-row ``INSERT … ON CONFLICT DO NOTHING``, then a count of the new rows.

    A single-row statement needs no statement journal; a multi-row ``INSERT … RETURNING`` does, and
    writes it to a temporary file page by page (measured: twice the CPU time at a million rows).
    Rows go in sorted by number (a stable sort: the first of two equal numbers in the file still
    wins), so consecutive inserts land on the same index pages (a fifth less CPU time).
    The writer holds SQLite's write lock for the whole transaction, so the rows of this audience
    with an id above the largest id before the insert are exactly the rows it added.
    """

    def __init__(self, conn: Connection, audience_id: int) -> None:
        self.audience_id = audience_id
        marks = ", ".join(["?"] * len(_COLUMNS))
        self.insert = (
            f"INSERT INTO subscriber ({', '.join(_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (audience_id, msisdn) DO NOTHING"
        )

    def write(self, conn: Connection, rows: list[_Row]) -> _Counts:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            (last,) = cursor.execute("SELECT COALESCE(MAX(id), 0) FROM subscriber").fetchone()
            cursor.executemany(self.insert, sorted(rows, key=_BY_MSISDN))
            counts: _Counts = cursor.execute(
                "SELECT district_code, carrier, COUNT(*) FROM subscriber WHERE id > ? AND audience_id = ? "
                "GROUP BY district_code, carrier",
                (last, self.audience_id),
            ).fetchall()
        finally:
            cursor.close()
        return counts


class _PostgresWriter:
    """PostgreSQL: ``COPY`` the chunk into a temporary table, then one ``INSERT … SELECT … RETURNING``."""

    TEMP = "import_subscriber_chunk"

    def __init__(self, conn: Connection, audience_id: int) -> None:
        self._created = False
        columns = ", ".join(_COLUMNS)
        self.copy = f"COPY {self.TEMP} (seq, {columns}) FROM STDIN"
        self.insert = (
            f"WITH added AS (INSERT INTO subscriber ({columns}) "
            f"SELECT {columns.replace('attributes', 'attributes::json')} FROM {self.TEMP} ORDER BY msisdn, seq "
            "ON CONFLICT (audience_id, msisdn) DO NOTHING RETURNING district_code, carrier) "
            "SELECT district_code, carrier, COUNT(*) FROM added GROUP BY district_code, carrier"
        )

    def write(self, conn: Connection, rows: list[_Row]) -> _Counts:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if not self._created:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.TEMP} (seq integer, audience_id integer, "
                    "province_code text, msisdn text, district_code text, commune_code text, carrier text, "
                    "carrier_source text, attributes text) ON COMMIT DELETE ROWS"
                )
                self._created = True
            with cursor.copy(self.copy) as copy:
                write_row = copy.write_row
                for seq, row in enumerate(rows):
                    write_row((seq, *row))
            cursor.execute(self.insert)
            counts: _Counts = cursor.fetchall()
        finally:
            cursor.close()
        return counts


@contextmanager
def _bulk_connection(engine: Engine) -> Iterator[Connection]:
    """One connection for the whole import; on SQLite with a larger page cache while it lasts."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        (previous,) = raw.execute("PRAGMA cache_size").fetchone()
        raw.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        try:
            yield conn
        finally:
            raw.execute(f"PRAGMA cache_size = {int(previous)}")


# ---------------------------------------------------------------------------------------- import


def import_audience(
    engine: Engine,
    path: Path,
    *,
    name: str,
    province_code: str,
    rejects_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``path`` into the audience ``name`` (created if new) of ``province_code``.

    Raises :class:`AudienceFileError` or ``audiences.readers.ReadError`` when the file as a whole
    cannot be imported (nothing is imported then, except when the damage is found halfway: see the
    module's docstring). ``progress(rows read so far)`` is called every ``CHUNK_ROWS`` rows and at
    the end. The audience is created when the file has a usable header and at least one data row.
    """
    path, name = Path(path), name.strip()
    if not name or len(name) > AUDIENCE_NAME_MAX:
        msg = f"an audience name has 1 to {AUDIENCE_NAME_MAX} characters; {name!r} has {len(name)}"
        raise AudienceFileError(msg)
    province = divisions.load().province(province_code)
    if province is None:
        msg = (
            f"unknown province code {province_code!r}; use the national statistics code of the province "
            "(before the 2025 merger), e.g. 72 for Tây Ninh"
        )
        raise AudienceFileError(msg)
    if rejects_path is not None and rejects_path.resolve() == path.resolve():
        msg = f"the rejects file {rejects_path} is the file being imported; choose another file for the rejected rows"
        raise AudienceFileError(msg)
    placer = _Placer(province.code)
    with readers.open_sheet(path) as sheet:
        columns = sheet.columns
        if columns.district is None and columns.commune is None:
            found = ", ".join(f'"{h}"' for h in sheet.headers)
            msg = (
                f'Tệp "{path.name}" không có cột quận/huyện hoặc xã/phường (các cột tìm thấy: {found}). '
                'Hãy thêm cột "Quận/Huyện" để chia người nhận theo địa bàn rồi nhập lại.'
            )
            raise AudienceFileError(msg)
        rows = sheet.rows()
        first = next(rows, None)
        if first is None:
            msg = f'Tệp "{path.name}" chỉ có dòng tiêu đề, không có dòng dữ liệu nào. Hãy kiểm tra lại tệp.'
            raise AudienceFileError(msg)
        summary = ImportSummary(
            audience=name, audience_id=_audience(engine, name, province.code), rejects_path=rejects_path
        )
        try:
            with _rejects_writer(rejects_path, sheet.headers) as reject:
                _import_rows(engine, chain((first,), rows), columns, placer, summary, reject, progress)
        except readers.ReadError as exc:
            if summary.accepted:
                msg = (
                    f"{exc} ({summary.accepted} rows before it were imported into the audience {name!r}; "
                    "import the repaired file again: they will count as duplicates)"
                )
                raise AudienceFileError(msg) from exc
            raise
    return summary


def _import_rows(
    engine: Engine,
    rows: Iterator[tuple[int, dict[str, str]]],
    columns: readers.Columns,
    placer: _Placer,
    summary: ImportSummary,
    reject: Callable[[int, dict[str, str], str, str], None],
    progress: Callable[[int], None] | None,
) -> None:
    """The hot loop: about 10 µs a row besides reading and inserting, so everything is local."""
    phone_column = columns.phone
    district_column = columns.district
    commune_column = columns.commune
    province_column = columns.province
    carrier_column = columns.carrier
    name_column = columns.name
    # Attributes (recipient fields for templates) as JSON text, built without a dict per row.
    attribute_keys = tuple(
        (encode_basestring(key) + ":", key)
        for key in columns.extra
        if readers.fold_header(key) not in _SEQUENCE_HEADERS and not (name_column and key == "name")
    )
    name_key = encode_basestring("name") + ":"
    encode = encode_basestring
    normalize = phones.normalize
    place = placer.place
    phone_type, rejected_type = phones.Phone, Rejected
    prefix_source, declared_source = CarrierSource.PREFIX, CarrierSource.DECLARED
    declared_cache: dict[str, str | None] = {}
    by_reason = summary.by_reason
    audience_id, province_code = summary.audience_id, placer.province_code
    pending: list[_Row] = []
    count = 0
    next_report = CHUNK_ROWS

    with _bulk_connection(engine) as conn:
        writer = (_PostgresWriter if conn.dialect.name == "postgresql" else _SqliteWriter)(conn, audience_id)

        def flush() -> None:
            if pending:
                with conn.begin():
                    counts = writer.write(conn, pending)
                added = 0
                for district_code, carrier, rows_added in counts:
                    summary.by_district[district_code] += rows_added
                    summary.by_carrier[carrier] += rows_added
                    added += rows_added
                summary.accepted += added
                summary.duplicates += len(pending) - added
                pending.clear()
            summary.rows = count
            summary.rejected = sum(by_reason.values())

        try:
            for row_number, row in rows:
                count += 1
                if count == next_report:
                    next_report += CHUNK_ROWS
                    if progress:
                        progress(count)
                phone = normalize(row[phone_column])
                if type(phone) is not phone_type:
                    assert isinstance(phone, phones.Rejection)
                    rejection = _phone_rejection(phone)
                    by_reason[rejection.reason] += 1
                    reject(row_number, row, rejection.reason, rejection.message)
                    continue
                assert isinstance(phone, phones.Phone)
                placed = place(
                    row[province_column] if province_column else "",
                    row[district_column] if district_column else "",
                    row[commune_column] if commune_column else "",
                )
                if type(placed) is rejected_type:
                    assert isinstance(placed, Rejected)
                    by_reason[placed.reason] += 1
                    reject(row_number, row, placed.reason, placed.message)
                    continue
                carrier, source = phone.carrier, prefix_source
                if carrier_column and (value := row[carrier_column]):
                    if value in declared_cache:
                        declared = declared_cache[value]
                    else:
                        if len(declared_cache) >= PLACE_CACHE_SIZE:
                            declared_cache.clear()
                        declared = declared_cache[value] = declared_carrier(value)
                    if declared is not None:
                        carrier, source = declared, declared_source
                parts = [prefix + encode(value) for prefix, key in attribute_keys if (value := row[key])]
                if name_column and (value := row[name_column]):
                    parts.append(name_key + encode(value))
                pending.append(
                    (
                        audience_id,
                        province_code,
                        phone.msisdn,
                        placed[0],
                        placed[1],
                        carrier,
                        source,
                        "{" + ",".join(parts) + "}" if parts else None,
                    )
                )
                if len(pending) >= TRANSACTION_ROWS:
                    flush()
        except readers.ReadError:
            flush()  # everything before the damaged row goes in, so that the message can say so
            raise
        flush()
    if progress:
        progress(count)


def _audience(engine: Engine, name: str, province_code: str) -> int:
    """The id of the audience ``name``, created if new (two imports creating it at once get the same one)."""
    table = Audience.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as conn:
        conn.execute(
            dialect.insert(table)
            .values(name=name, province_code=province_code, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        audience_id, existing_province = conn.execute(
            select(table.c.id, table.c.province_code).where(table.c.name == name)
        ).one()
    if existing_province != province_code:
        msg = (
            f"the audience {name!r} belongs to province {existing_province}, not {province_code}; "
            "import into an audience of its own province (use another --name)"
        )
        raise AudienceFileError(msg)
    return int(audience_id)


def audience_size(engine: Engine, audience_id: int) -> int:
    table = Subscriber.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(table.c.audience_id == audience_id)).scalar_one())


@contextmanager
def _rejects_writer(
    path: Path | None, headers: tuple[str, ...]
) -> Iterator[Callable[[int, dict[str, str], str, str], None]]:
    """Rejected rows as CSV: row number, every original value, cells beyond the header, reason, message."""
    if path is None:
        yield lambda *_: None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    known = set(headers)
    try:
        handle: IO[str] = path.open("w", encoding="utf-8-sig", newline="")
    except OSError as exc:
        msg = f"cannot write the rejects file {path}: {exc.strerror or exc}; choose another --rejects path"
        raise AudienceFileError(msg) from exc
    try:
        writer = csv.writer(handle)
        writer.writerow([REJECTS_ROW, *headers, REJECTS_OVERFLOW, REJECTS_REASON, REJECTS_MESSAGE])

        def reject(row_number: int, row: dict[str, str], reason: str, message: str) -> None:
            overflow = "; ".join(f"{key}={value}" for key, value in row.items() if key not in known)
            writer.writerow([row_number, *(row.get(h, "") for h in headers), overflow, reason, message])

        yield reject
    finally:
        handle.close()
