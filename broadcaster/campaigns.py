"""The campaign lifecycle (DESIGN §4), enforced in one place, every transition audited.

    draft -> awaiting_approval -> approved -> active -> completed
    paused <-> active/approved; cancelled from any state before completed

Each use case owns its transaction and writes an ``AuditEvent`` with the state before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from broadcaster import compose
from broadcaster.config import Settings, parse_window
from broadcaster.models import Audience, AuditEvent, Campaign, CampaignStatus, utcnow
from carriers import sms

S = CampaignStatus
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "submit": {"from": (S.DRAFT,), "to": (S.AWAITING_APPROVAL,)},
    "approve": {"from": (S.AWAITING_APPROVAL,), "to": (S.APPROVED,)},
    "activate": {"from": (S.APPROVED,), "to": (S.ACTIVE,)},
    "complete": {"from": (S.ACTIVE,), "to": (S.COMPLETED,)},
    "pause": {"from": (S.APPROVED, S.ACTIVE), "to": (S.PAUSED,)},
    "cancel": {"from": (S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED, S.ACTIVE, S.PAUSED), "to": (S.CANCELLED,)},
}


class CampaignError(Exception):
    """A lifecycle request that cannot be granted; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    template: str
    audiences: tuple[str, ...]
    created_by: str
    encoding: str | None = None
    sender: str | None = None
    window: str | None = None
    run_at: datetime | None = None
    districts: tuple[str, ...] | None = None
    group_by: str = "district"


def _audit(session: Session, actor: str, action: str, campaign: Campaign, before: dict[str, Any] | None) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=f"campaign.{action}",
            object_type="campaign",
            object_id=str(campaign.id),
            before=before,
            after={"status": campaign.status, "approved_by": campaign.approved_by},
        )
    )


def create_campaign(engine: Engine, settings: Settings, new: NewCampaign) -> Campaign:
    """Validate the template against the policy and the audiences, then store a draft."""
    template = compose.load_template(new.template, settings.templates_dir)
    policy = new.encoding or template.meta.encoding or settings.campaign.encoding
    if policy not in sms.POLICIES:
        msg = f"unknown encoding policy {policy!r}; choose one of {', '.join(sms.POLICIES)}"
        raise CampaignError(msg)
    window = new.window or settings.campaign.window
    try:
        parse_window(window)
    except ValueError as exc:
        raise CampaignError(str(exc)) from exc
    sender = new.sender or settings.campaign.sender
    if len(sender) > 11:
        msg = f"the brandname {sender!r} has {len(sender)} characters; carriers accept at most 11"
        raise CampaignError(msg)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        audience_ids = []
        for name in new.audiences:
            audience = session.exec(select(Audience).where(Audience.name == name)).first()
            if audience is None:
                msg = f"no audience named {name!r}; import it first with 'broadcaster audience import'"
                raise CampaignError(msg)
            audience_ids.append(audience.id)
        campaign = Campaign(
            name=new.name,
            template_name=template.name,
            template_text=template.path.read_text(encoding="utf-8"),
            encoding_policy=policy,
            sender=sender,
            audience_ids=[a for a in audience_ids if a is not None],
            district_codes=list(new.districts) if new.districts else None,
            group_by=new.group_by,
            run_at=new.run_at,
            send_window=window,
            created_by=new.created_by,
        )
        session.add(campaign)
        session.flush()
        _audit(session, new.created_by, "create", campaign, None)
    return campaign


def transition(engine: Engine, campaign_id: int, action: str, actor: str) -> Campaign:
    """Apply a lifecycle action, refusing what the lifecycle does not allow."""
    rule = TRANSITIONS[action]
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
            raise CampaignError(msg)
        if campaign.status not in rule["from"]:
            msg = f"{action}: campaign {campaign_id} is {campaign.status}; {action} needs it to be {' or '.join(rule['from'])}"
            raise CampaignError(msg)
        if action == "approve" and actor == campaign.created_by:
            msg = f"approve: {actor} created this campaign; another approver must approve it"
            raise CampaignError(msg)
        before = {"status": campaign.status, "approved_by": campaign.approved_by}
        campaign.status = rule["to"][0]
        if action == "approve":
            campaign.approved_by = actor
        campaign.updated_at = utcnow()
        session.add(campaign)
        _audit(session, actor, action, campaign, before)
    return campaign
