"""`broadcaster template …`: the message library, previews and what sending would cost.

What the operator reads here is Vietnamese, like the console and the template errors: the texts,
their encoding, characters, SMS parts per message, and the cost in parts *and* in messages (operators
confuse the two). ``--json`` prints the rows of DESIGN §6 and nothing else on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from broadcaster import compose
from broadcaster.cli._app import err, out, state_of
from carriers import sms

app = typer.Typer(help="Message templates: the library, previews and costs.", no_args_is_help=True)


class Policy(StrEnum):
    auto = "auto"
    unicode = "unicode"
    ascii = "ascii"


def _n(value: int) -> str:
    """1234567 -> 1.234.567 (Vietnamese digit grouping)."""
    return f"{value:,}".replace(",", ".")


def _vnd(value: float | None) -> str:
    if value is None:
        return "chưa có giá"
    if float(value).is_integer():
        return f"{_n(int(value))} đ"
    whole, _, cents = f"{value:,.2f}".partition(".")
    return f"{whole.replace(',', '.')},{cents} đ"


def _range(bounds: tuple[int, int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}–{high}"


def _encoding(encoding: str, folded: bool) -> str:
    if encoding == sms.GSM7:
        return "GSM-7 (đã bỏ dấu)" if folded else "GSM-7"
    return "UCS-2 (có dấu)"


_POLICY_NAMES = {
    sms.AUTO: "auto: bỏ dấu khi việc đó làm tin ít phần hơn",
    sms.UNICODE: "unicode: giữ nguyên dấu",
    sms.ASCII: "ascii: luôn bỏ dấu",
}


@app.command("list")
def template_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the templates: name, title, year, encoding policy, SMS parts with and without diacritics."""
    settings = state_of(ctx).load()
    contexts = compose.settings_contexts(settings)
    summaries = [
        compose.summarize(t, contexts, settings.campaign.encoding)
        for t in compose.list_templates(settings.templates_dir)
    ]
    if as_json:
        rows = [
            {
                "name": s.name,
                "title": s.title,
                "year": s.year,
                "encoding": s.encoding,
                "segments_ucs2": s.unicode_segments[1],
                "segments_folded": s.folded_segments[1],
                "variables": list(s.variables),
            }
            for s in summaries
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="Mẫu tin nhắn", caption="Số phần SMS của một tin nhắn (nhà mạng tính tiền theo phần).")
    table.add_column("Tên", no_wrap=True)
    table.add_column("Tiêu đề", ratio=1)
    table.add_column("Năm", justify="right")
    table.add_column("Mã hoá")
    table.add_column("Phần có dấu", justify="right")
    table.add_column("Phần không dấu", justify="right")
    for s in summaries:
        table.add_row(
            s.name,
            Text(s.title),
            str(s.year or ""),
            s.encoding,
            _range(s.unicode_segments),
            _range(s.folded_segments),
        )
    out.print(table)
    if not summaries:
        out.print("Chưa có mẫu nào; xem templates/README.md để thêm mẫu.")


