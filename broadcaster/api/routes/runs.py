"""/api/v1/runs: the firings of campaigns and their live progress per district and carrier."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from broadcaster.api import queries
from broadcaster.api.deps import EngineDep, Viewer
from broadcaster.api.errors import responses
from broadcaster.api.routes._common import MAX_ID, Limit, Offset, RunId, not_found
from broadcaster.api.schemas import ProgressRowOut, RunOut, RunPage, RunProgressOut
from broadcaster.models import RunStatus

router = APIRouter(prefix="/runs", tags=["runs"])

RUN_STATUSES = (
    RunStatus.PLANNING,
    RunStatus.SENDING,
    RunStatus.PAUSED,
    RunStatus.COMPLETED,
    RunStatus.CANCELLED,
    RunStatus.MISSED,
)


def row_out(row: queries.ProgressRow) -> ProgressRowOut:
    return ProgressRowOut(
        district_code=row.district_code,
        district=row.district,
        carrier=row.carrier,
        counts=row.counts,
        targeted=row.targeted,
        done=row.done,
    )


def progress_out(progress: queries.RunProgress) -> RunProgressOut:
    return RunProgressOut(
        run=RunOut.model_validate(progress.run),
        campaign_name=progress.campaign_name,
        targeted=progress.targeted,
        done=progress.done,
        totals=progress.totals,
        districts=[row_out(r) for r in progress.districts],
        rows=[row_out(r) for r in progress.rows],
    )


@router.get("", response_model=RunPage, responses=responses(401, 403, 422), summary="List runs, newest first")
def list_runs(
    user: Viewer,
    engine: EngineDep,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(" + "|".join(RUN_STATUSES) + ")$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    total, items = queries.runs(
        engine, campaign_id=campaign_id, statuses=(status_,) if status_ else None, limit=limit, offset=offset
    )
    return RunPage(total=total, items=[RunOut.model_validate(r) for r in items])


@router.get(
    "/{run_id}",
    response_model=RunProgressOut,
    responses=responses(401, 403, 404),
    summary="Live progress of a run: messages by status, per district and per district × carrier",
)
def run_progress(run_id: RunId, user: Viewer, engine: EngineDep) -> RunProgressOut:
    progress = queries.run_progress(engine, run_id)
    if progress is None:
        raise not_found("run", run_id, "GET /api/v1/runs lists them")
    return progress_out(progress)
