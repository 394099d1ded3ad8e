"""Read subscriber lists (CSV or Excel .xlsx) row by row and find their columns.

Operators receive lists exported by carriers, communes and other departments: headers are spelt
every which way, CSV files come in several encodings and delimiters, Excel files carry title rows
and numbers stored as floats. This module only *reads*: it opens a file, finds the header row and
the meaning of its columns, and streams ``(row_number, {header: value})`` pairs. Normalising phone
numbers and places is the import step's job.

Reading is streaming: memory stays flat whatever the file size (only a 64 KiB sample is held while
detecting the encoding and the delimiter; for .xlsx, openpyxl's read-only mode keeps the shared
strings table in memory, the cells are streamed).

CSV (``.csv``, ``.txt``, ``.tsv``)
    * Encoding, decided on the first 64 KiB: a BOM wins (UTF-8, UTF-16 LE/BE); UTF-16 without BOM
      is recognised by its NUL bytes; otherwise UTF-8 if the sample is valid UTF-8 (or is mostly
      valid UTF-8, see below), else Windows-1258 (``cp1258``). In a UTF-8 file a byte sequence that
      is not UTF-8 is decoded as Windows-1258 (files pasted together from two exports); a byte that
      no encoding accepts raises :class:`ReadError` naming the row. Every cell is NFC-normalised
      (Windows-1258 writes tone marks as combining characters).
    * Delimiter: comma, semicolon or tab, chosen by parsing the first records with each one: the
      delimiter under which a header with a phone column appears and most records have as many
      cells as that header wins (see :func:`_sniff_delimiter`).
    * Quotes (``"``, doubled to escape), line breaks inside quotes, CRLF/LF/CR line ends.
    * Row numbers are physical line numbers (as Notepad shows them) of the line where a record
      starts; the header is row 1 when it is on the first line. After a cell that contains a line
      break, Excel would show a smaller number than Notepad; we count lines.
    * A record that spans more than 100 lines, or that runs to the end of the file inside quotes,
      is an unclosed quote: :class:`ReadError` with the row where it starts.

Excel (``.xlsx``, ``.xlsm``)
    openpyxl ``load_workbook(read_only=True, data_only=True)``; the first visible worksheet unless
    a sheet is named. Formulas give their cached value (a file written by a program that never
    computed them reads as empty). Values become text: whole floats without ``.0``
    (``912345678.0`` -> ``"912345678"``), other floats as ``repr``, booleans ``TRUE``/``FALSE``,
    dates ``YYYY-MM-DD``, date-times ``YYYY-MM-DDTHH:MM:SS``, empty cells ``""``. Row numbers are
    Excel's. Number *formats* are not applied: a number shown (example) as ``0912345678`` by a custom format
    reads as ``"912345678"`` (the phone normaliser copes).

Both formats
    * Blank rows (every cell empty after stripping) are skipped; their numbers are not reused.
    * The header row is the first non-blank row that has a phone column; up to 10 non-blank rows
      are looked at, so title rows above the header ("DANH SÁCH THUÊ BAO ...") are skipped.
    * Header cells are stripped and their inner white space (including line breaks) collapsed to one
      space. Empty header cells get the name ``Cột <letter>`` (Excel column letter); trailing empty
      header cells are dropped. Duplicate names are made unique: ``Ghi chú``, ``Ghi chú (2)``.
    * Every data row has every header as a key (``""`` where the row is short). Cells beyond the
      header are kept only when not empty, under ``Cột <letter>`` (made unique against the
      headers); they are not in :attr:`Sheet.headers`.
    * Values are stripped (white space and zero-width characters) and NFC-normalised.
    * A data row identical to the header row (lists pasted one after another) is skipped.

Column detection (:func:`fold_header` folds case, diacritics, ``đ``, spaces and punctuation):

    1. Exact: the folded header equals a folded synonym (``"Số điện thoại"``, ``"SĐT"``,
       ``"so dien thoai"`` and ``"SO_DIEN_THOAI"`` all fold to ``sodienthoai``).
    2. Exact without notes: the same after removing bracketed notes and numbers
       (``"SĐT (bắt buộc)"``, ``"SĐT 1"``, ``"1. Huyện"``).
    3. Phrase match on whole words, conservative. A Vietnamese header *starts* with the key phrase
       (``"Số điện thoại liên hệ"``, ``"Huyện/Thị xã"``, ``"Nhà mạng di động"``); an English header
       *ends* with it (``"Contact phone"``, ``"Mobile carrier"``). ``"Tên …"`` / ``"… name"`` name
       the place or carrier that follows/precedes (``"Tên huyện"``, ``"District name"``), or the
       person (``"Tên khách hàng"``, ``"Customer name"``). A word written with diacritics must
       match them exactly (``"Quản lý"`` is not ``"Quận"``); a word written without any matches by
       its folded form. Headers with a code/type/status/date word (``mã``, ``code``, ``loại``,
       ``ngày``, ...) or a known look-alike (``tình trạng``, ``quản lý``, ``phương thức``, ...)
       never phrase-match. A header that phrase-matches two fields matches none.

    For each field the header with the best rule wins, the leftmost on a tie; the others (a second
    phone column, say) are kept in :attr:`Columns.extra` like every unrecognised header.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import re
import unicodedata
import warnings
import weakref
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Columns", "ReadError", "Sheet", "fold_header", "open_sheet"]

CSV_SUFFIXES: Final = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES: Final = frozenset({".xlsx", ".xlsm"})
SAMPLE_BYTES: Final = 64 * 1024
HEADER_SEARCH_ROWS: Final = 10
MAX_RECORD_LINES: Final = 100

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DELIMITERS = (",", ";", "\t")
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "cp1258": "Windows-1258",
}
# White space and invisible characters stripped from both ends of every cell.
_STRIP: Final = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# ---------------------------------------------------------------------------------------- decoding

# A lone surrogate never comes out of a strict decoder: it marks a byte that no encoding accepted.
_BAD_BYTE = "\udc00"
_DECODE_ERRORS = "audiences-readers-fallback"


def _cp1258_or_bad(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1258")
    except UnicodeDecodeError:
        return _BAD_BYTE


_CP1258_TABLE: Final = tuple(_cp1258_or_bad(b) for b in range(256))


def _decode_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1258; others are marked."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = bytes(exc.object[exc.start : exc.end])
    if exc.encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        return "".join(_CP1258_TABLE[b] for b in bad), exc.end
    return _BAD_BYTE, exc.end


codecs.register_error(_DECODE_ERRORS, _decode_fallback)

# ------------------------------------------------------------------------------------------ public


class ReadError(Exception):
    """The file cannot be read; ``str(error)`` is a message for the operator (what, where, what to do).

    ``path`` is the file and ``row`` the row number when the problem is on one row.
    """

    def __init__(self, message: str, *, path: Path | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.row = row


@dataclass(frozen=True, slots=True)
class Columns:
    """Which header holds which field; ``extra`` lists every other header, in file order."""

    phone: str
    district: str | None
    commune: str | None
    province: str | None
    carrier: str | None
    name: str | None
    extra: tuple[str, ...]


def fold_header(text: str) -> str:
    """Fold ``text`` for comparison: no case, no diacritics (``đ`` -> ``d``), letters and digits only.

    ``"Số điện thoại"``, ``"SO DIEN THOAI"`` and ``"so_dien_thoai"`` all give ``"sodienthoai"``.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in decomposed if ch.isalnum())


