"""Vietnamese wording and number formats shared by the XLSX and HTML reports."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from broadcaster.models import MessageStatus, SkipReason
from broadcaster.reports._model import UNKNOWN_REASON, Report, Scope

TITLE = "Báo cáo kết quả nhắn tin tuyên truyền hưởng ứng Ngày toàn dân phòng, chống mua bán người 30/7"

STATUS = {
    MessageStatus.DELIVERED: "Thành công",
    MessageStatus.FAILED: "Không thành công",
    MessageStatus.EXPIRED: "Hết hạn",
    MessageStatus.SKIPPED: "Không gửi",
    MessageStatus.CANCELLED: "Đã hủy",
    "pending": "Đang chờ kết quả",
}

SKIP_REASON = {
    SkipReason.OPTED_OUT: "Thuê bao từ chối nhận tin",
    SkipReason.DUPLICATE: "Số trùng lặp trong danh sách",
    SkipReason.OUTSIDE_AREA: "Ngoài địa bàn chiến dịch",
    UNKNOWN_REASON: "Không rõ lý do",
}

FAILED = "Không thành công"
SKIPPED = "Không gửi"

# (metric, header) of the tabular views, in order; a view leaves out the identity columns it groups away.
COLUMNS = (
    ("district_code", "Mã huyện"),
    ("district", "Huyện/thị xã/thành phố"),
    ("carrier", "Nhà mạng"),
    ("targeted", "Tổng số thuê bao"),
    ("skipped", "Không gửi"),
    ("submitted", "Đã gửi đến nhà mạng"),
    ("delivered", "Thành công"),
    ("delivery_rate", "Tỷ lệ thành công"),
    ("failed", "Không thành công"),
    ("expired", "Hết hạn"),
    ("cancelled", "Đã hủy"),
    ("pending", "Đang chờ"),
    ("segments", "Số tin tính cước"),
    ("cost_vnd", "Chi phí ước tính (VND)"),
    ("first_sent_at", "Gửi đầu tiên"),
    ("last_sent_at", "Gửi cuối cùng"),
    ("median_delivery_s", "Thời gian nhận, trung vị (giây)"),
    ("p95_delivery_s", "Thời gian nhận, 95% (giây)"),
)
HEADERS = dict(COLUMNS)

CARRIERS = {
    "viettel": "Viettel",
    "vinaphone": "VinaPhone",
    "mobifone": "MobiFone",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
    "itel": "Itel",
    "reddi": "Reddi",
}


def carrier_name(code: str) -> str:
    return CARRIERS.get(code, code)


def skip_reason(code: str) -> str:
    return SKIP_REASON.get(code, code)


def failure_reason(code: str, report: Report) -> str:
    text = report.reason_texts.get(code)
    return f"{code}: {text}" if text else code


def number(value: float | int | None, digits: int = 0) -> str:
    """Vietnamese digits: ``1234567.5`` -> ``1.234.567,5``; None -> an en dash."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def percent(rate: float | None) -> str:
    """``0.9534`` -> ``95,34%`` (the rate keeps 4 decimals, so nothing is lost)."""
    return "–" if rate is None else number(rate * 100, 2) + "%"


def duration(seconds: float | None) -> str:
    """``307.651`` -> ``5 phút 08 giây``; short times keep a decimal: ``2,4 giây``."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{number(seconds, 1)} giây"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes:02d} phút"
    return f"{minutes} phút {secs:02d} giây"


def moment(value: datetime | None, zone: ZoneInfo, with_seconds: bool = False) -> str:
    if value is None:
        return "–"
    return value.astimezone(zone).strftime("%H:%M:%S %d/%m/%Y" if with_seconds else "%H:%M %d/%m/%Y")


def scope_text(report: Report) -> str:
    """What the report covers, in words."""
    scope, zone = report.scope, report.zone
    if scope.kind == Scope.RUN and scope.run is not None:
        when = report.run_times.get(scope.run)
        return f"Đợt gửi số {scope.run}" + (f", lịch gửi {moment(when, zone)}" if when else "")
    if scope.kind == Scope.PERIOD:
        start = scope.start.strftime("%d/%m/%Y") if scope.start else "…"
        end = scope.end.strftime("%d/%m/%Y") if scope.end else "…"
        return f"Các đợt gửi từ ngày {start} đến ngày {end} ({len(report.runs)} đợt)"
    return f"Toàn bộ chiến dịch ({len(report.runs)} đợt gửi)"


def status_line(report: Report) -> str:
    if report.final:
        return "Báo cáo chính thức: mọi tin nhắn đã có kết quả cuối cùng."
    parts = []
    if report.totals.pending:
        parts.append(f"còn {number(report.totals.pending)} tin nhắn chưa có kết quả cuối cùng")
    if report.runs_in_progress:
        parts.append(f"{report.runs_in_progress} đợt gửi đang được lập danh sách")
    return "BÁO CÁO TẠM THỜI: " + "; ".join(parts) + ". Số liệu sẽ còn thay đổi."


def issuer(province: str) -> str:
    """``Tỉnh Tây Ninh`` or ``Tây Ninh`` -> ``UBND TỈNH TÂY NINH``; an empty name stays empty."""
    name = province.strip()
    if not name:
        return ""
    if not name.lower().startswith(("tỉnh ", "thành phố ")):
        name = f"Tỉnh {name}"
    return f"UBND {name}".upper()


def place(province: str) -> str:
    """The place name of the date line: ``Tây Ninh`` for ``Tỉnh Tây Ninh``."""
    name = province.strip()
    for prefix in ("Tỉnh ", "Thành phố ", "tỉnh ", "thành phố "):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
