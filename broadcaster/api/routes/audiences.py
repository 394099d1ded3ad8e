"""/api/v1/audiences: subscriber lists, imports with progress, rejected rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from fastapi.responses import FileResponse

from broadcaster.api import queries
from broadcaster.api.deps import EngineDep, ImportsDep, Operator, SettingsDep, Viewer
from broadcaster.api.errors import responses
from broadcaster.api.jobs import ImportJob
from broadcaster.api.routes._common import AudienceId, not_found
from broadcaster.api.schemas import AudienceDetail, AudienceOut, ImportJobOut, ImportSummaryOut

router = APIRouter(prefix="/audiences", tags=["audiences"])


def job_out(request: Request, job: ImportJob) -> ImportJobOut:
    summary = None
    if job.summary is not None:
        summary = ImportSummaryOut(**job.summary.as_json(), by_reason=dict(sorted(job.summary.by_reason.items())))
    rejects_url = str(request.url_for("download_rejects", job_id=job.id).path) if job.has_rejects else None
    return ImportJobOut(
        id=job.id,
        audience=job.audience,
        province_code=job.province_code,
        filename=job.filename,
        status=job.status,
        rows=job.rows,
        bytes=job.bytes,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        summary=summary,
        error=job.error,
        rejects_url=rejects_url,
    )


@router.get("", response_model=list[AudienceOut], responses=responses(401, 403), summary="List audiences")
def list_audiences(user: Viewer, engine: EngineDep) -> list[AudienceOut]:
    return [AudienceOut.model_validate(a) for a in queries.audiences(engine)]


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobOut,
    responses=responses(401, 403, 413, 422),
    summary="Upload a CSV or XLSX list and import it in the background",
    description=(
        "The file is saved and imported in a background thread; the answer (202) names the job. "
        "Follow its progress at the URL in `Location` until `status` is `done` or `failed`; "
        "rejected rows, each with its reason, are then at `rejects_url`."
    ),
)
def start_import(
    request: Request,
    response: Response,
    user: Operator,
    settings: SettingsDep,
    imports: ImportsDep,
    file: Annotated[UploadFile, File(description="The subscriber list (CSV or XLSX).")],
    name: Annotated[str, Form(min_length=1, max_length=200, description="Audience name (created if new).")],
    province_code: Annotated[
        str | None, Form(pattern=r"^[0-9]{1,3}$", description="Province code (default: the settings').")
    ] = None,
) -> ImportJobOut:
    job = imports.submit(
        audience=name,
        province_code=province_code or settings.province.code,
        filename=file.filename,
        source=file.file,
        actor=user.name,
    )
    response.headers["Location"] = str(request.url_for("import_progress", job_id=job.id).path)
    return job_out(request, job)


@router.get("/imports", response_model=list[ImportJobOut], responses=responses(401, 403), summary="Recent imports")
def list_imports(request: Request, user: Viewer, imports: ImportsDep) -> list[ImportJobOut]:
    return [job_out(request, job) for job in imports.list()]


@router.get(
    "/imports/{job_id}",
    response_model=ImportJobOut,
    responses=responses(401, 403, 404),
    summary="Progress of an import",
    name="import_progress",
)
def import_progress(request: Request, job_id: str, user: Viewer, imports: ImportsDep) -> ImportJobOut:
    job = imports.get(job_id)
    if job is None:
        raise not_found("import job", repr(job_id), "GET /api/v1/audiences/imports lists the recent ones")
    return job_out(request, job)


@router.get(
    "/imports/{job_id}/rejects",
    response_class=FileResponse,
    responses=responses(
        401, 403, 404, ok={"content": {"text/csv": {}}, "description": "Rejected rows with row number and reason."}
    ),
    summary="Download the rejected rows of an import (CSV)",
    name="download_rejects",
)
def download_rejects(job_id: str, user: Operator, imports: ImportsDep) -> FileResponse:
    job = imports.get(job_id)
    if job is None:
        raise not_found("import job", repr(job_id), "GET /api/v1/audiences/imports lists the recent ones")
    if not job.has_rejects:
        raise not_found("rejected rows for import", repr(job_id), "the import is still running or rejected nothing")
    stem = job.filename.rsplit(".", 1)[0]
    return FileResponse(job.rejects_path, media_type="text/csv; charset=utf-8", filename=f"{stem}-loi.csv")


@router.get(
    "/{audience_id}",
    response_model=AudienceDetail,
    responses=responses(401, 403, 404),
    summary="An audience with its subscribers by district and carrier",
)
def show_audience(audience_id: AudienceId, user: Viewer, engine: EngineDep) -> AudienceDetail:
    found = queries.audience(engine, audience_id)
    if found is None:
        raise not_found("audience", audience_id, "GET /api/v1/audiences lists them")
    return AudienceDetail.model_validate(found)