class Sheet:
    """An open list: its headers, its columns and its rows. Use :func:`open_sheet` to get one.

    ``format`` is ``"csv"`` or ``"xlsx"``; ``encoding`` and ``delimiter`` are set for CSV only
    (``encoding`` is one of ``utf-8``, ``utf-8-sig``, ``utf-16-le``, ``utf-16-be``, ``cp1258``);
    ``sheet_name`` for Excel only. ``header_row`` is the row number of the header.
    """

    path: Path
    headers: tuple[str, ...]
    columns: Columns
    format: str
    encoding: str | None
    delimiter: str | None
    header_row: int
    sheet_name: str | None

    def __init__(
        self,
        path: Path,
        *,
        format: str,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet_name: str | None = None,
    ) -> None:
        self.path = path
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter
        self.sheet_name = sheet_name
        self.headers = ()
        self.header_row = 0
        self._header_values: list[str] = []
        self._overflow: dict[int, str] = {}
        self._active: weakref.WeakSet[Iterator[tuple[int, dict[str, str]]]] = weakref.WeakSet()
        self._closed = False

    # -- to be provided by the format
    def _records(self) -> Generator[tuple[int, list[str]], None, None]:
        """(row number, cleaned cells) for every non-blank row, header included."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free what the format holds open."""

    # -- shared
    def _where(self, row: int | None = None) -> str:
        where = f'Tệp "{self.path.name}"'
        if self.sheet_name is not None:
            where += f' (trang "{self.sheet_name}")'
        if row is not None:
            where += f", dòng {row}"
        return where

    def _find_header(self) -> None:
        first: tuple[int, list[str]] | None = None
        tabular: tuple[int, list[str]] | None = None
        with closing(self._records()) as records:
            for count, (row_number, values) in enumerate(records, start=1):
                headers = _header_names(values)
                columns = _detect_columns(headers)
                if columns is not None:
                    self.headers, self.columns, self.header_row = headers, columns, row_number
                    self._header_values = values
                    return
                first = first or (row_number, values)
                if tabular is None and sum(1 for v in values if v) > 1:
                    tabular = (row_number, values)
                if count >= HEADER_SEARCH_ROWS:
                    break
        if first is None:
            raise ReadError(
                f"{self._where()} trống: không có dòng nào có dữ liệu. Hãy kiểm tra lại tệp đã xuất rồi tải lên lại.",
                path=self.path,
            )
        row_number, values = tabular or first
        raise ReadError(_no_phone_message(self._where(), values), path=self.path, row=row_number)

    def _overflow_name(self, index: int) -> str:
        name = self._overflow.get(index)
        if name is None:
            name = _unique(f"Cột {_column_letter(index)}", set(self.headers))
            self._overflow[index] = name
        return name

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield ``(row_number, {header: value})`` for every non-blank data row, values stripped.

        Each call reads the file again from the start. Raises :class:`ReadError` if the file turns
        out to be damaged further down.
        """
        if self._closed:
            raise ValueError("the sheet is closed")
        iterator = self._rows()
        self._active.add(iterator)
        return iterator

    def _rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        headers = self.headers
        width = len(headers)
        header_row = self.header_row
        header_values = self._header_values
        with closing(self._records()) as records:
            for row_number, values in records:
                if row_number <= header_row or values == header_values:
                    continue
                count = len(values)
                if count == width:
                    yield row_number, dict(zip(headers, values, strict=True))
                elif count < width:
                    row = dict(zip(headers, values, strict=False))
                    for key in headers[count:]:
                        row[key] = ""
                    yield row_number, row
                else:
                    row = dict(zip(headers, values, strict=False))
                    for index in range(width, count):
                        if values[index]:
                            row[self._overflow_name(index)] = values[index]
                    yield row_number, row

    def close(self) -> None:
        """Stop any iteration still running and release the file."""
        if self._closed:
            return
        self._closed = True
        for iterator in list(self._active):
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self._release()

    def __enter__(self) -> Sheet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Sheet {self.path.name!r} {self.format} header_row={self.header_row} headers={self.headers!r}>"


def open_sheet(path: Path, *, sheet: str | None = None) -> Sheet:
    """Open a CSV or .xlsx list, find its header row and columns; raise :class:`ReadError` if unusable.

    ``sheet`` names the Excel worksheet to read (default: the first visible one); it is ignored for
    CSV, which has one sheet only.
    """
    path = Path(path)
    where = f'Tệp "{path.name}"'
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError as exc:
        raise ReadError(f'Không tìm thấy tệp "{path.name}". Hãy kiểm tra lại đường dẫn.', path=path) from exc
    except IsADirectoryError as exc:
        raise ReadError(f'"{path.name}" là một thư mục, không phải tệp. Hãy chọn tệp danh sách.', path=path) from exc
    except OSError as exc:
        raise ReadError(_unreadable_message(path, exc), path=path) from exc
    suffix = path.suffix.lower()
    if not head:
        raise ReadError(f"{where} trống (0 byte). Hãy kiểm tra lại tệp đã xuất rồi tải lên lại.", path=path)
    if head.startswith(_OLE2_MAGIC) or suffix == ".xls":
        raise ReadError(
            f"{where} là tệp Excel cũ (.xls) hoặc tệp Excel có đặt mật khẩu; hệ thống không đọc được. "
            'Hãy mở tệp bằng Excel, bỏ mật khẩu nếu có, rồi chọn "Lưu thành" (Save As) với kiểu '
            '"Excel Workbook (*.xlsx)" hoặc "CSV UTF-8 (*.csv)" và tải lên lại.',
            path=path,
        )
    accepted = "Chỉ nhận tệp CSV (.csv, .txt, .tsv) hoặc Excel (.xlsx); hãy lưu lại theo một trong các kiểu đó."
    if head.startswith(_ZIP_MAGIC):
        if suffix in XLSX_SUFFIXES or suffix in CSV_SUFFIXES:
            return _open_xlsx(path, sheet)
        raise ReadError(f"{where} không đúng định dạng. {accepted}", path=path)
    if suffix in XLSX_SUFFIXES:
        raise ReadError(
            f"{where} không phải tệp Excel .xlsx hợp lệ (có thể tệp bị hỏng hoặc bị đổi đuôi). "
            "Hãy mở tệp bằng Excel và lưu lại dưới dạng .xlsx hoặc CSV UTF-8, rồi tải lên lại.",
            path=path,
        )
    if suffix in CSV_SUFFIXES:
        return _open_csv(path)
    raise ReadError(f"{where} không đúng định dạng. {accepted}", path=path)


# --------------------------------------------------------------------------------------------- CSV


class _CsvSheet(Sheet):
    def __init__(self, path: Path, *, codec: str, skip: int, encoding: str, delimiter: str) -> None:
        super().__init__(path, format="csv", encoding=encoding, delimiter=delimiter)
        self._codec = codec
        self._skip = skip

    def _records(self) -> Generator[tuple[int, list[str]], None, None]:
        delimiter = self.delimiter or ","
        try:
            raw = self.path.open("rb")
        except OSError as exc:
            raise ReadError(_unreadable_message(self.path, exc), path=self.path) from exc
        try:
            raw.seek(self._skip)
        except OSError as exc:
            raw.close()
            raise ReadError(_unreadable_message(self.path, exc), path=self.path) from exc
        text = io.TextIOWrapper(raw, encoding=self._codec, errors=_DECODE_ERRORS, newline="")
        reader = csv.reader(text, delimiter=delimiter, quotechar='"', skipinitialspace=True)
        clean = self._clean
        last = 0
        # A record over several lines is held back one record: if it is the last one, it may be a
        # quote left open up to the end of the file.
        held: tuple[int, list[str]] | None = None
        try:
            for record in reader:
                start = last + 1
                last = reader.line_num
                if held is not None:
                    values = clean(*held)
                    if values is not None:
                        yield held[0], values
                    held = None
                if last != start:
                    if last - start >= MAX_RECORD_LINES:
                        raise self._unclosed_quote(start, last)
                    held = (start, record)
                    continue
                values = clean(start, record)
                if values is not None:
                    yield start, values
            if held is not None:
                if self._open_at_end(held[1]):
                    raise self._unclosed_quote(held[0], last)
                values = clean(*held)
                if values is not None:
                    yield held[0], values
        except csv.Error as exc:
            raise ReadError(
                f'{self._where(last + 1)}: dòng không đọc được ({exc}). Có thể thiếu dấu ngoặc kép (") '
                "đóng ở dòng này; hãy sửa dòng đó rồi tải lên lại.",
                path=self.path,
                row=last + 1,
            ) from exc
        except UnicodeError as exc:
            raise ReadError(self._bad_byte_message(last + 1), path=self.path, row=last + 1) from exc
        except OSError as exc:
            raise ReadError(_unreadable_message(self.path, exc), path=self.path) from exc
        finally:
            text.close()

    def _clean(self, start: int, record: list[str]) -> list[str] | None:
        """The record's cells stripped and NFC-normalised; None for a blank record."""
        values = [cell.strip(_STRIP) for cell in record]
        joined = "".join(values)
        if not joined:
            return None
        if not joined.isascii():
            if _BAD_BYTE in joined:
                raise ReadError(self._bad_byte_message(start), path=self.path, row=start)
            values = [v if v.isascii() else unicodedata.normalize("NFC", v) for v in values]
        return values

    def _unclosed_quote(self, start: int, last: int) -> ReadError:
        return ReadError(
            f'{self._where(start)}: có dấu ngoặc kép (") mở mà không đóng, nên các dòng từ {start} '
            f"đến {last} bị gộp thành một ô. Hãy sửa dấu ngoặc kép ở dòng {start} rồi tải lên lại.",
            path=self.path,
            row=start,
        )

    def _open_at_end(self, record: list[str]) -> bool:
        """Whether the file's last record ran into the end of the file inside quotes.

        Outside quotes a line break ends the record, so the last cell can end with the file's last
        physical line only when a quote was left open (a closed quote sits on that line).
        """
        if not record:
            return False
        with self.path.open("rb") as handle:
            size = handle.seek(0, io.SEEK_END)
            offset = max(self._skip, size - SAMPLE_BYTES)
            if self._codec.startswith("utf-16") and (offset - self._skip) % 2:
                offset += 1
            handle.seek(offset)
            tail = handle.read()
        text = codecs.decode(tail, self._codec, _DECODE_ERRORS)
        ends = [match.end() for match in _LINE_BREAK.finditer(text)]
        if ends and ends[-1] == len(text):
            ends.pop()
        last_line = text[ends[-1] :] if ends else text
        return bool(last_line) and record[-1].endswith(last_line)

    def _bad_byte_message(self, row: int) -> str:
        name = _ENCODING_NAMES.get(self.encoding or "", self.encoding or "")
        return (
            f"{self._where(row)}: có ký tự không đọc được theo bảng mã {name} (tệp có thể bị hỏng hoặc "
            'lẫn nhiều bảng mã). Hãy mở tệp, sửa dòng này hoặc lưu lại dưới dạng "CSV UTF-8", rồi tải lên lại.'
        )


