"""Compose: templates from ``templates/``, rendered in a sandbox, measured and priced before anything is sent.

A template is a Jinja2 file whose optional first block is a comment holding TOML metadata::

    {#
    title = "…"
    year = 2024
    source = "…"
    encoding = "auto"
    variables = []
    #}
    Toàn dân tích cực tham gia …

Rendering
    Templates render in a ``SandboxedEnvironment`` with ``StrictUndefined``: a missing variable is an
    error, never an empty string. Before a template is ever rendered its syntax tree is checked:
    attributes starting with ``_`` (``''.__class__.__mro__``, ``cycler.__init__.__globals__``),
    ``{% include %}``/``{% import %}``/``{% extends %}`` and the ``attr`` filter with such a name are
    refused with a ``TemplateError`` naming the line. What the static check cannot see (a name built
    at render time) the sandbox refuses at render time; string repetition and powers are bounded.

Context (``VARIABLES``)
    Per campaign: ``campaign``, ``province``, ``province_code``, ``department``, ``year``, ``theme``,
    ``hotline`` (111). Per district: ``district``, ``district_code``, ``police_phone`` (the local
    police contact from ``[province.police_phones]``, else 111). Per recipient (``RECIPIENT_FIELDS``):
    ``name``, ``commune``, ``recipient``. A template renders once per district, and once per
    recipient only when it uses a recipient field; the cost of a district's recipients is then
    its segment count times their number (``estimate_cost``).

Validation (``validate``, ``validate_campaign``)
    A list of ``Problem``, each a sentence in Vietnamese for the operator (what, where, what to do):
    syntax errors with their line, unknown variables, characters the encoding policy cannot send,
    messages longer than a route's part limit, brandnames over 11 characters. Operator-facing text of
    this module (``TemplateError``, ``PreviewError``, ``Problem``) is Vietnamese.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import meta as jinja_meta
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Engine, bindparam, text

from audiences import divisions
from broadcaster.config import Settings
from carriers import adapter_factory, sms
from carriers.base import Capabilities

TEMPLATE_SUFFIX = ".j2"
HOTLINE = "111"
MAX_BRANDNAME = 11
THEMES = {
    2024: "Không trẻ em nào bị bỏ lại phía sau trong cuộc chiến phòng, chống mua bán người",
    2025: "Mua bán người là tội phạm có tổ chức – Hãy chấm dứt sự bóc lột",
}

CAMPAIGN_VARIABLES: dict[str, str] = {
    "campaign": "tên chiến dịch",
    "province": "tên tỉnh, thành phố (ví dụ: Tỉnh Tây Ninh)",
    "province_code": "mã tỉnh theo danh mục thống kê (ví dụ: 72)",
    "department": "cơ quan gửi tin (mục [province] department trong broadcaster.toml)",
    "year": "năm gửi tin (ví dụ: 2024)",
    "theme": "chủ đề Ngày toàn dân phòng, chống mua bán người của năm gửi tin",
    "hotline": "Tổng đài quốc gia 111",
}
DISTRICT_VARIABLES: dict[str, str] = {
    "district": "tên huyện, quận, thị xã, thành phố (ví dụ: Huyện Tân Biên)",
    "district_code": "mã huyện (ví dụ: 705)",
    "police_phone": "số điện thoại Công an huyện (mục [province.police_phones]); chưa cấu hình thì là 111",
}
RECIPIENT_VARIABLES: dict[str, str] = {
    "name": "họ tên người nhận (cột họ tên của danh sách)",
    "commune": "xã, phường của người nhận",
    "recipient": "các cột khác của danh sách người nhận, ví dụ {{ recipient.chuc_vu }}",
}
VARIABLES: dict[str, str] = {**CAMPAIGN_VARIABLES, **DISTRICT_VARIABLES, **RECIPIENT_VARIABLES}
"""Every variable a template may use, with what it holds (shown to operators)."""

RECIPIENT_FIELDS = frozenset({"recipient", "name", "commune"})
"""Variables that change per recipient: a template using one renders once per message."""
DISTRICT_FIELDS = frozenset(DISTRICT_VARIABLES)
"""Variables that change per district: a template using one renders once per district."""
KNOWN_VARIABLES = frozenset(VARIABLES)

SAMPLE_RECIPIENT: dict[str, Any] = {
    "name": "Nguyễn Thị Phương Thảo",
    "commune": "Xã Thạnh Bình",
}
"""A long-ish recipient used to preview and validate per-recipient templates."""

_MAX_TEXT = 10_000
"""Longest string a template expression may build (``'a' * n``); an SMS is far shorter."""
_MAX_EXPONENT = 64
_META_KEYS = ("title", "year", "source", "encoding", "variables")
_ATTRIBUTE_FILTERS = frozenset(
    {"attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max", "dictsort"}
)
"""Filters that take an attribute name: one starting with ``_`` is refused before rendering."""
_REFUSED_TAGS: dict[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
}


class TemplateError(Exception):
    """A template that cannot be used; the message says where, what, and what to do.

    ``code`` is one of ``ProblemCode``; ``line`` the line of the template file, when known.
    """

    def __init__(self, message: str, *, code: str = "template", line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


class PreviewError(Exception):
    """A preview or an estimate that cannot be made (an unknown district, audience or policy)."""


class ProblemCode:
    """What kind of problem a ``Problem`` (or a ``TemplateError``) is."""

    METADATA = "metadata"
    SYNTAX = "syntax"
    UNSAFE = "unsafe"
    UNDEFINED = "undefined"
    RENDER = "render"
    POLICY = "policy"
    UNSENDABLE = "unsendable"
    TOO_LONG = "too_long"
    BRANDNAME = "brandname"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a template cannot be used for a campaign, worded for the operator."""

    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class TemplateMeta:
    title: str = ""
    year: int | None = None
    source: str = ""
    encoding: str = ""
    """The template's default encoding policy; empty: the configured ``[campaign] encoding``."""
    variables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    body: str
    meta: TemplateMeta = field(default_factory=TemplateMeta)
    first_line: int = 1
    """Line of the file where the body starts (after the metadata comment)."""

    @property
    def variables(self) -> frozenset[str]:
        """Every context variable the body refers to (Jinja's own globals, like ``range``, excluded)."""
        return _variables(self.body)

    @property
    def per_recipient(self) -> bool:
        return bool(self.variables & RECIPIENT_FIELDS)

    @property
    def per_district(self) -> bool:
        return bool(self.variables & DISTRICT_FIELDS)

    def file_line(self, body_line: int | None) -> int | None:
        """The line of the file for a line of the body."""
        return None if body_line is None else self.first_line + body_line - 1


