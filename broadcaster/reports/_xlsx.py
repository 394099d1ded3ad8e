"""The XLSX report (openpyxl): a summary sheet, then one sheet per view.

Every sheet has the same frame: the title (row 1), the status line (row 2: red "BÁO CÁO TẠM THỜI"
while anything is in flight), what the report covers (row 3), the bold header (row ``HEADER_ROW``,
frozen), the data, and a bold totals row. Numbers are numbers (counts, rates as fractions with a
percent format, seconds, VND), times are local date-times; the printed page repeats the status.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from broadcaster.reports import _labels as L
from broadcaster.reports._model import Report, Row

HEADER_ROW = 5
SHEETS = ("Tổng hợp", "Huyện - Nhà mạng", "Theo huyện", "Theo nhà mạng", "Lý do", "Theo giờ")

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_PROVISIONAL = Font(bold=True, color="FFFFFF", size=12)
_PROVISIONAL_FILL = PatternFill("solid", fgColor="B00020")
_FINAL = Font(bold=True, color="1B5E20")
_WRAP = Alignment(wrap_text=True, vertical="center")

_FORMATS = {
    "delivery_rate": "0.00%",
    "cost_vnd": "#,##0",
    "median_delivery_s": "#,##0.000",
    "p95_delivery_s": "#,##0.000",
    "first_sent_at": "dd/mm/yyyy hh:mm:ss",
    "last_sent_at": "dd/mm/yyyy hh:mm:ss",
}
_WIDTHS = {"district_code": 10, "district": 28, "carrier": 14, "first_sent_at": 20, "last_sent_at": 20}


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = SHEETS[0]
    _summary(report, summary)
    identity = ("district_code", "district", "carrier")
    _table(report, book.create_sheet(SHEETS[1]), "Kết quả theo huyện và nhà mạng", identity, report.rows)
    _table(report, book.create_sheet(SHEETS[2]), "Kết quả theo huyện", identity[:2], report.districts)
    _table(report, book.create_sheet(SHEETS[3]), "Kết quả theo nhà mạng", identity[2:], report.carriers)
    _reasons(report, book.create_sheet(SHEETS[4]))
    _timeline(report, book.create_sheet(SHEETS[5]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _frame(report: Report, sheet: Worksheet, title: str, width: int) -> None:
    sheet["A1"] = f"{L.TITLE} – {title}"
    sheet["A1"].font = _TITLE
    sheet["A2"] = L.status_line(report)
    sheet["A3"] = f"Chiến dịch: {report.campaign_name} (mã {report.campaign}). {L.scope_text(report)}."
    if report.final:
        sheet["A2"].font = _FINAL
    else:
        for column in range(1, max(width, 8) + 1):
            sheet.cell(row=2, column=column).fill = _PROVISIONAL_FILL
        sheet["A2"].font = _PROVISIONAL
        sheet.sheet_properties.tabColor = "B00020"
        sheet.oddHeader.center.text = "BÁO CÁO TẠM THỜI – SỐ LIỆU SẼ CÒN THAY ĐỔI"
        sheet.oddHeader.center.color = "B00020"
    sheet.oddFooter.right.text = "Trang &P/&N"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=1)


def _header(sheet: Worksheet, names: Sequence[str], widths: Sequence[float]) -> None:
    for column, (name, width) in enumerate(zip(names, widths, strict=True), start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=name)
        cell.font, cell.fill, cell.alignment = _BOLD, _HEADER_FILL, _WRAP
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.row_dimensions[HEADER_ROW].height = 45


def _value(report: Report, row: Row, key: str) -> Any:
    value = getattr(row, key)
    if isinstance(value, datetime):
        return _local(report, value)
    if key == "delivery_rate":
        return row.delivery_rate
    if key == "carrier" and value:
        return L.carrier_name(value)
    return value


def _table(report: Report, sheet: Worksheet, title: str, identity: Sequence[str], rows: Sequence[Row]) -> None:
    keys = [*identity, *(key for key, _ in L.COLUMNS[3:])]
    _frame(report, sheet, title, len(keys))
    _header(sheet, [L.HEADERS[k] for k in keys], [_WIDTHS.get(k, 13) for k in keys])
    totals = replace(report.totals, district_code="", district="", carrier="")
    for offset, row in enumerate([*rows, totals]):
        line = HEADER_ROW + 1 + offset
        for column, key in enumerate(keys, start=1):
            cell = sheet.cell(row=line, column=column, value=_value(report, row, key))
            if key in _FORMATS:
                cell.number_format = _FORMATS[key]
            elif key not in identity:
                cell.number_format = "#,##0"
        if row is totals:
            sheet.cell(row=line, column=1, value="Tổng cộng")
            for column in range(1, len(keys) + 1):
                sheet.cell(row=line, column=column).font = _BOLD
                sheet.cell(row=line, column=column).fill = _TOTAL_FILL


def _summary(report: Report, sheet: Worksheet) -> None:
    _frame(report, sheet, "Tổng hợp", 2)
    _header(sheet, ["Chỉ tiêu", "Giá trị", "Ghi chú"], [52, 22, 60])
    totals = report.totals
    items: list[tuple[str, Any, str | None, str]] = [
        ("Chiến dịch", report.campaign_name, None, f"mã {report.campaign}"),
        ("Phạm vi báo cáo", L.scope_text(report), None, ""),
        ("Các đợt gửi", ", ".join(str(r) for r in report.runs) or "–", None, ""),
        ("Lập lúc", _local(report, report.generated_at), "dd/mm/yyyy hh:mm", report.scope.timezone),
        (L.HEADERS["targeted"], totals.targeted, "#,##0", ""),
        (L.HEADERS["skipped"], totals.skipped, "#,##0", ""),
        *(
            (f"    {L.skip_reason(reason)}", totals.skipped_by_reason.get(reason, 0), "#,##0", reason)
            for reason in report.skip_reasons
        ),
        (L.HEADERS["submitted"], totals.submitted, "#,##0", ""),
        (L.HEADERS["delivered"], totals.delivered, "#,##0", ""),
        (L.HEADERS["delivery_rate"], totals.delivery_rate, "0.00%", "thành công / (tổng số − không gửi − đã hủy)"),
        (L.HEADERS["failed"], totals.failed, "#,##0", ""),
        *(
            (f"    {code}", totals.failed_by_reason[code], "#,##0", report.reason_texts.get(code, ""))
            for code in report.failure_codes
        ),
        (L.HEADERS["expired"], totals.expired, "#,##0", ""),
        (L.HEADERS["cancelled"], totals.cancelled, "#,##0", ""),
        (L.HEADERS["pending"], totals.pending, "#,##0", "đang chờ gửi hoặc chờ báo cáo từ nhà mạng"),
        (L.HEADERS["segments"], totals.segments, "#,##0", ""),
        (L.HEADERS["cost_vnd"], totals.cost_vnd, "#,##0", _prices(report)),
        (L.HEADERS["first_sent_at"], _local(report, totals.first_sent_at), "dd/mm/yyyy hh:mm:ss", ""),
        (L.HEADERS["last_sent_at"], _local(report, totals.last_sent_at), "dd/mm/yyyy hh:mm:ss", ""),
        (
            L.HEADERS["median_delivery_s"],
            totals.median_delivery_s,
            "#,##0.000",
            "từ lúc gửi đến khi nhà mạng báo thành công",
        ),
        (L.HEADERS["p95_delivery_s"], totals.p95_delivery_s, "#,##0.000", ""),
        ("Số liệu khớp", "Có" if report.reconciles else "KHÔNG", None, _checks(report)),
    ]
    for offset, (label, value, fmt, note) in enumerate(items):
        line = HEADER_ROW + 1 + offset
        sheet.cell(row=line, column=1, value=label)
        cell = sheet.cell(row=line, column=2, value=value)
        if fmt:
            cell.number_format = fmt
        sheet.cell(row=line, column=3, value=note or None)
        if not label.startswith(" "):
            sheet.cell(row=line, column=1).font = _BOLD


def _reasons(report: Report, sheet: Worksheet) -> None:
    keys = ["Loại", "Mã lý do", "Diễn giải", "Mã huyện", "Huyện/thị xã/thành phố", "Nhà mạng", "Số tin nhắn"]
    _frame(report, sheet, "Lý do không gửi và không thành công", len(keys))
    _header(sheet, keys, [16, 22, 44, 10, 28, 14, 13])
    lines: list[list[Any]] = []
    for kind, reasons, label in (
        (L.SKIPPED, lambda r: r.skipped_by_reason, L.skip_reason),
        (L.FAILED, lambda r: r.failed_by_reason, lambda code: report.reason_texts.get(code, "")),
    ):
        lines.extend(_reason_lines(report, kind, reasons, label))
    total = sum(line[-1] for line in lines)
    for offset, values in enumerate([*lines, ["Tổng cộng", "", "", "", "", "", total]]):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=HEADER_ROW + 1 + offset, column=column, value=value)
            if column == len(keys):
                cell.number_format = "#,##0"
            if offset == len(lines):
                cell.font, cell.fill = _BOLD, _TOTAL_FILL


def _reason_lines(
    report: Report, kind: str, reasons: Callable[[Row], dict[str, int]], label: Callable[[str], str]
) -> list[list[Any]]:
    lines = []
    for row in report.rows:
        for code, count in sorted(reasons(row).items()):
            lines.append([kind, code, label(code), row.district_code, row.district, L.carrier_name(row.carrier), count])
    return lines


def _timeline(report: Report, sheet: Worksheet) -> None:
    keys = [f"Giờ ({report.scope.timezone})", "Đã gửi đến nhà mạng", "Thành công"]
    _frame(report, sheet, "Số tin gửi đi và thành công theo giờ", len(keys))
    _header(sheet, keys, [22, 18, 18])
    items = report.timeline
    for offset, item in enumerate(items):
        line = HEADER_ROW + 1 + offset
        sheet.cell(row=line, column=1, value=_local(report, item.hour)).number_format = "dd/mm/yyyy hh:mm"
        sheet.cell(row=line, column=2, value=item.submitted).number_format = "#,##0"
        sheet.cell(row=line, column=3, value=item.delivered).number_format = "#,##0"
    line = HEADER_ROW + 1 + len(items)
    for column, value in enumerate(
        ["Tổng cộng", sum(i.submitted for i in items), sum(i.delivered for i in items)], start=1
    ):
        cell = sheet.cell(row=line, column=column, value=value)
        cell.font, cell.fill = _BOLD, _TOTAL_FILL
        if column > 1:
            cell.number_format = "#,##0"


def _local(report: Report, value: datetime | None) -> datetime | None:
    """Excel has no time zones: local wall-clock time, to the second (as the JSON shows it)."""
    return value.astimezone(report.zone).replace(tzinfo=None, microsecond=0) if value else None


def _prices(report: Report) -> str:
    if not report.prices:
        return "chưa khai báo đơn giá (prices trong broadcaster.toml)"
    listed = ", ".join(f"{L.carrier_name(c)} {L.number(p)}" for c, p in sorted(report.prices.items()))
    return f"đơn giá VND/tin: {listed}"


def _checks(report: Report) -> str:
    return "; ".join(f"{'đạt' if c.ok else 'KHÔNG ĐẠT'}: {c.detail}" for c in report.checks)
