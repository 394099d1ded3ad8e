"""Compose: templates from ``templates/``, rendered in a sandbox, measured before anything is sent.

A template is a Jinja2 file whose optional first block is a comment holding TOML metadata::

    {#
    title = "…"
    year = 2024
    source = "…"
    encoding = "auto"
    variables = []
    #}
    Toàn dân tích cực tham gia …

Templates render in a ``SandboxedEnvironment`` with ``StrictUndefined``: a missing variable is an
error, never an empty string, and attribute tricks (``''.__class__.__mro__``) are refused. The render
context is per district; a template that uses recipient fields renders per recipient.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from carriers import sms

TEMPLATE_SUFFIX = ".j2"
HOTLINE = "111"
THEMES = {
    2024: "Không trẻ em nào bị bỏ lại phía sau trong cuộc chiến phòng, chống mua bán người",
    2025: "Mua bán người là tội phạm có tổ chức – Hãy chấm dứt sự bóc lột",
}
RECIPIENT_FIELDS = frozenset({"recipient", "name", "commune"})
"""Variables that change per recipient: a template using one renders once per message."""


class TemplateError(Exception):
    """A template that cannot be used; the message says where and what to do."""


@dataclass(frozen=True, slots=True)
class TemplateMeta:
    title: str = ""
    year: int | None = None
    source: str = ""
    encoding: str = "auto"
    variables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    body: str
    meta: TemplateMeta = field(default_factory=TemplateMeta)

    @property
    def variables(self) -> frozenset[str]:
        """Every variable the body refers to."""
        return frozenset(meta.find_undeclared_variables(_environment().parse(self.body)))

    @property
    def per_recipient(self) -> bool:
        return bool(self.variables & RECIPIENT_FIELDS)


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


def default_templates_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "templates"


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def parse_template(name: str, path: Path, source: str) -> Template:
    """Split the metadata comment from the body and check the body compiles."""
    body, meta_data = source, {}
    stripped = source.lstrip()
    if stripped.startswith("{#"):
        end = stripped.find("#}")
        if end == -1:
            msg = f"{path}: the metadata comment opened with '{{#' is never closed with '#}}'"
            raise TemplateError(msg)
        header = stripped[2:end].strip("-").strip()
        body = stripped[end + 2 :]
        try:
            meta_data = tomllib.loads(header)
        except tomllib.TOMLDecodeError as exc:
            msg = f"{path}: the metadata at the top is not valid TOML ({exc})"
            raise TemplateError(msg) from exc
    body = body.strip()
    try:
        template_meta = TemplateMeta(
            title=str(meta_data.get("title", name)),
            year=int(meta_data["year"]) if "year" in meta_data else None,
            source=str(meta_data.get("source", "")),
            encoding=str(meta_data.get("encoding", "auto")),
            variables=tuple(meta_data.get("variables", ())),
        )
    except (TypeError, ValueError) as exc:
        msg = f"{path}: the metadata at the top has a wrong value ({exc})"
        raise TemplateError(msg) from exc
    template = Template(name=name, path=path, body=body, meta=template_meta)
    check_syntax(template)
    return template


def check_syntax(template: Template) -> None:
    try:
        _environment().parse(template.body)
    except TemplateSyntaxError as exc:
        msg = f"{template.path}: template error on line {exc.lineno} of the message: {exc.message}"
        raise TemplateError(msg) from exc


def load_template(ref: str, templates_dir: Path | None = None) -> Template:
    """A template by name from ``templates/`` (``30-7/2024``) or by file path."""
    root = templates_dir or default_templates_dir()
    candidates = [root / f"{ref}{TEMPLATE_SUFFIX}", root / ref, Path(ref)]
    for path in candidates:
        if path.is_file():
            name = ref.removesuffix(TEMPLATE_SUFFIX) if path != Path(ref) else path.stem
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"{path}: cannot be read as UTF-8 text ({exc})"
                raise TemplateError(msg) from exc
            return parse_template(name, path, source)
    known = ", ".join(t.name for t in list_templates(root)) or "none"
    msg = f"no template {ref!r}: give a name from {root} ({known}) or the path of a .j2 file"
    raise TemplateError(msg)


def list_templates(templates_dir: Path | None = None) -> list[Template]:
    root = templates_dir or default_templates_dir()
    templates = []
    for path in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}")):
        name = path.relative_to(root).with_suffix("").as_posix()
        templates.append(parse_template(name, path, path.read_text(encoding="utf-8")))
    return templates


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


def render(template: Template, context: Mapping[str, Any]) -> str:
    try:
        return _environment().from_string(template.body).render(context).strip()
    except UndefinedError as exc:
        msg = f"{template.path}: the message uses a variable that is not available: {exc.message}"
        raise TemplateError(msg) from exc
    except SecurityError as exc:
        msg = f"{template.path}: the message tries something templates may not do ({exc}); remove it"
        raise TemplateError(msg) from exc


def measure(
    template: Template,
    context: Mapping[str, Any],
    policy: str,
    *,
    unicode_allowed: bool = True,
) -> Rendered:
    """Render for one district and apply the encoding policy: the text as it will be sent."""
    encoded = sms.apply_policy(render(template, context), policy, unicode_allowed=unicode_allowed)
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


def preview(
    template: Template,
    contexts: Iterable[Mapping[str, Any]],
    policy: str,
) -> list[Rendered]:
    return [measure(template, context, policy) for context in contexts]