@dataclass(frozen=True, slots=True)
class Rendered:
    district_code: str
    district: str
    text: str
    encoding: str
    characters: int
    segments: int
    folded: bool
    replaced: tuple[str, ...] = ()


# The sandbox ------------------------------------------------------------------------------------


class _MessageSandbox(SandboxedEnvironment):
    """The sandbox, with string repetition and powers bounded so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            msg = f"luỹ thừa quá lớn (số mũ {right})"
            raise SecurityError(msg)
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > _MAX_TEXT:
                    msg = f"phép nhân tạo ra chuỗi dài hơn {_MAX_TEXT} ký tự"
                    raise SecurityError(msg)
        return super().call_binop(context, operator, left, right)


@functools.cache
def _environment() -> _MessageSandbox:
    env = _MessageSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    for name in ("lipsum", "cycler", "joiner"):  # nothing an SMS needs; less to reach through
        env.globals.pop(name, None)
    return env


@functools.lru_cache(maxsize=256)
def _compiled(body: str) -> jinja2.Template:
    return _environment().from_string(body)


@functools.lru_cache(maxsize=256)
def _variables(body: str) -> frozenset[str]:
    env = _environment()
    return frozenset(jinja_meta.find_undeclared_variables(env.parse(body))) - set(env.globals)


def _check_safe(tree: nodes.Template, template: Template) -> None:
    """Refuse, before any rendering, what reaches outside the message: private attributes and other files."""
    private: dict[str, int] = {}
    for node in tree.find_all(nodes.Node):
        names: list[str] = []
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            names = [node.arg.value] if isinstance(node.arg.value, str) else []
        elif isinstance(node, nodes.Filter | nodes.Test) and node.name in _ATTRIBUTE_FILTERS:
            values = [*node.args, *(kw.value for kw in node.kwargs)]
            names = [v.value for v in values if isinstance(v, nodes.Const) and isinstance(v.value, str)]
        elif type(node) in _REFUSED_TAGS:
            tag = _REFUSED_TAGS[type(node)]
            line = template.file_line(node.lineno)
            msg = (
                f"{_where(template, line)}: mẫu tin nhắn không được dùng {tag} (đọc tệp khác); "
                "hãy chép thẳng nội dung cần gửi vào mẫu."
            )
            raise TemplateError(msg, code=ProblemCode.UNSAFE, line=line)
        for name in names:
            if name.startswith("_"):
                private.setdefault(name, node.lineno)
    if private:
        # find_all walks a chain from its last attribute: list them in the order they are written.
        first = min(private.values())
        line = template.file_line(first)
        written = ", ".join(f"'{n}'" for n, at in reversed(private.items()) if at == first)
        msg = (
            f"{_where(template, line)}: mẫu tin nhắn truy cập thuộc tính {written}; tên bắt đầu bằng '_' là "
            "phần bên trong của chương trình và không được phép. Hãy xoá phần này và chỉ dùng các biến có sẵn "
            f"({', '.join(VARIABLES)})."
        )
        raise TemplateError(msg, code=ProblemCode.UNSAFE, line=line)


# Templates --------------------------------------------------------------------------------------


def default_templates_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "templates"


def _split_metadata(path: Path, source: str) -> tuple[dict[str, Any], str, int]:
    """The metadata table, the body, and the line of the file where the body starts."""
    start = len(source) - len(source.lstrip())
    rest = start
    meta_data: dict[str, Any] = {}
    if source.startswith("{#", start):
        end = source.find("#}", start)
        if end == -1:
            msg = f"{path}: chú thích metadata mở bằng '{{#' ở đầu tệp nhưng không có '#}}' đóng lại; hãy thêm '#}}'"
            raise TemplateError(msg, code=ProblemCode.METADATA, line=source.count("\n", 0, start) + 1)
        header = source[start + 2 : end].strip("-").strip()
        try:
            meta_data = tomllib.loads(header)
        except tomllib.TOMLDecodeError as exc:
            msg = f'{path}: metadata ở đầu tệp không đúng cú pháp TOML ({exc}); ví dụ đúng: title = "…"'
            raise TemplateError(msg, code=ProblemCode.METADATA, line=1) from exc
        rest = end + 2
    tail = source[rest:]
    body_start = rest + len(tail) - len(tail.lstrip())
    return meta_data, tail.strip(), source.count("\n", 0, body_start) + 1


def _metadata(path: Path, name: str, data: Mapping[str, Any]) -> TemplateMeta:
    unknown = sorted(set(data) - set(_META_KEYS))
    if unknown:
        msg = f"{path}: metadata có khoá lạ '{unknown[0]}'; các khoá dùng được: {', '.join(_META_KEYS)}"
        raise TemplateError(msg, code=ProblemCode.METADATA, line=1)
    encoding = str(data.get("encoding", ""))
    if encoding and encoding not in sms.POLICIES:
        msg = f"{path}: metadata encoding = '{encoding}' không hợp lệ; hãy dùng một trong: {', '.join(sms.POLICIES)}"
        raise TemplateError(msg, code=ProblemCode.METADATA, line=1)
    variables = data.get("variables", [])
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        msg = f'{path}: metadata variables phải là danh sách tên biến, ví dụ variables = ["district"]'
        raise TemplateError(msg, code=ProblemCode.METADATA, line=1)
    try:
        year = int(data["year"]) if "year" in data else None
    except (TypeError, ValueError) as exc:
        msg = f"{path}: metadata year = {data['year']!r} không phải là một năm; ví dụ: year = 2024"
        raise TemplateError(msg, code=ProblemCode.METADATA, line=1) from exc
    return TemplateMeta(
        title=str(data.get("title", name)),
        year=year,
        source=str(data.get("source", "")),
        encoding=encoding,
        variables=tuple(variables),
    )


def parse_template(name: str, path: Path, source: str) -> Template:
    """Split the metadata comment from the body, check the body compiles and reaches nothing it must not."""
    meta_data, body, first_line = _split_metadata(path, source)
    template = Template(name=name, path=path, body=body, meta=_metadata(path, name, meta_data), first_line=first_line)
    check_syntax(template)
    return template


def check_syntax(template: Template) -> None:
    """A ``TemplateError`` naming the file line of a syntax error or of a refused construct."""
    try:
        tree = _environment().parse(template.body)
    except TemplateSyntaxError as exc:
        line = template.file_line(exc.lineno)
        msg = (
            f"{_where(template, line)}: lỗi cú pháp trong mẫu tin nhắn ({exc.message}); "
            "kiểm tra các cặp {{ }} và {% %} ở dòng này."
        )
        raise TemplateError(msg, code=ProblemCode.SYNTAX, line=line) from exc
    _check_safe(tree, template)


def load_template(ref: str, templates_dir: Path | None = None, *, allow_paths: bool = True) -> Template:
    """A template by name from ``templates/`` (``30-7/2024``) or, when ``allow_paths``, by file path."""
    root = (templates_dir or default_templates_dir()).resolve()
    candidates = [root / f"{ref}{TEMPLATE_SUFFIX}", root / ref]
    if allow_paths:
        candidates.append(Path(ref))
    for path in candidates:
        if not allow_paths and not path.resolve().is_relative_to(root):
            continue
        if path.is_file():
            name = ref.removesuffix(TEMPLATE_SUFFIX) if path != Path(ref) else path.stem
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"{path}: không đọc được tệp dưới dạng văn bản UTF-8 ({exc}); hãy lưu lại tệp với mã UTF-8"
                raise TemplateError(msg) from exc
            return parse_template(name, path, source)
    known = ", ".join(t.name for t in list_templates(root)) or "chưa có"
    msg = f"không có mẫu tin nhắn '{ref}': hãy dùng tên một mẫu trong {root} ({known}) hoặc đường dẫn tới tệp .j2"
    raise TemplateError(msg)


def list_templates(templates_dir: Path | None = None) -> list[Template]:
    root = templates_dir or default_templates_dir()
    templates = []
    for path in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}")):
        name = path.relative_to(root).with_suffix("").as_posix()
        templates.append(parse_template(name, path, path.read_text(encoding="utf-8")))
    return templates


def policy_for(template: Template, settings: Settings, requested: str | None = None) -> str:
    """The encoding policy: the one asked for, else the template's, else the configured default."""
    policy = requested or template.meta.encoding or settings.campaign.encoding
    if policy not in sms.POLICIES:
        msg = f"chính sách mã hoá '{policy}' không có; hãy chọn một trong: {', '.join(sms.POLICIES)}"
        raise PreviewError(msg)
    return policy