@app.command("preview")
def template_preview(
    ctx: typer.Context,
    template: Annotated[str, typer.Argument(help="A name from templates/ (e.g. 30-7/2024) or a .j2 file.")],
    district: Annotated[str | None, typer.Option("--district", help="Only this district code.")] = None,
    encoding: Annotated[
        Policy | None, typer.Option("--encoding", help="Encoding policy (default: the template's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    audience: Annotated[
        list[str] | None, typer.Option("--audience", help="Price the send to this audience (repeatable).")
    ] = None,
) -> None:
    """Show each district's text as it will be sent: encoding, characters, SMS parts, and the cost."""
    state = state_of(ctx)
    settings = state.load()
    chosen = compose.load_template(template, settings.templates_dir)
    policy = compose.policy_for(chosen, settings, encoding.value if encoding else None)
    counts = compose.audience_counts(state.database(), audience) if audience else None
    if district is not None:
        codes: list[str] | None = [district]
        if counts is not None:
            counts = {key: n for key, n in counts.items() if key[0] == district}
    elif counts:
        codes = sorted({code for code, _ in counts})
    else:
        codes = None
    contexts = compose.settings_contexts(settings, districts=codes)
    rows = compose.preview(chosen, contexts, policy, collapse=district is None)
    problems = compose.validate(chosen, policy=policy, contexts=contexts, limits=compose.route_limits(settings))
    for problem in problems:
        err.print(Text(f"Cảnh báo: {problem}"))
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "district": r.district or None,
                        "text": r.text,
                        "encoding": r.encoding,
                        "characters": r.characters,
                        "segments": r.segments,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    out.print(Text(f"Mẫu {chosen.name}: {chosen.meta.title}"))
    out.print(f"Chính sách mã hoá: {_POLICY_NAMES[policy]}")
    if chosen.per_recipient:
        sample = compose.SAMPLE_RECIPIENT
        out.print(
            Text(
                f"Mẫu tạo riêng cho từng người nhận; xem trước với người nhận mẫu: {sample['name']}, "
                f"{sample['commune']}."
            )
        )
    table = Table(show_lines=True)
    table.add_column("Huyện")
    table.add_column("Mã hoá")
    table.add_column("Ký tự", justify="right")
    table.add_column("Phần SMS", justify="right")
    table.add_column("Nội dung gửi đi", ratio=1)
    for r in rows:
        where = f"{r.district} ({r.district_code})" if r.district else "mọi huyện"
        table.add_row(Text(where), _encoding(r.encoding, r.folded), str(r.characters), str(r.segments), Text(r.text))
    out.print(table)
    for r in rows:
        if r.replaced:
            out.print(Text(f"Lưu ý: các ký tự {', '.join(r.replaced)} không có khi bỏ dấu và sẽ thành '?'."))
            break
    unicode_by_carrier = compose.carrier_unicode(settings)
    lines = compose.estimate_cost(
        chosen, contexts, policy, counts, settings.prices, unicode_by_carrier=unicode_by_carrier
    )
    if counts is None:
        _per_message(lines)
    else:
        _for_audience(lines, audience or [])
    if not settings.prices:
        hint = "Chưa có giá: thêm mục [prices] vào broadcaster.toml (giá một phần SMS, VND), ví dụ viettel = 800."
        out.print(Text(hint))


def _parts(line: compose.CostLine) -> str:
    if line.min_segments == line.max_segments:
        return str(line.max_segments)
    return f"{line.min_segments}–{line.max_segments}"


def _per_message(lines: Sequence[compose.CostLine]) -> None:
    priced = [line for line in lines if line.price is not None]
    if not priced:
        parts = {_parts(line) for line in lines}
        if len(parts) == 1:
            out.print(f"Mỗi tin nhắn (một người nhận) = {parts.pop()} phần SMS.")
        else:
            each = ", ".join(f"{line.carrier} {_parts(line)}" for line in lines)
            out.print(f"Mỗi tin nhắn (một người nhận), số phần SMS theo nhà mạng: {each}.")
        return
    table = Table(title="Chi phí một tin nhắn (một người nhận)", caption="Giá / tin = số phần × giá / phần.")
    for column in ("Nhà mạng", "Phần SMS / tin", "Giá / phần", "Giá / tin"):
        table.add_column(column, justify="left" if column == "Nhà mạng" else "right")
    for line in priced:
        table.add_row(line.carrier, _parts(line), _vnd(line.price), _vnd(line.price_per_message))
    out.print(table)


def _for_audience(lines: Sequence[compose.CostLine], audiences: Sequence[str]) -> None:
    names = ", ".join(f"“{name}”" for name in audiences)
    table = Table(title=Text(f"Chi phí gửi cho {names} (không tính số đã từ chối nhận tin)"))
    for column in ("Nhà mạng", "Tin nhắn", "Phần / tin", "Phần SMS", "Giá / phần", "Thành tiền"):
        table.add_column(column, justify="left" if column == "Nhà mạng" else "right")
    messages = segments = 0
    total = 0.0
    priced = True
    for line in lines:
        messages += line.messages
        segments += line.segments
        if line.total is None:
            priced = False
        else:
            total += line.total
        table.add_row(
            line.carrier, _n(line.messages), _parts(line), _n(line.segments), _vnd(line.price), _vnd(line.total)
        )
    table.add_row("Tổng", _n(messages), "", _n(segments), "", _vnd(total if priced else None), style="bold")
    out.print(table)
    cost = f"; thành tiền {_vnd(total)}" if priced else ""
    out.print(f"Tổng: {_n(messages)} tin nhắn = {_n(segments)} phần SMS{cost}.")
