"""Charts for the printable report, drawn as inline SVG by hand: no script, no font, no network.

Each function returns markup sized by its ``viewBox`` (680 units: the width of an A4 page inside 15 mm
margins at 96 dpi) and scaled to the width of the page; every mark has a ``<title>`` with its figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from broadcaster.reports import _labels as L
from broadcaster.reports._model import HourCount, Row

WIDTH = 680
COLOURS = {
    "delivered": "#2e7d32",
    "failed": "#c62828",
    "expired": "#ef6c00",
    "skipped": "#9e9e9e",
    "cancelled": "#5d4037",
    "pending": "#1565c0",
}
SUBMITTED_COLOUR = "#90a4ae"
MAX_HOURLY_SLOTS = 72
"""Beyond three days of sending the timeline is drawn per day instead of per hour."""


def _svg(height: float, label: str, body: Sequence[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: float = 11, weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'dominant-baseline="middle">{escape(text)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str) -> str:
    return (
        f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0):.2f}" height="{h:.2f}" fill="{fill}">'
        f"<title>{escape(title)}</title></rect>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = "#bbb") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="0.6"/>'


def rate_by_district(districts: Sequence[Row]) -> Markup:
    """Horizontal bars: the delivery rate of each district, on a 0–100% scale."""
    label_w, value_w, row_h, top = 200, 64, 20, 22
    bar_w = WIDTH - label_w - value_w
    height = top + row_h * max(len(districts), 1) + 6
    body = []
    for tick in (0, 25, 50, 75, 100):
        x = label_w + bar_w * tick / 100
        body.append(_line(x, top - 4, x, height - 4))
        body.append(_text(x, top - 12, f"{tick}%", "middle", 10))
    for index, row in enumerate(districts):
        y = top + index * row_h
        rate = row.delivery_rate
        body.append(_text(label_w - 6, y + row_h / 2, row.district, "end"))
        if rate is not None:
            title = f"{row.district}: {L.percent(rate)} ({L.number(row.delivered)}/{L.number(row.attempted)})"
            body.append(_rect(label_w, y + 3, bar_w * rate, row_h - 6, COLOURS["delivered"], title))
        body.append(_text(label_w + bar_w + 6, y + row_h / 2, L.percent(rate)))
    return _svg(height, "Tỷ lệ nhắn tin thành công theo huyện", body)


STACK = ("delivered", "failed", "expired", "skipped", "cancelled", "pending")


def status_by_carrier(carriers: Sequence[Row]) -> Markup:
    """100% stacked bars: where each carrier's messages ended up."""
    label_w, row_h, legend_h = 150, 24, 26
    bar_w = WIDTH - label_w - 10
    height = legend_h + row_h * max(len(carriers), 1) + 6
    body = []
    x = label_w
    for status in STACK:
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{COLOURS[status]}"/>')
        body.append(_text(x + 14, 9.5, L.STATUS[status], size=10))
        x += 14 + 7 * len(L.STATUS[status]) + 14
    for index, row in enumerate(carriers):
        y = legend_h + index * row_h
        body.append(
            _text(label_w - 6, y + row_h / 2, f"{L.carrier_name(row.carrier)} ({L.number(row.targeted)})", "end")
        )
        x = label_w
        for status in STACK:
            count = getattr(row, status)
            if not count or not row.targeted:
                continue
            width = bar_w * count / row.targeted
            share = L.percent(count / row.targeted)
            title = f"{L.carrier_name(row.carrier)} – {L.STATUS[status]}: {L.number(count)} ({share})"
            body.append(_rect(x, y + 3, width, row_h - 6, COLOURS[status], title))
            x += width
    return _svg(height, "Kết quả nhắn tin theo nhà mạng", body)