# Context ----------------------------------------------------------------------------------------


def base_context(
    *,
    campaign: str,
    province: str,
    province_code: str,
    department: str,
    year: int | None = None,
) -> dict[str, Any]:
    year = year or date.today().year
    return {
        "campaign": campaign,
        "province": province,
        "province_code": province_code,
        "department": department,
        "year": year,
        "theme": THEMES.get(year, THEMES[max(THEMES)]),
        "hotline": HOTLINE,
    }


def district_context(
    base: Mapping[str, Any], *, district_code: str, district: str, police_phone: str | None
) -> dict[str, Any]:
    context = dict(base)
    context.update(district_code=district_code, district=district, police_phone=police_phone or HOTLINE)
    return context


def recipient_context(
    district: Mapping[str, Any],
    *,
    name: str | None = None,
    commune: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A district's context plus one recipient's fields; a field the list lacks stays undefined."""
    context = dict(district)
    if name is not None:
        context["name"] = name
    if commune is not None:
        context["commune"] = commune
    context["recipient"] = dict(attributes or {})
    return context


def settings_contexts(
    settings: Settings,
    *,
    campaign: str = "",
    year: int | None = None,
    districts: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """One context per district: the given codes, else every district of the configured province."""
    reference = divisions.load()
    code = settings.province.code
    province = reference.province(code)
    base = base_context(
        campaign=campaign,
        province=province.name if province else code,
        province_code=code,
        department=settings.province.department,
        year=year,
    )
    if districts is None:
        chosen = list(reference.districts(code))
    else:
        chosen = []
        for district_code in districts:
            district = reference.district(district_code)
            if district is None:
                known = ", ".join(d.code for d in reference.districts(code))
                where = f" của {province.name}" if province else ""
                msg = f"không có huyện mã '{district_code}'; các mã huyện{where}: {known}"
                raise PreviewError(msg)
            chosen.append(district)
    return [
        district_context(
            base,
            district_code=d.code,
            district=d.name,
            police_phone=settings.province.police_phones.get(d.code),
        )
        for d in chosen
    ]


# Rendering --------------------------------------------------------------------------------------


def _runtime_line(template: Template, tb: TracebackType | None) -> int | None:
    """The body line a render error happened on (Jinja rewrites the traceback to point at the template)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return template.file_line(line)


def _where(template: Template, line: int | None) -> str:
    return f"{template.path}" if line is None else f"{template.path}, dòng {line}"


def render(template: Template, context: Mapping[str, Any]) -> str:
    """The template's text for ``context``, stripped; refusals and mistakes become ``TemplateError``."""
    try:
        return _compiled(template.body).render(context).strip()
    except SecurityError as exc:
        line = _runtime_line(template, exc.__traceback__)
        msg = (
            f"{_where(template, line)}: mẫu tin nhắn thực hiện thao tác không được phép ({exc}); "
            "hãy xoá phần này và chỉ dùng các biến có sẵn."
        )
        raise TemplateError(msg, code=ProblemCode.UNSAFE, line=line) from exc
    except jinja2.UndefinedError as exc:
        line = _runtime_line(template, exc.__traceback__)
        msg = (
            f"{_where(template, line)}: mẫu tin nhắn dùng một giá trị không có ({exc.message}); "
            f"các biến có sẵn: {', '.join(VARIABLES)}."
        )
        raise TemplateError(msg, code=ProblemCode.UNDEFINED, line=line) from exc
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        line = _runtime_line(template, exc.__traceback__)
        msg = f"{_where(template, line)}: không tạo được nội dung tin nhắn ({type(exc).__name__}: {exc})."
        raise TemplateError(msg, code=ProblemCode.RENDER, line=line) from exc


def _rendered(context: Mapping[str, Any], encoded: sms.Encoded) -> Rendered:
    return Rendered(
        district_code=str(context.get("district_code", "")),
        district=str(context.get("district", "")),
        text=encoded.text,
        encoding=encoded.measure.encoding,
        characters=encoded.measure.characters,
        segments=encoded.measure.segments,
        folded=encoded.folded,
        replaced=encoded.replaced,
    )


def measure(
    template: Template,
    context: Mapping[str, Any],
    policy: str,
    *,
    unicode_allowed: bool = True,
) -> Rendered:
    """Render for one district (or recipient) and apply the encoding policy: the text as it will be sent."""
    return _rendered(context, sms.apply_policy(render(template, context), policy, unicode_allowed=unicode_allowed))


class _SampleColumns(dict[str, str]):
    """The sample recipient's other columns: any column a template asks for, shown as ``[column]``."""

    def __missing__(self, key: str) -> str:
        return f"[{key}]"


def _sample(template: Template, context: Mapping[str, Any]) -> Mapping[str, Any]:
    """For a per-recipient template, the context completed with the sample recipient."""
    if not template.per_recipient:
        return context
    sample = recipient_context(context, name=SAMPLE_RECIPIENT["name"], commune=SAMPLE_RECIPIENT["commune"])
    sample["recipient"] = _SampleColumns()
    return sample


def preview(
    template: Template,
    contexts: Iterable[Mapping[str, Any]],
    policy: str,
    *,
    collapse: bool = False,
    unicode_allowed: bool = True,
) -> list[Rendered]:
    """Each context's text as it will be sent, one row per context (district).

    A per-recipient template is shown for ``SAMPLE_RECIPIENT``. With ``collapse`` a template that uses
    no district variable gives one row with an empty district (the preview of DESIGN §6).
    """
    rows = [measure(template, _sample(template, c), policy, unicode_allowed=unicode_allowed) for c in contexts]
    if collapse and rows and not template.per_district:
        first = rows[0]
        return [
            Rendered("", "", first.text, first.encoding, first.characters, first.segments, first.folded, first.replaced)
        ]
    return rows


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    """A template as the library lists it: parts with diacritics (UCS-2) and folded, over the districts."""

    name: str
    title: str
    year: int | None
    encoding: str
    """The policy a campaign gets by default (the template's, else the configured one)."""
    unicode_segments: tuple[int, int]
    folded_segments: tuple[int, int]
    """(fewest, most) parts across the districts."""
    variables: tuple[str, ...]


def summarize(template: Template, contexts: Sequence[Mapping[str, Any]], default_policy: str) -> TemplateSummary:
    """How long the template is, as written and folded, across ``contexts`` (one per district)."""
    chosen = contexts if template.per_district else contexts[:1]
    texts = [render(template, _sample(template, c)) for c in chosen or [{}]]
    unicode = [sms.apply_policy(t, sms.UNICODE).measure.segments for t in texts]
    folded = [sms.apply_policy(t, sms.ASCII).measure.segments for t in texts]
    return TemplateSummary(
        name=template.name,
        title=template.meta.title,
        year=template.meta.year,
        encoding=template.meta.encoding or default_policy,
        unicode_segments=(min(unicode), max(unicode)),
        folded_segments=(min(folded), max(folded)),
        variables=tuple(sorted(template.variables)),
    )


def render_recipients(
    template: Template,
    district: Mapping[str, Any],
    recipients: Iterable[Mapping[str, Any]],
    policy: str,
    *,
    unicode_allowed: bool = True,
) -> Iterator[Rendered]:
    """One ``Rendered`` per recipient (a mapping of recipient fields) of a per-recipient template.

    A template without recipient fields is refused: render it once per district (``measure``) and
    multiply (``estimate_cost``), which costs nothing per recipient.
    """
    if not template.per_recipient:
        msg = f"{template.path}: mẫu không dùng trường của người nhận; hãy tạo nội dung một lần cho mỗi huyện"
        raise TemplateError(msg)
    compiled = _compiled(template.body)
    base = dict(district)
    code, name = str(base.get("district_code", "")), str(base.get("district", ""))
    for recipient in recipients:
        context = {**base, **recipient}
        try:
            body = compiled.render(context).strip()
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError):
            render(template, context)  # raises the worded TemplateError
            raise
        encoded = sms.apply_policy(body, policy, unicode_allowed=unicode_allowed)
        m = encoded.measure
        yield Rendered(code, name, encoded.text, m.encoding, m.characters, m.segments, encoded.folded, encoded.replaced)


