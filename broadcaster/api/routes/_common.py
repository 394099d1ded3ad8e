"""Path parameters and small converters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query, status

MAX_ID = 2**53
CampaignId = Annotated[int, Path(ge=1, le=MAX_ID, description="Campaign id.", examples=[3])]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="Run id.", examples=[7])]
AudienceId = Annotated[int, Path(ge=1, le=MAX_ID, description="Audience id.", examples=[1])]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many items.")]


def not_found(what: str, key: object, hint: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} {key}; {hint}")
