"""/api/v1/audit: who did what to which object, when (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from broadcaster.api import audit
from broadcaster.api.deps import Admin, EngineDep
from broadcaster.api.errors import responses
from broadcaster.api.routes._common import Limit, Offset
from broadcaster.api.schemas import AuditEventOut, AuditPage

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses=responses(401, 403, 422), summary="The audit log, newest first")
def audit_log(
    user: Admin,
    engine: EngineDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    object_type: Annotated[str | None, Query(max_length=30, examples=["campaign"])] = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    page = audit.events(engine, limit=limit, offset=offset, actor=actor, object_type=object_type, object_id=object_id)
    return AuditPage(total=page.total, items=[AuditEventOut.model_validate(e) for e in page.events])