# Routes, validation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """What a route accepts: at most ``max_parts`` parts, UCS-2 or only GSM-7."""

    route: str
    carrier: str
    max_parts: int
    unicode: bool = True


def _capabilities(factory: Callable[..., Any]) -> Capabilities:
    """The capabilities an adapter declares on its class, read without connecting to anything.

    Adapters that set them per instance (from their options) fall back to the contract's defaults;
    a route's ``max_parts`` option, when present (SMPP has one), is the route's part limit.
    """
    for candidate in (factory, getattr(factory, "__self__", None)):
        capabilities = getattr(candidate, "capabilities", None)
        if isinstance(capabilities, Capabilities):
            return capabilities
    return Capabilities()


def route_limits(settings: Settings, carriers: Iterable[str] | None = None) -> list[RouteLimit]:
    """The part limit and UCS-2 support of every route of the given carriers (all when ``None``)."""
    wanted = set(settings.routes) if carriers is None else set(carriers)
    limits = []
    for carrier, routes in settings.routes.items():
        if carrier not in wanted:
            continue
        for route in routes:
            capabilities = _capabilities(adapter_factory(route.adapter))
            max_parts = route.options.get("max_parts", capabilities.max_parts)
            if not isinstance(max_parts, int) or isinstance(max_parts, bool) or max_parts < 1:
                msg = f"tuyến '{route.name}': tuỳ chọn max_parts = {max_parts!r} không phải số phần (từ 1 trở lên)"
                raise PreviewError(msg)
            limits.append(RouteLimit(route.name, carrier, max_parts, capabilities.unicode))
    return limits