def _open_csv(path: Path) -> Sheet:
    where = f'Tệp "{path.name}"'
    try:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
            complete = not handle.read(1)
    except OSError as exc:
        raise ReadError(_unreadable_message(path, exc), path=path) from exc
    encoding, codec, skip = _detect_encoding(sample, path)
    text = _decode_sample(sample[skip:], codec, complete)
    bad = text.find(_BAD_BYTE)
    if bad >= 0:
        row = len(_LINE_BREAK.findall(text, 0, bad)) + 1
        raise ReadError(
            f"{where}, dòng {row}: không nhận dạng được bảng mã của tệp (đã thử UTF-8, UTF-16, Windows-1258). "
            'Hãy mở tệp bằng Excel hoặc Notepad và lưu lại dưới dạng "CSV UTF-8", rồi tải lên lại.',
            path=path,
            row=row,
        )
    if not text.strip(_STRIP):
        raise ReadError(f"{where} trống: không có dòng nào có dữ liệu. Hãy kiểm tra lại tệp đã xuất.", path=path)
    opening = text.lstrip(_STRIP)[:200].lower()
    if opening.startswith(("<!doctype", "<html", "<?xml", "<table")):
        raise ReadError(
            f'{where} là trang HTML/XML chứ không phải CSV (thường gặp khi tải "Excel" từ một trang web). '
            'Hãy mở tệp bằng Excel rồi lưu lại dưới dạng "Excel Workbook (*.xlsx)" hoặc "CSV UTF-8".',
            path=path,
        )
    delimiter = _sniff_delimiter(text)
    result = _CsvSheet(path, codec=codec, skip=skip, encoding=encoding, delimiter=delimiter)
    result._find_header()
    return result


