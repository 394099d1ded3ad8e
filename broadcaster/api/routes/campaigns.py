"""/api/v1/campaigns: create, the lifecycle (submit, approve, pause, resume, cancel), test-send, dry-run.

Every change goes through ``broadcaster.campaigns`` (which audits it); the actor is the token's name,
so an approver can never approve a campaign created (or last edited) under the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import Engine

from broadcaster import campaigns
from broadcaster.api import queries
from broadcaster.api.deps import EngineDep, Operator, SettingsDep, Viewer, require
from broadcaster.api.errors import responses
from broadcaster.api.routes._common import CampaignId, Limit, Offset, not_found
from broadcaster.api.routes.templates import load_named
from broadcaster.api.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignOut,
    CampaignPage,
    DryRunOut,
    RunOut,
    SendTestOutcome,
    SendTestRequest,
)
from broadcaster.api.tokens import Principal, Role
from broadcaster.config import Settings
from broadcaster.models import Campaign, CampaignStatus

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

LIFECYCLE: dict[str, tuple[str, str]] = {
    "submit": (Role.OPERATOR, "Submit a draft for approval"),
    "approve": (Role.APPROVER, "Approve (never by the campaign's creator or last editor)"),
    "pause": (Role.OPERATOR, "Pause an approved or active campaign and its open runs"),
    "resume": (Role.OPERATOR, "Resume a paused campaign and its runs"),
    "cancel": (Role.OPERATOR, "Cancel a campaign: its queued messages become cancelled"),
}
"""The lifecycle actions offered over HTTP (and in the console): the minimum role and a summary."""

STATUSES = (
    CampaignStatus.DRAFT,
    CampaignStatus.AWAITING_APPROVAL,
    CampaignStatus.APPROVED,
    CampaignStatus.ACTIVE,
    CampaignStatus.PAUSED,
    CampaignStatus.COMPLETED,
    CampaignStatus.CANCELLED,
)


def allowed_actions(campaign: Campaign) -> list[str]:
    """The actions of ``LIFECYCLE`` the campaign's status allows now (``campaigns.TRANSITIONS`` decides)."""
    return [action for action in LIFECYCLE if campaign.status in campaigns.TRANSITIONS[action]["from"]]


def apply(engine: Engine, settings: Settings, campaign_id: int, action: str, actor: str) -> Campaign:
    """Run one lifecycle action through its use case."""
    if action == "approve":
        return campaigns.approve(engine, settings, campaign_id, actor)
    return campaigns.transition(engine, campaign_id, action, actor)


def load(engine: Engine, campaign_id: int) -> Campaign:
    found = queries.campaign(engine, campaign_id)
    if found is None:
        raise not_found("campaign", campaign_id, "GET /api/v1/campaigns lists them")
    return found


def new_campaign(body: CampaignCreate, actor: str) -> campaigns.NewCampaign:
    return campaigns.NewCampaign(
        name=body.name,
        template=body.template,
        audiences=tuple(body.audiences),
        created_by=actor,
        encoding=body.encoding,
        sender=body.sender,
        window=body.window,
        run_at=body.run_at,
        districts=tuple(body.districts) if body.districts else None,
        group_by=body.group_by,
        cron=body.cron,
        active_from=body.active_from,
        active_until=body.active_until,
    )


@router.get("", response_model=CampaignPage, responses=responses(401, 403, 422), summary="List campaigns")
def list_campaigns(
    user: Viewer,
    engine: EngineDep,
    status_: Annotated[str | None, Query(alias="status", pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CampaignPage:
    total, items = queries.campaigns(engine, status=status_, limit=limit, offset=offset)
    return CampaignPage(total=total, items=[CampaignOut.model_validate(c) for c in items])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
    responses=responses(401, 403, 409, 422),
    summary="Create a draft campaign",
    description="The template is checked against the encoding policy, the routes' part limits and the "
    "audiences; a schedule in the past or one that never fires is refused (422).",
)
def create_campaign(
    body: CampaignCreate, response: Response, user: Operator, engine: EngineDep, settings: SettingsDep
) -> CampaignOut:
    load_named(settings, body.template)  # a name of the templates folder, never a file path
    created = campaigns.create_campaign(engine, settings, new_campaign(body, user.name))
    response.headers["Location"] = f"/api/v1/campaigns/{created.id}"
    return CampaignOut.model_validate(created)


@router.get(
    "/{campaign_id}",
    response_model=CampaignDetail,
    responses=responses(401, 403, 404),
    summary="A campaign with its runs, its schedule and the actions its status allows",
)
def show_campaign(campaign_id: CampaignId, user: Viewer, engine: EngineDep, settings: SettingsDep) -> CampaignDetail:
    found = load(engine, campaign_id)
    described = campaigns.describe(engine, settings, campaign_id)
    _, runs = queries.runs(engine, campaign_id=campaign_id, limit=500)
    return CampaignDetail(
        **CampaignOut.model_validate(found).model_dump(),
        template_text=found.template_text,
        audiences=described["audiences"],
        schedule=described["schedule"]["text"],
        next_firing=described["next_firing"],
        runs=[RunOut.model_validate(r) for r in runs],
        actions=allowed_actions(found),
    )


def _lifecycle_route(action: str, role: str, summary: str) -> Callable[..., CampaignOut]:
    def handler(
        campaign_id: CampaignId,
        engine: EngineDep,
        settings: SettingsDep,
        user: Principal = Depends(require(role)),  # noqa: B008 - the role is the factory's argument
    ) -> CampaignOut:
        load(engine, campaign_id)
        return CampaignOut.model_validate(apply(engine, settings, campaign_id, action, user.name))

    handler.__name__ = f"{action}_campaign"
    handler.__doc__ = summary
    return handler


for _action, (_role, _summary) in LIFECYCLE.items():
    router.add_api_route(
        f"/{{campaign_id}}/{_action}",
        _lifecycle_route(_action, _role, _summary),
        methods=["POST"],
        response_model=CampaignOut,
        responses=responses(401, 403, 404, 409),
        summary=_summary,
        description=f"Needs the {_role} role or higher. Refused (409) when the campaign's status does not allow it; "
        "the detail says what to do instead.",
    )


@router.post(
    "/{campaign_id}/dry-run",
    response_model=DryRunOut,
    responses=responses(401, 403, 404, 422),
    summary="What a run would target now, per district and carrier: recipients, exclusions, parts, cost",
)
def dry_run(campaign_id: CampaignId, user: Operator, engine: EngineDep, settings: SettingsDep) -> DryRunOut:
    load(engine, campaign_id)
    return DryRunOut.model_validate(campaigns.dry_run(engine, settings, campaign_id).as_json())


@router.post(
    "/{campaign_id}/test-send",
    response_model=list[SendTestOutcome],
    responses=responses(401, 403, 404, 409, 422),
    summary="Send the campaign's text to up to five numbers now (not part of any run; audited)",
)
def test_send(
    campaign_id: CampaignId, body: SendTestRequest, user: Operator, engine: EngineDep, settings: SettingsDep
) -> list[SendTestOutcome]:
    load(engine, campaign_id)
    results = campaigns.send_test(engine, settings, campaign_id, body.msisdns, user.name)
    return [
        SendTestOutcome(number=r.number, carrier=r.carrier, route=r.route, accepted=r.accepted, detail=r.detail)
        for r in results
    ]