def _max_units(encoding: str, parts: int) -> int:
    if encoding == sms.GSM7:
        return sms.GSM7_SINGLE if parts == 1 else sms.GSM7_PART * parts
    return sms.UCS2_SINGLE if parts == 1 else sms.UCS2_PART * parts


def _encoding_label(encoding: str) -> str:
    return "GSM-7, không dấu" if encoding == sms.GSM7 else "UCS-2, có dấu"


def _char_list(chars: Iterable[str]) -> str:
    return ", ".join(f"'{c}' (U+{ord(c):04X})" for c in chars)


def _undefined_problems(template: Template) -> list[Problem]:
    unknown = sorted(template.variables - KNOWN_VARIABLES)
    if not unknown:
        return []
    tree = _environment().parse(template.body)
    problems = []
    for name in unknown:
        body_line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        line = template.file_line(body_line)
        close = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1)
        hint = f" Có phải ý bạn là {{{{ {close[0]} }}}}?" if close else ""
        message = (
            f"{_where(template, line)}: mẫu dùng biến {{{{ {name} }}}} nhưng không có biến này.{hint} "
            f"Các biến dùng được: {', '.join(VARIABLES)}."
        )
        problems.append(Problem(ProblemCode.UNDEFINED, message, line))
    return problems


def _brandname_problems(sender: str) -> list[Problem]:
    if not sender:
        message = "Chưa có tên định danh (brandname); hãy dùng tên đã đăng ký với nhà mạng, tối đa 11 ký tự."
        return [Problem(ProblemCode.BRANDNAME, message)]
    if len(sender) > MAX_BRANDNAME:
        message = (
            f"Tên định danh (brandname) '{sender}' dài {len(sender)} ký tự, nhà mạng chỉ nhận tối đa {MAX_BRANDNAME}. "
            f"Hãy dùng tên đã đăng ký, bớt {len(sender) - MAX_BRANDNAME} ký tự."
        )
        return [Problem(ProblemCode.BRANDNAME, message)]
    if not (sender.isascii() and sender.isprintable()):
        message = f"Tên định danh (brandname) '{sender}' có ký tự có dấu hoặc ký tự đặc biệt; hãy viết không dấu."
        return [Problem(ProblemCode.BRANDNAME, message)]
    return []


