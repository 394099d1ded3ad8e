"""/api/v1/templates: the message templates of the templates folder, previews and cost estimates.

Over HTTP a template is a name from the templates folder, never a file path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import Engine

from broadcaster import compose
from broadcaster.api.deps import EngineDep, SettingsDep, Viewer
from broadcaster.api.errors import responses
from broadcaster.api.schemas import (
    Code,
    CostLineOut,
    Encoding,
    Name,
    PreviewOut,
    PreviewRowOut,
    TemplateDetail,
    TemplateOut,
)
from broadcaster.config import Settings

router = APIRouter(prefix="/templates", tags=["templates"])


def load_named(settings: Settings, name: str) -> compose.Template:
    """A template of the templates folder by name (a path, or a name leaving the folder, is refused)."""
    return compose.load_template(name, settings.templates_dir, allow_paths=False)


def template_out(settings: Settings, template: compose.Template) -> TemplateOut:
    summary = compose.summarize(template, compose.settings_contexts(settings), settings.campaign.encoding)
    return TemplateOut(
        name=template.name,
        title=template.meta.title,
        year=template.meta.year,
        source=template.meta.source,
        encoding=summary.encoding,
        variables=list(summary.variables),
        per_district=template.per_district,
        per_recipient=template.per_recipient,
        segments_ucs2=summary.unicode_segments[1],
        segments_folded=summary.folded_segments[1],
    )


def preview(
    engine: Engine,
    settings: Settings,
    template: compose.Template,
    *,
    districts: Sequence[str] | None = None,
    encoding: str | None = None,
    audiences: Sequence[str] | None = None,
    campaign: str = "",
) -> PreviewOut:
    """Each district's text as sent, and the cost per carrier (for the audiences' recipients if named)."""
    policy = compose.policy_for(template, settings, encoding)
    contexts = compose.settings_contexts(settings, campaign=campaign, year=template.meta.year, districts=districts)
    rows = compose.preview(template, contexts, policy, collapse=True)
    counts = compose.audience_counts(engine, audiences) if audiences else None
    if counts is not None:
        if districts:
            counts = {key: n for key, n in counts.items() if key[0] in set(districts)}
        else:
            known = {str(c["district_code"]) for c in contexts}
            counts = {key: n for key, n in counts.items() if key[0] in known}
    costs = compose.estimate_cost(
        template, contexts, policy, counts, settings.prices, unicode_by_carrier=compose.carrier_unicode(settings)
    )
    return PreviewOut(
        template=template.name,
        policy=policy,
        rows=[
            PreviewRowOut(
                district_code=r.district_code,
                district=r.district,
                text=r.text,
                encoding=r.encoding,
                characters=r.characters,
                segments=r.segments,
                folded=r.folded,
                replaced=list(r.replaced),
            )
            for r in rows
        ],
        costs=[
            CostLineOut(
                carrier=c.carrier,
                messages=c.messages,
                segments=c.segments,
                min_segments=c.min_segments,
                max_segments=c.max_segments,
                price=c.price,
                total=c.total,
                price_per_message=c.price_per_message,
            )
            for c in costs
        ],
    )


@router.get("", response_model=list[TemplateOut], responses=responses(401, 403), summary="List templates")
def list_templates(user: Viewer, settings: SettingsDep) -> list[TemplateOut]:
    return [template_out(settings, t) for t in compose.list_templates(settings.templates_dir)]


@router.get(
    "/preview",
    response_model=PreviewOut,
    responses=responses(401, 403, 422),
    summary="Preview a template per district (text, encoding, characters, SMS parts) and its cost per carrier",
)
def preview_template(
    user: Viewer,
    engine: EngineDep,
    settings: SettingsDep,
    template: Annotated[Name, Query(description="Template name.", examples=["30-7/2024"])],
    district: Annotated[
        list[Code] | None, Query(max_length=1000, description="Only these districts (default: all of the province).")
    ] = None,
    encoding: Annotated[Encoding | None, Query(description="Encoding policy (default: the template's).")] = None,
    audience: Annotated[
        list[Name] | None, Query(max_length=50, description="Price the recipients of these audiences.")
    ] = None,
    campaign: Annotated[str, Query(max_length=200, description="Campaign name for {{ campaign }}.")] = "",
) -> PreviewOut:
    found = load_named(settings, template)
    return preview(
        engine, settings, found, districts=district, encoding=encoding, audiences=audience, campaign=campaign
    )


@router.get(
    "/{name:path}",
    response_model=TemplateDetail,
    responses=responses(401, 403, 404),
    summary="A template with its body",
)
def show_template(name: str, user: Viewer, settings: SettingsDep) -> TemplateDetail:
    known = {t.name: t for t in compose.list_templates(settings.templates_dir)}
    if name not in known:
        detail = f"no template named {name!r}; GET /api/v1/templates lists them ({', '.join(sorted(known))})"
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail)
    found = known[name]
    return TemplateDetail(**template_out(settings, found).model_dump(), body=found.body)
