"""Rendering cost: a personalised template for N recipients, and a per-district template for the same N.

- per recipient: every recipient renders in the Jinja2 sandbox (``compose.render_recipients``) and is
  measured under the encoding policy; the figure is renders per second.
- per district: the template renders once per district (``compose.measure``) and the recipients cost
  their district's segments times their number (``compose.estimate_cost``): the time does not grow
  with N, so the figure is the whole estimate's time.
- baseline: the personalised text built with ``str.format`` and measured the same way, to show what
  the sandbox costs over plain Python.

    .venv/bin/python bench/render.py            # 1,000,000 recipients
    .venv/bin/python bench/render.py --quick    # 100,000 recipients, well under a minute

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from broadcaster import compose
from broadcaster.config import load_settings
from carriers import sms

PERSONAL = (
    '{#\ntitle = "bench"\n#}\n'
    "Kính gửi {{ name }} ({{ commune }}): cảnh giác lời mời “việc nhẹ, lương cao” ở nước ngoài. "
    "Khi nghi ngờ, hãy báo Công an {{ district }} hoặc gọi {{ police_phone }}."
)
PERSONAL_FORMAT = (
    "Kính gửi {name} ({commune}): cảnh giác lời mời “việc nhẹ, lương cao” ở nước ngoài. "
    "Khi nghi ngờ, hãy báo Công an {district} hoặc gọi {police_phone}."
)
DISTRICT_TEMPLATE = "cao-diem/viec-nhe-luong-cao"
NAMES = (
    "Nguyễn Văn An",
    "Trần Thị Bích Ngọc",
    "Lê Hoàng Phúc",
    "Phạm Minh Châu",
    "Võ Thị Thu Hà",
    "Huỳnh Đức Long",
    "Đặng Thị Mỹ Duyên",
    "Bùi Quang Vinh",
    "Nguyễn Thị Phương Thảo",
    "Lý A Sáng",
)
COMMUNES = ("Xã Tân Lập", "Xã Thạnh Bình", "Phường 1", "Xã Hòa Hiệp", "Thị trấn Tân Biên", "Xã Mỏ Công")
WEIGHTS = (14, 9, 12, 11, 12, 13, 14, 8, 15)
POLICY = sms.AUTO


def _split(total: int, weights: tuple[int, ...]) -> list[int]:
    """``total`` shared in proportion to ``weights``, summing exactly to ``total``."""
    shares = [total * w // sum(weights) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def _recipients(count: int, offset: int) -> Iterator[dict[str, str]]:
    for i in range(offset, offset + count):
        yield {"name": NAMES[i % len(NAMES)], "commune": COMMUNES[(i // 7) % len(COMMUNES)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 recipients instead of 1,000,000")
    parser.add_argument("--recipients", type=int, help="number of recipients (overrides --quick)")
    args = parser.parse_args()
    total = args.recipients or (100_000 if args.quick else 1_000_000)

    settings = load_settings(Path(__file__).resolve().parent, environ={})
    contexts = compose.settings_contexts(settings, campaign="bench", year=2024)
    counts = dict(zip((str(c["district_code"]) for c in contexts), _split(total, WEIGHTS), strict=True))

    personal = compose.parse_template("bench", Path("bench.j2"), PERSONAL)
    started = time.perf_counter()
    personal_segments = offset = 0
    for context in contexts:
        n = counts[str(context["district_code"])]
        for rendered in compose.render_recipients(personal, context, _recipients(n, offset), POLICY):
            personal_segments += rendered.segments
        offset += n
    personal_seconds = time.perf_counter() - started

    started = time.perf_counter()
    baseline_segments = offset = 0
    for context in contexts:
        n = counts[str(context["district_code"])]
        for recipient in _recipients(n, offset):
            text = PERSONAL_FORMAT.format(**context, **recipient)
            baseline_segments += sms.apply_policy(text, POLICY).measure.segments
        offset += n
    baseline_seconds = time.perf_counter() - started
    assert baseline_segments == personal_segments, "the baseline renders the same texts"

    district_template = compose.load_template(DISTRICT_TEMPLATE)
    started = time.perf_counter()
    lines = compose.estimate_cost(
        district_template,
        contexts,
        POLICY,
        {(code, "viettel"): n for code, n in counts.items()},
        {"viettel": 800.0},
    )
    district_seconds = time.perf_counter() - started
    district_segments = sum(line.segments for line in lines)
    district_messages = sum(line.messages for line in lines)
    assert district_messages == total

    per_s = total / personal_seconds
    baseline_per_s = total / baseline_seconds
    print(
        f"per recipient: {total:,} renders in {personal_seconds:.2f} s = {per_s:,.0f} renders/s, "
        f"{personal_segments:,} segments ({personal_segments / total:.2f} per message)"
    )
    ratio = per_s / baseline_per_s
    print(f"baseline (str.format + measure): {baseline_per_s:,.0f} /s; the sandbox runs at {ratio:.2f}× that")
    print(
        f"per district: {len(contexts)} renders for {total:,} recipients in {district_seconds * 1000:.1f} ms, "
        f"{district_segments:,} segments ({district_segments / total:.2f} per message)"
    )
    print(
        json.dumps(
            {
                "bench": "render",
                "recipients": total,
                "per_recipient_renders_per_s": round(per_s),
                "per_recipient_seconds": round(personal_seconds, 3),
                "per_recipient_segments": personal_segments,
                "baseline_per_s": round(baseline_per_s),
                "ratio": round(ratio, 3),
                "per_district_renders": len(contexts),
                "per_district_seconds": round(district_seconds, 4),
                "per_district_segments": district_segments,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