def _length_problem(
    template: Template, policy: str, longest: Rendered, routes: Sequence[str], cap: int, unicode_allowed: bool
) -> Problem:
    limit = _max_units(longest.encoding, cap)
    units = sms.measure(longest.text).units
    where = f" cho {longest.district}" if template.per_district and longest.district else ""
    if routes:
        whose = f"của tuyến {routes[0]}" if len(routes) == 1 else f"của các tuyến {', '.join(routes)}"
    else:
        whose = "đã đặt"
    message = (
        f"Tin nhắn{where} dài {longest.segments} phần SMS ({_encoding_label(longest.encoding)}, "
        f"{longest.characters} ký tự), vượt giới hạn {cap} phần {whose}. "
        f"Hãy rút gọn còn tối đa {limit} ký tự (bớt {units - limit})"
    )
    if longest.encoding == sms.UCS2 and policy != sms.ASCII:
        folded = sms.apply_policy(longest.text, sms.ASCII, unicode_allowed=unicode_allowed)
        if folded.measure.segments <= cap and not folded.replaced:
            message += f", hoặc gửi không dấu (chính sách 'ascii'): khi đó tin dài {folded.measure.segments} phần"
    return Problem(ProblemCode.TOO_LONG, message + ".")


def validate(
    template: Template | str,
    *,
    policy: str,
    contexts: Sequence[Mapping[str, Any]],
    limits: Sequence[RouteLimit] = (),
    max_parts: int | None = None,
    sender: str | None = None,
) -> list[Problem]:
    """Everything that would make the campaign fail or cost more than allowed, as operator sentences.

    ``template`` is a parsed template or the source of one (its syntax problems are then reported
    too). Each context (one per district) is rendered once, as the planner will, and measured under
    ``policy`` on every route in ``limits``; ``max_parts`` adds a limit of its own. ``sender``, when
    given, is checked as a brandname. An empty list means the template can be used.
    """
    problems: list[Problem] = []
    if sender is not None:
        problems.extend(_brandname_problems(sender))
    if policy not in sms.POLICIES:
        message = f"Chính sách mã hoá '{policy}' không có; hãy chọn một trong: {', '.join(sms.POLICIES)}."
        return [*problems, Problem(ProblemCode.POLICY, message)]
    if isinstance(template, str):
        try:
            template = parse_template("", Path("<mẫu>"), template)
        except TemplateError as exc:
            return [*problems, Problem(exc.code, str(exc), exc.line)]
    undefined = _undefined_problems(template)
    if undefined:
        return problems + undefined
    texts: list[tuple[Mapping[str, Any], str]] = []
    for context in contexts or [{}]:
        sample = _sample(template, context)
        try:
            texts.append((sample, render(template, sample)))
        except TemplateError as exc:
            return [*problems, Problem(exc.code, str(exc), exc.line)]
    if not template.per_district:
        texts = texts[:1]
    groups: dict[tuple[int, bool], list[str]] = {}
    for limit in limits:
        groups.setdefault((limit.max_parts, limit.unicode), []).append(limit.route)
    if max_parts is not None:
        groups.setdefault((max_parts, True), [])
    flags = sorted({unicode for _, unicode in groups} or {True}, reverse=True)
    for unicode_allowed in flags:
        measured = [
            _rendered(context, sms.apply_policy(body, policy, unicode_allowed=unicode_allowed))
            for context, body in texts
        ]
        bad = dict.fromkeys(
            c for _, body in texts for c in sms.unsendable(body, policy, unicode_allowed=unicode_allowed)
        )
        if bad:
            on_routes = [r for (_, u), routes in groups.items() if u == unicode_allowed for r in routes]
            if unicode_allowed:
                why = f"với chính sách mã hoá '{policy}'"
                fix = "Hãy bỏ hoặc thay các ký tự này"
                if policy != sms.UNICODE:
                    fix += ", hoặc chọn chính sách 'unicode'"
            else:
                why = f"trên tuyến {', '.join(on_routes)} (tuyến không nhận tin có dấu)"
                fix = "Hãy bỏ hoặc thay các ký tự này"
            message = f"Mẫu có ký tự không gửi được {why}, sẽ thành '?': {_char_list(bad)}. {fix}."
            problems.append(Problem(ProblemCode.UNSENDABLE, message))
        longest = max(measured, key=lambda r: r.segments)
        for (cap, unicode), routes in sorted(groups.items()):
            if unicode == unicode_allowed and longest.segments > cap:
                problems.append(_length_problem(template, policy, longest, routes, cap, unicode_allowed))
    return problems


