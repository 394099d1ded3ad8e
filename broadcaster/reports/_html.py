"""The printable report: one HTML page in Vietnamese for A4, with its charts inline (no external asset).

The page holds the issuing body's header (province, department), the title, the campaign and dates,
the summary, the table by district, a table by carrier, the reasons, three charts and the signature
block. While anything is in flight a "TẠM THỜI" mark is fixed on the page, so Chromium prints it on
every sheet. Each figure of the tables also carries its JSON value in ``data-value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from broadcaster.reports import _charts
from broadcaster.reports import _labels as L
from broadcaster.reports._model import Report, Row

TEMPLATE = "report.html"

# (key, header, how to show it) of the district and carrier tables.
TABLE = (
    ("targeted", "Tổng số thuê bao", "count"),
    ("skipped", "Không gửi", "count"),
    ("delivered", "Thành công", "count"),
    ("delivery_rate", "Tỷ lệ thành công", "rate"),
    ("failed", "Không thành công", "count"),
    ("expired", "Hết hạn", "count"),
    ("cancelled", "Đã hủy", "count"),
    ("pending", "Đang chờ", "count"),
    ("segments", "Số tin tính cước", "count"),
    ("cost_vnd", "Chi phí ước tính (VND)", "count"),
)


@dataclass(frozen=True, slots=True)
class Cell:
    key: str
    text: str
    value: Any


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("broadcaster", "web/templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _cells(row: Row) -> list[Cell]:
    cells = []
    for key, _header, kind in TABLE:
        value = row.delivery_rate if key == "delivery_rate" else getattr(row, key)
        cells.append(Cell(key, L.percent(value) if kind == "rate" else L.number(value), value))
    return cells


def _summary(report: Report) -> list[tuple[str, str, bool]]:
    """(label, figure, is a sub-item) lines of the summary."""
    t = report.totals
    lines: list[tuple[str, str, bool]] = [
        ("Tổng số thuê bao trong danh sách", L.number(t.targeted), False),
        ("Không gửi (loại trước khi gửi)", L.number(t.skipped), False),
    ]
    lines += [(L.skip_reason(r), L.number(t.skipped_by_reason.get(r, 0)), True) for r in report.skip_reasons]
    lines += [
        ("Đã gửi đến nhà mạng", L.number(t.submitted), False),
        ("Nhận thành công", f"{L.number(t.delivered)} ({L.percent(t.delivery_rate)})", False),
        ("Không thành công", L.number(t.failed), False),
    ]
    lines += [(L.failure_reason(c, report), L.number(t.failed_by_reason[c]), True) for c in report.failure_codes]
    lines += [
        ("Hết hạn (không nhận được báo cáo của nhà mạng)", L.number(t.expired), False),
        ("Đã hủy", L.number(t.cancelled), False),
        ("Đang chờ kết quả", L.number(t.pending), False),
        ("Số tin nhắn tính cước", L.number(t.segments), False),
        ("Chi phí ước tính", "–" if t.cost_vnd is None else f"{L.number(t.cost_vnd)} đồng", False),
        ("Thời gian gửi", _sent_between(report), False),
        (
            "Thời gian từ lúc gửi đến khi nhận (trung vị / 95%)",
            f"{L.duration(t.median_delivery_s)} / {L.duration(t.p95_delivery_s)}",
            False,
        ),
    ]
    return lines


def _sent_between(report: Report) -> str:
    t, zone = report.totals, report.zone
    if t.first_sent_at is None or t.last_sent_at is None:
        return "chưa gửi tin nào"
    return f"từ {L.moment(t.first_sent_at, zone)} đến {L.moment(t.last_sent_at, zone)}"


def to_html(report: Report, *, province: str = "", department: str = "") -> str:
    zone = report.zone
    issued = report.generated_at.astimezone(zone)
    place = L.place(province)
    context = {
        "title": L.TITLE,
        "issuer": L.issuer(province),
        "department": department.upper(),
        "date_line": f"{place + ', ' if place else ''}ngày {issued.day:02d} tháng {issued.month:02d} năm {issued.year}",
        "report": report,
        "final": report.final,
        "status_line": L.status_line(report),
        "scope": L.scope_text(report),
        "sent_between": _sent_between(report),
        "generated": L.moment(report.generated_at, zone),
        "timezone": report.scope.timezone,
        "summary": _summary(report),
        "headers": [header for _key, header, _kind in TABLE],
        "districts": [(row, _cells(row)) for row in report.districts],
        "carriers": [(row, L.carrier_name(row.carrier), _cells(row)) for row in report.carriers],
        "totals": _cells(report.totals),
        "checks": report.checks,
        "reconciles": report.reconciles,
        "charts": {
            "rate": _charts.rate_by_district(report.districts),
            "carriers": _charts.status_by_carrier(report.carriers),
            "hours": _charts.per_hour(report.timeline, zone),
        },
        "prices": ", ".join(f"{L.carrier_name(c)} {L.number(p)} đồng" for c, p in sorted(report.prices.items())),
    }
    return _environment().get_template(TEMPLATE).render(**context)