def _slots(timeline: Sequence[HourCount], zone: ZoneInfo) -> tuple[list[datetime], list[int], list[int], bool]:
    """Contiguous local hours (or days) from the first to the last with traffic, gaps as zero."""
    if not timeline:
        return [], [], [], True
    first, last = timeline[0].hour, timeline[-1].hour
    hourly = (last - first) / timedelta(hours=1) < MAX_HOURLY_SLOTS
    step = timedelta(hours=1)

    def key(moment: datetime) -> datetime:
        local = moment.astimezone(zone)
        return local if hourly else local.replace(hour=0, minute=0, second=0, microsecond=0)

    submitted: dict[datetime, int] = {}
    delivered: dict[datetime, int] = {}
    for item in timeline:
        submitted[key(item.hour)] = submitted.get(key(item.hour), 0) + item.submitted
        delivered[key(item.hour)] = delivered.get(key(item.hour), 0) + item.delivered
    slots = []
    cursor = key(first)
    end = key(last)
    while cursor <= end:
        slots.append(cursor)
        cursor = (cursor.astimezone(UTC) + step).astimezone(zone) if hourly else _next_day(cursor, zone)
    return slots, [submitted.get(s, 0) for s in slots], [delivered.get(s, 0) for s in slots], hourly


def _next_day(day: datetime, zone: ZoneInfo) -> datetime:
    following = (day + timedelta(days=1, hours=12)).astimezone(zone)
    return following.replace(hour=0, minute=0, second=0, microsecond=0)


def _nice_step(top: int) -> int:
    if top <= 0:
        return 1
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if magnitude * factor >= raw:
            return max(1, int(magnitude * factor))
    return int(magnitude * 10)


def per_hour(timeline: Sequence[HourCount], zone: ZoneInfo) -> Markup:
    """Grouped bars: messages submitted and delivered per hour (per day for long campaigns)."""
    slots, submitted, delivered, hourly = _slots(timeline, zone)
    left, right, top, plot_h, bottom = 64, 10, 28, 190, 36
    height = top + plot_h + bottom
    plot_w = WIDTH - left - right
    unit = "giờ" if hourly else "ngày"
    label = f"Số tin gửi đi và thành công theo {unit}"
    body = [
        f'<rect x="{left}" y="6" width="10" height="10" fill="{SUBMITTED_COLOUR}"/>',
        _text(left + 14, 11.5, "Đã gửi đến nhà mạng", size=10),
        f'<rect x="{left + 150}" y="6" width="10" height="10" fill="{COLOURS["delivered"]}"/>',
        _text(left + 164, 11.5, "Thành công", size=10),
    ]
    if not slots:
        body.append(_text(WIDTH / 2, top + plot_h / 2, "Chưa có tin nào được gửi", "middle"))
        return _svg(height, label, body)
    step = _nice_step(max(max(submitted), max(delivered)))
    ceiling = step * max(1, math.ceil(max(max(submitted), max(delivered)) / step))
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        body.append(_line(left, y, left + plot_w, y))
        body.append(_text(left - 6, y, L.number(tick), "end", 10))
    slot_w = plot_w / len(slots)
    bar_w = min(max(slot_w * 0.38, 0.5), 18.0)
    pad = (slot_w - 2 * bar_w) / 2
    every = max(1, math.ceil(44 / slot_w))
    for index, (slot, sent, done) in enumerate(zip(slots, submitted, delivered, strict=True)):
        x = left + index * slot_w
        when = slot.strftime("%Hh %d/%m" if hourly else "%d/%m/%Y")
        for offset, (count, colour, name) in enumerate(
            ((sent, SUBMITTED_COLOUR, "đã gửi"), (done, COLOURS["delivered"], "thành công"))
        ):
            h = plot_h * count / ceiling
            body.append(
                _rect(x + pad + offset * bar_w, top + plot_h - h, bar_w, h, colour, f"{when}: {L.number(count)} {name}")
            )
        if index % every == 0:
            text = slot.strftime("%Hh") if hourly else slot.strftime("%d/%m")
            body.append(_text(x + slot_w / 2, top + plot_h + 10, text, "middle", 9))
            if hourly and (index == 0 or slot.hour < every):
                body.append(_text(x + slot_w / 2, top + plot_h + 23, slot.strftime("%d/%m"), "middle", 9))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, "#333"))
    return _svg(height, label, body)
