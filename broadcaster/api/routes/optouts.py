"""/api/v1/optouts: numbers that must never be messaged."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from audiences.phones import mask
from broadcaster import optouts
from broadcaster.api import audit, queries
from broadcaster.api.deps import EngineDep, Operator, Viewer
from broadcaster.api.errors import responses
from broadcaster.api.jobs import safe_filename
from broadcaster.api.routes._common import Limit, Offset
from broadcaster.api.schemas import OptOutAdd, OptOutOut, OptOutPage, OptOutRejected, OptOutResult

router = APIRouter(prefix="/optouts", tags=["opt-outs"])


def _result(summary: optouts.OptOutSummary) -> OptOutResult:
    return OptOutResult(
        rows=summary.rows,
        added=summary.added,
        already=summary.already,
        rejected=[OptOutRejected(row=row, value=value, reason=reason) for row, value, reason in summary.rejected],
    )


@router.get("", response_model=OptOutPage, responses=responses(401, 403), summary="Opted-out numbers (masked)")
def list_optouts(user: Viewer, engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> OptOutPage:
    total, items = queries.optouts(engine, limit=limit, offset=offset)
    return OptOutPage(
        total=total, items=[OptOutOut(msisdn=mask(o.msisdn), since=o.since, source=o.source) for o in items]
    )


@router.post("", response_model=OptOutResult, responses=responses(401, 403, 422), summary="Opt numbers out")
def add_optouts(body: OptOutAdd, user: Operator, engine: EngineDep) -> OptOutResult:
    summary = optouts.add(engine, enumerate(body.msisdns, start=1), f"api:{user.name}")
    audit.write(engine, user.name, "optout.add", "optout", "-", after={"added": summary.added, "rows": summary.rows})
    return _result(summary)


@router.post(
    "/import",
    response_model=OptOutResult,
    responses=responses(401, 403, 422),
    summary="Opt out every number of a CSV or XLSX file",
)
def import_optouts(
    user: Operator,
    engine: EngineDep,
    file: Annotated[UploadFile, File(description="A CSV or XLSX file with a column of phone numbers.")],
) -> OptOutResult:
    with tempfile.TemporaryDirectory(prefix="optouts-") as folder:
        path = Path(folder) / safe_filename(file.filename)
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target)
        summary = optouts.import_file(engine, path)
    audit.write(
        engine,
        user.name,
        "optout.import",
        "optout",
        "-",
        after={"file": path.name, "added": summary.added, "rows": summary.rows},
    )
    return _result(summary)