def validate_campaign(
    template: Template | str,
    settings: Settings,
    *,
    policy: str | None = None,
    sender: str | None = None,
    districts: Iterable[str] | None = None,
    carriers: Iterable[str] | None = None,
    max_parts: int | None = None,
    campaign: str = "",
    year: int | None = None,
) -> list[Problem]:
    """``validate`` with the configuration: the province's districts, the carriers' routes, the defaults."""
    if isinstance(template, str):
        try:
            template = parse_template("", Path("<mẫu>"), template)
        except TemplateError as exc:
            return [Problem(exc.code, str(exc), exc.line)]
    chosen = policy or template.meta.encoding or settings.campaign.encoding
    try:
        contexts = settings_contexts(settings, campaign=campaign, year=year, districts=districts)
    except PreviewError as exc:
        return [Problem(ProblemCode.RENDER, str(exc))]
    return validate(
        template,
        policy=chosen,
        contexts=contexts,
        limits=route_limits(settings, carriers),
        max_parts=max_parts,
        sender=settings.campaign.sender if sender is None else sender,
    )


# Costs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    """What one carrier's share costs: messages (one per recipient) and the parts they are billed as."""

    carrier: str
    messages: int
    segments: int
    """Parts billed for all the messages."""
    min_segments: int
    max_segments: int
    """Parts per message (they differ when the text differs by district)."""
    price: float | None
    """VND per part (``[prices]``), ``None`` when not configured."""

    @property
    def total(self) -> float | None:
        return None if self.price is None else self.segments * self.price

    @property
    def price_per_message(self) -> float | None:
        """Price of the longest message."""
        return None if self.price is None else self.max_segments * self.price


