"""/api/v1/reports: the compliance report of a campaign (or one of its runs) in every format of
``broadcaster.reports``."""

from __future__ import annotations

import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from audiences import divisions
from broadcaster import reports
from broadcaster.api.deps import EngineDep, SettingsDep, Viewer
from broadcaster.api.errors import responses
from broadcaster.api.routes._common import MAX_ID, CampaignId
from broadcaster.api.schemas import ReportOut
from broadcaster.config import Settings
from broadcaster.models import utcnow

router = APIRouter(prefix="/reports", tags=["reports"])

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

FORMATS: tuple[str, ...] = reports.FORMATS
ReportFormat = Enum("ReportFormat", {fmt.upper(): fmt for fmt in FORMATS}, type=str)  # type: ignore[misc]


def build(engine: Any, settings: Settings, campaign_id: int, run: int | None) -> reports.Report:
    return reports.build(
        engine, campaign_id, run, now=utcnow(), timezone=settings.campaign.timezone, prices=settings.prices
    )


def render(engine: Any, settings: Settings, campaign_id: int, run: int | None, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of the report in ``fmt``: written by ``reports.write``, read back."""
    built = build(engine, settings, campaign_id, run)
    province = divisions.load().province(settings.province.code)
    name = f"bao-cao-chien-dich-{campaign_id}{f'-dot-{run}' if run else ''}.{fmt}"
    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        path = reports.write(
            built,
            fmt,
            Path(folder) / name,
            province=province.name if province else settings.province.code,
            department=settings.province.department,
        )
        return path.read_bytes(), MEDIA_TYPES.get(fmt, "application/octet-stream"), name


@router.get(
    "/{campaign_id}",
    response_model=ReportOut,
    responses=responses(
        401,
        403,
        404,
        ok={
            "description": "The report: JSON, or a file in the format asked for.",
            "content": {MEDIA_TYPES.get(f, "application/octet-stream"): {} for f in FORMATS if f != "json"},
        },
    ),
    summary="The compliance report of a campaign (all its runs, or one)",
    description="Formats: " + ", ".join(FORMATS) + ". Totals reconcile: targeted = delivered + failed + "
    "expired + skipped + cancelled + pending.",
)
def campaign_report(
    campaign_id: CampaignId,
    user: Viewer,
    engine: EngineDep,
    settings: SettingsDep,
    fmt: Annotated[ReportFormat, Query(alias="format", description="Report format.")] = ReportFormat("json"),  # noqa: B008
    run: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this run of the campaign.")] = None,
) -> Response:
    if fmt.value == "json":
        built = build(engine, settings, campaign_id, run)
        return JSONResponse(ReportOut.model_validate(built.as_json()).model_dump(mode="json"))
    content, media_type, name = render(engine, settings, campaign_id, run, fmt.value)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