def _detect_encoding(sample: bytes, path: Path) -> tuple[str, str, int]:
    """(reported encoding, codec, bytes to skip) for a file that starts with ``sample``."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "utf-8", 3
    if sample.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", "utf-16-le", 2
    if sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", "utf-16-be", 2
    pairs = len(sample) // 2
    if pairs:
        zero_even = sample[0 : 2 * pairs : 2].count(0)
        zero_odd = sample[1 : 2 * pairs : 2].count(0)
        if zero_odd > 0.3 * pairs and zero_even < 0.05 * pairs:
            return "utf-16-le", "utf-16-le", 0
        if zero_even > 0.3 * pairs and zero_odd < 0.05 * pairs:
            return "utf-16-be", "utf-16-be", 0
    if 0 in sample:
        raise ReadError(
            f'Tệp "{path.name}" không phải tệp văn bản CSV (có byte nhị phân). '
            'Hãy mở tệp bằng chương trình đã tạo ra nó và lưu lại dưới dạng "CSV UTF-8" hoặc .xlsx.',
            path=path,
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", "utf-8", 0
    # Not clean UTF-8: mostly-UTF-8 with some foreign bytes stays UTF-8 (the rest falls back to
    # Windows-1258 byte by byte); otherwise the file is Windows-1258.
    kept = sample.decode("utf-8", "ignore")
    valid = sum(1 for ch in kept if ord(ch) > 0x7F) - kept.count("\ufffd")
    invalid = sample.decode("utf-8", "replace").count("\ufffd") - kept.count("\ufffd")
    if valid > invalid:
        return "utf-8", "utf-8", 0
    return "cp1258", "cp1258", 0


def _decode_sample(sample: bytes, codec: str, complete: bool) -> str:
    """The sample as text, cut after its last line break unless it is the whole file."""
    decoder = codecs.getincrementaldecoder(codec)(errors=_DECODE_ERRORS)
    text: str = decoder.decode(sample, final=complete)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[: cut + 1]
    return text


def _sniff_delimiter(text: str) -> str:
    """Choose comma, semicolon or tab from the first records of the file (the decoded sample).

    Preferred is a delimiter under which one of the first records is a header with a phone column
    split into more than one cell; among those, the one under which the largest share of the
    records from the header on has as many cells as the header, then the one giving the header more
    cells. Next come delimiters that find a one-cell phone header; without any header, the delimiter
    that splits most records into the same number (> 1) of cells. Ties go to comma, semicolon, tab
    in that order; comma when nothing splits. (Counting shares, not records, matters: a wrong
    delimiter misreads quoted line breaks and sees more, shorter records.)
    """
    best = ","
    best_score: tuple[int, float, int] = (0, 0.0, 0)
    for delimiter in _DELIMITERS:
        records: list[list[str]] = []
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', skipinitialspace=True)
        try:
            for record in reader:
                cells = [cell.strip(_STRIP) for cell in record]
                if any(cells):
                    records.append(cells)
                    if len(records) >= 50:
                        break
        except csv.Error:
            continue
        score: tuple[int, float, int] | None = None
        for index, cells in enumerate(records[:HEADER_SEARCH_ROWS]):
            if _detect_columns(_header_names(cells)) is not None:
                width, used = len(cells), _used_width(cells)
                rest = records[index:]
                agree = sum(1 for r in rest if len(r) == width or _used_width(r) == used)
                score = (3 if used > 1 else 2, agree / len(rest), width)
                break
        if score is None and records:
            frequency, width = max((count, w) for w, count in Counter(map(len, records)).items())
            if width > 1:
                score = (1, float(frequency), width)
        if score is not None and score > best_score:
            best, best_score = delimiter, score
    return best


def _used_width(cells: list[str]) -> int:
    """Number of cells up to the last non-empty one."""
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return width


# -------------------------------------------------------------------------------------------- XLSX


class _XlsxSheet(Sheet):
    def __init__(self, path: Path, handle: IO[bytes], workbook: Any, worksheet: Any) -> None:
        super().__init__(path, format="xlsx", sheet_name=str(worksheet.title))
        self._handle = handle
        self._workbook = workbook
        self._worksheet = worksheet

    def _records(self) -> Generator[tuple[int, list[str]], None, None]:
        row_number = 0
        try:
            # In read-only mode openpyxl fills the rows missing from the XML with empty rows, so
            # counting from 1 gives Excel's row numbers.
            for row_number, cells in enumerate(self._worksheet.iter_rows(values_only=True), start=1):
                if not cells:
                    continue
                values = [_cell_text(cell) for cell in cells]
                if any(values):
                    yield row_number, values
        except ReadError:
            raise
        except Exception as exc:  # openpyxl, zipfile and XML errors of a damaged file
            raise ReadError(
                f"{self._where(row_number + 1)}: tệp Excel bị hỏng, không đọc tiếp được ({type(exc).__name__}). "
                "Hãy mở tệp bằng Excel, lưu lại dưới dạng .xlsx hoặc CSV UTF-8, rồi tải lên lại.",
                path=self.path,
                row=row_number + 1,
            ) from exc

    def _release(self) -> None:
        try:
            self._workbook.close()
        finally:
            self._handle.close()


def _open_xlsx(path: Path, sheet: str | None) -> Sheet:
    where = f'Tệp "{path.name}"'
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ReadError(_unreadable_message(path, exc), path=path) from exc
    workbook: Any = None
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                workbook = load_workbook(handle, read_only=True, data_only=True, keep_links=False)
            worksheets: list[Any] = list(workbook.worksheets)
        except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors, InvalidFileException...
            raise ReadError(
                f"{where} là tệp Excel bị hỏng hoặc không phải .xlsx hợp lệ ({type(exc).__name__}). "
                "Hãy mở tệp bằng Excel, lưu lại dưới dạng .xlsx hoặc CSV UTF-8, rồi tải lên lại.",
                path=path,
            ) from exc
        names = ", ".join(f'"{ws.title}"' for ws in worksheets)
        if sheet is not None:
            chosen = next((ws for ws in worksheets if ws.title == sheet), None)
            if chosen is None:
                raise ReadError(
                    f'{where} không có trang tính "{sheet}". Các trang tính có: {names or "(không có)"}. '
                    "Hãy chọn một trong các trang đó.",
                    path=path,
                )
        else:
            visible = [ws for ws in worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
            chosen = (visible or worksheets or [None])[0]
            if chosen is None:
                raise ReadError(f"{where} không có trang tính nào chứa dữ liệu. Hãy kiểm tra lại tệp.", path=path)
        # Some programs write a wrong <dimension>; read-only mode would then cut the sheet short.
        chosen.reset_dimensions()
        result = _XlsxSheet(path, handle, workbook, chosen)
        result._find_header()
        return result
    except BaseException:
        if workbook is not None:
            with suppress(Exception):  # already failing: the first error is the one to report
                workbook.close()
        handle.close()
        raise


def _cell_text(value: object) -> str:
    """An Excel value as the text an operator expects to see."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip(_STRIP)
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value).strip(_STRIP)