def carrier_unicode(settings: Settings) -> dict[str, bool]:
    """Whether each carrier's first route carries UCS-2 (a route that does not forces folding)."""
    limits = route_limits(settings)
    first: dict[str, bool] = {}
    for limit in limits:
        first.setdefault(limit.carrier, limit.unicode)
    return first


def estimate_cost(
    template: Template,
    contexts: Sequence[Mapping[str, Any]],
    policy: str,
    counts: Mapping[tuple[str, str], int] | None,
    prices: Mapping[str, float],
    *,
    unicode_by_carrier: Mapping[str, bool] | None = None,
) -> list[CostLine]:
    """The cost per carrier: each district renders once, and its recipients cost its parts times their number.

    ``counts`` maps (district code, carrier) to recipients; ``None`` prices one message per carrier
    (the longest of the districts). A district of ``counts`` without a context is an error.
    """
    unicode_by_carrier = unicode_by_carrier or {}
    by_code = {str(c.get("district_code", "")): c for c in contexts}
    cache: dict[tuple[str, bool], int] = {}

    def segments(code: str, carrier: str) -> int:
        flag = unicode_by_carrier.get(carrier, True)
        key = (code if template.per_district else "", flag)
        if key not in cache:
            context = by_code.get(code) if template.per_district else next(iter(by_code.values()), {})
            if context is None:
                msg = f"không có nội dung cho huyện mã '{code}'"
                raise PreviewError(msg)
            cache[key] = measure(template, _sample(template, context), policy, unicode_allowed=flag).segments
        return cache[key]

    lines = []
    if counts is None:
        carriers = sorted(set(prices) | set(unicode_by_carrier))
        for carrier in carriers:
            each = [segments(code, carrier) for code in by_code] or [segments("", carrier)]
            lines.append(CostLine(carrier, 1, max(each), min(each), max(each), prices.get(carrier)))
        return lines
    for carrier in sorted({carrier for _, carrier in counts}):
        cells = [(code, n) for (code, c), n in counts.items() if c == carrier and n]
        if not cells:
            continue
        per = {code: segments(code, carrier) for code, _ in cells}
        lines.append(
            CostLine(
                carrier,
                messages=sum(n for _, n in cells),
                segments=sum(per[code] * n for code, n in cells),
                min_segments=min(per.values()),
                max_segments=max(per.values()),
                price=prices.get(carrier),
            )
        )
    return lines


_AUDIENCE_COUNTS = text(
    """
SELECT s.district_code, s.carrier, COUNT(DISTINCT s.msisdn)
FROM subscriber s
JOIN audience a ON a.id = s.audience_id
LEFT JOIN optout o ON o.msisdn = s.msisdn
WHERE a.name IN :names AND o.msisdn IS NULL
GROUP BY s.district_code, s.carrier
"""
).bindparams(bindparam("names", expanding=True))
_AUDIENCE_NAMES = text("SELECT name FROM audience WHERE name IN :names").bindparams(bindparam("names", expanding=True))


def audience_counts(engine: Engine, audiences: Sequence[str]) -> dict[tuple[str, str], int]:
    """Recipients per (district code, carrier) of the named audiences, opted-out numbers excluded."""
    with engine.connect() as conn:
        found = {row[0] for row in conn.execute(_AUDIENCE_NAMES, {"names": list(audiences)})}
        missing = [name for name in audiences if name not in found]
        if missing:
            msg = (
                f"không có danh sách người nhận tên '{missing[0]}'; "
                "hãy nhập danh sách trước bằng 'broadcaster audience import'"
            )
            raise PreviewError(msg)
        rows = conn.execute(_AUDIENCE_COUNTS, {"names": list(audiences)}).all()
    return {(str(code), str(carrier)): int(n) for code, carrier, n in rows}


__all__ = [
    "CAMPAIGN_VARIABLES",
    "DISTRICT_FIELDS",
    "DISTRICT_VARIABLES",
    "HOTLINE",
    "KNOWN_VARIABLES",
    "MAX_BRANDNAME",
    "RECIPIENT_FIELDS",
    "RECIPIENT_VARIABLES",
    "SAMPLE_RECIPIENT",
    "TEMPLATE_SUFFIX",
    "THEMES",
    "VARIABLES",
    "CostLine",
    "PreviewError",
    "Problem",
    "ProblemCode",
    "Rendered",
    "RouteLimit",
    "Template",
    "TemplateError",
    "TemplateMeta",
    "TemplateSummary",
    "audience_counts",
    "base_context",
    "carrier_unicode",
    "check_syntax",
    "default_templates_dir",
    "district_context",
    "estimate_cost",
    "list_templates",
    "load_template",
    "measure",
    "parse_template",
    "policy_for",
    "preview",
    "recipient_context",
    "render",
    "render_recipients",
    "route_limits",
    "settings_contexts",
    "summarize",
    "validate",
    "validate_campaign",
]