# ---------------------------------------------------------------------------------------- headers


def _column_letter(index: int) -> str:
    """Excel column letter of the 0-based ``index`` (0 -> A, 26 -> AA)."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    counter = 2
    while f"{name} ({counter})" in taken:
        counter += 1
    return f"{name} ({counter})"


def _header_names(values: list[str]) -> tuple[str, ...]:
    """Header names from the header cells: collapsed, blank ones named, duplicates numbered."""
    cells = [" ".join(value.split()) for value in values]
    while cells and not cells[-1]:
        cells.pop()
    taken: set[str] = set(cells)
    names: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        name = cell or _unique(f"Cột {_column_letter(index)}", taken)
        name = _unique(name, seen)
        seen.add(name)
        taken.add(name)
        names.append(name)
    return tuple(names)


_FIELDS: Final = ("phone", "district", "commune", "province", "carrier", "name")

# fmt: off
# Rule 1 (and 2, after removing notes): the folded header equals one of these, folded.
_EXACT: Final[dict[str, tuple[str, ...]]] = {
    "phone": (
        "số điện thoại", "SĐT", "SDT", "điện thoại", "di động", "số thuê bao", "thuê bao",
        "phone", "phone number", "mobile", "msisdn", "tel",
        "số ĐT", "ĐTDĐ", "SĐT DĐ", "số di động", "điện thoại di động", "số điện thoại di động", "số TB",
        "ISDN", "số ISDN", "số MSISDN", "mobile number", "mobile phone", "phone no", "mobile no",
        "telephone", "tel no", "cell phone",
    ),
    "district": ("quận/huyện", "quận huyện", "huyện/quận", "huyện", "quận", "district"),
    "commune": ("xã/phường", "phường/xã", "xã", "phường", "commune", "ward"),
    "province": ("tỉnh", "tỉnh/thành phố", "tỉnh/TP", "tỉnh thành", "province"),
    "carrier": ("nhà mạng", "mạng", "carrier", "network", "operator", "telco"),
    "name": ("họ tên", "họ và tên", "tên", "name", "full name"),
}

# Rule 3, Vietnamese (head first): the header starts with one of these phrases.
_VI_HEADS: Final[dict[str, tuple[str, ...]]] = {
    "phone": (
        "số điện thoại", "điện thoại", "sđt", "số đt", "đtdđ", "di động", "số di động", "số thuê bao", "số tb",
    ),
    "district": ("quận", "huyện"),
    "commune": ("xã", "phường"),
    "province": ("tỉnh",),
    "carrier": ("nhà mạng", "mạng di động", "mạng viễn thông"),
    "name": ("họ tên", "họ và tên"),
}
_VI_NAME_WORD: Final = "tên"
_VI_PERSONS: Final = (
    "khách hàng", "thuê bao", "chủ thuê bao", "người nhận", "người dân", "công dân", "người dùng",
    "chủ hộ", "người liên hệ",
)
# Rule 3, English (head last): the header ends with one of these phrases.
_EN_TAILS: Final[dict[str, tuple[str, ...]]] = {
    "phone": ("phone", "phone number", "mobile", "mobile number", "msisdn", "isdn", "tel", "telephone", "phone no"),
    "district": ("district",),
    "commune": ("commune", "ward"),
    "province": ("province",),
    "carrier": ("carrier", "network", "operator", "telco"),
    "name": ("full name",),
}
_EN_NAME_WORD: Final = "name"
_EN_PERSONS: Final = ("customer", "subscriber", "contact", "recipient", "person", "owner", "user")
_NAMED_FIELDS: Final = ("district", "commune", "province", "carrier")
# Words (folded) that make a header a code, type, status or date, never a phrase match.
_BLOCK_WORDS: Final = frozenset({"ma", "code", "id", "loai", "type", "status", "ngay", "date", "count", "tong"})
# Look-alikes once diacritics are gone (matched folded, anywhere in the header).
_BLOCK_PHRASES: Final = (
    "tình trạng", "trạng thái", "quản lý", "quan hệ", "phương thức", "phương án", "phương tiện",
    "xã hội", "số lượng", "tính chất",
)
# fmt: on

_Token = tuple[str, str]  # (lower-case NFC word, folded word)
_WORD = re.compile(r"[^\W\d_]+|\d+")
_NOTES = re.compile(r"\([^)]*\)|\[[^\]]*\]|\{[^}]*\}")


def _tokens(text: str) -> tuple[_Token, ...]:
    lowered = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    tokens: list[_Token] = []
    for word in _WORD.findall(lowered):
        folded = fold_header(word)
        if folded:
            tokens.append((word, folded))
    return tuple(tokens)


def _phrases(phrases: tuple[str, ...]) -> tuple[tuple[_Token, ...], ...]:
    return tuple(_tokens(phrase) for phrase in phrases)


_EXACT_INDEX: Final[dict[str, str]] = {fold_header(s): field for field in _FIELDS for s in _EXACT[field]}
_VI_HEAD_TOKENS: Final = {field: _phrases(_VI_HEADS[field]) for field in _FIELDS}
_EN_TAIL_TOKENS: Final = {field: _phrases(_EN_TAILS[field]) for field in _FIELDS}
_VI_PERSON_TOKENS: Final = _phrases(_VI_PERSONS)
_EN_PERSON_TOKENS: Final = _phrases(_EN_PERSONS)
_VI_NAME_TOKENS: Final = _tokens(_VI_NAME_WORD)
_EN_NAME_TOKENS: Final = _tokens(_EN_NAME_WORD)
_BLOCK_PHRASE_FOLDED: Final = tuple(tuple(f for _, f in _tokens(p)) for p in _BLOCK_PHRASES)


def _same(header: _Token, key: _Token) -> bool:
    """A word with diacritics must match exactly; a word without any matches by its folded form."""
    return header[1] == key[1] if header[0].isascii() else header[0] == key[0]


def _starts(tokens: tuple[_Token, ...], phrase: tuple[_Token, ...]) -> bool:
    return len(tokens) >= len(phrase) and all(_same(t, p) for t, p in zip(tokens, phrase, strict=False))


def _ends(tokens: tuple[_Token, ...], phrase: tuple[_Token, ...]) -> bool:
    tail = tokens[len(tokens) - len(phrase) :]
    return len(tokens) >= len(phrase) and all(_same(t, p) for t, p in zip(tail, phrase, strict=True))


def _blocked(tokens: tuple[_Token, ...]) -> bool:
    folded = tuple(f for _, f in tokens)
    if any(f in _BLOCK_WORDS for f in folded):
        return True
    for phrase in _BLOCK_PHRASE_FOLDED:
        size = len(phrase)
        if any(folded[i : i + size] == phrase for i in range(len(folded) - size + 1)):
            return True
    return False


def _classify(header: str) -> tuple[int, str] | None:
    """(rule, field) for a header: rule 0 exact, 1 exact without notes, 2 phrase; None if unknown."""
    field = _EXACT_INDEX.get(fold_header(header))
    if field is not None:
        return 0, field
    tokens = tuple(t for t in _tokens(_NOTES.sub(" ", header)) if not t[1].isdigit())
    field = _EXACT_INDEX.get("".join(f for _, f in tokens))
    if field is not None:
        return 1, field
    if not tokens or _blocked(tokens):
        return None
    found: set[str] = set()
    for field in _FIELDS:
        if any(_starts(tokens, p) for p in _VI_HEAD_TOKENS[field]):
            found.add(field)
        if any(_ends(tokens, p) for p in _EN_TAIL_TOKENS[field]):
            found.add(field)
    if _starts(tokens, _VI_NAME_TOKENS):
        rest = tokens[len(_VI_NAME_TOKENS) :]
        found.update(f for f in _NAMED_FIELDS if any(_starts(rest, p) for p in _VI_HEAD_TOKENS[f]))
        if any(_starts(rest, p) for p in _VI_PERSON_TOKENS):
            found.add("name")
    if _ends(tokens, _EN_NAME_TOKENS):
        rest = tokens[: len(tokens) - len(_EN_NAME_TOKENS)]
        found.update(f for f in _NAMED_FIELDS if any(_ends(rest, p) for p in _EN_TAIL_TOKENS[f]))
        if any(_ends(rest, p) for p in _EN_PERSON_TOKENS):
            found.add("name")
    if len(found) == 1:
        return 2, found.pop()
    return None


def _detect_columns(headers: tuple[str, ...]) -> Columns | None:
    """The columns of a header row, or None when it has no phone column."""
    best: dict[str, tuple[int, int, str]] = {}
    for position, header in enumerate(headers):
        match = _classify(header)
        if match is None:
            continue
        rule, field = match
        if field not in best or (rule, position) < best[field][:2]:
            best[field] = (rule, position, header)
    if "phone" not in best:
        return None
    chosen = {field: found[2] for field, found in best.items()}
    used = set(chosen.values())
    return Columns(
        phone=chosen["phone"],
        district=chosen.get("district"),
        commune=chosen.get("commune"),
        province=chosen.get("province"),
        carrier=chosen.get("carrier"),
        name=chosen.get("name"),
        extra=tuple(h for h in headers if h not in used),
    )


def _no_phone_message(where: str, values: list[str]) -> str:
    found = [" ".join(v.split()) for v in values if v.strip()]
    shown = ", ".join(f'"{v}"' for v in found[:30])
    if len(found) > 30:
        shown += f", … ({len(found)} cột)"
    message = (
        f"{where} không có cột số điện thoại. Các cột tìm thấy: {shown}. "
        'Hãy đặt tên cột là "Số điện thoại" (hoặc SĐT, phone, msisdn).'
    )
    first = found[0] if found else ""
    digits = sum(ch.isdigit() for ch in first)
    if digits >= 8 and digits >= 0.7 * len(first.replace(" ", "")):
        message += " Dòng đầu tiên có vẻ là dữ liệu chứ không phải tiêu đề: hãy thêm một dòng tiêu đề ở đầu tệp."
    return message


def _unreadable_message(path: Path, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f'Không đọc được tệp "{path.name}" ({reason}). Hãy kiểm tra quyền truy cập tệp hoặc tải tệp lên lại.'
