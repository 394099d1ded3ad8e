"""The tables (DESIGN §4) and the named statuses that give their columns one meaning each.

Schema changes go through Alembic (``broadcaster/migrations``); these classes describe the tables for
the ORM and for the hot paths in SQLAlchemy Core (``Message.__table__``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel


def _big_id() -> Column[int]:
    """A 64-bit key on PostgreSQL; on SQLite the INTEGER PRIMARY KEY that aliases the rowid."""
    return Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


def utcnow() -> datetime:
    """Timestamps are aware and in UTC; the column type stores them as UTC on every database."""
    return datetime.now(UTC)


class CampaignStatus:
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RunStatus:
    PLANNING = "planning"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class MessageStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    IN_FLIGHT = (QUEUED, SENDING, SENT)
    FINAL = (DELIVERED, FAILED, EXPIRED, SKIPPED, CANCELLED)
    ALL = IN_FLIGHT + FINAL


class SkipReason:
    OPTED_OUT = "opted_out"
    DUPLICATE = "duplicate"
    OUTSIDE_AREA = "outside_area"
    DAILY_CAP = "daily_cap"


class CarrierSource:
    PREFIX = "prefix"
    DECLARED = "declared"
    RECEIPT = "receipt"


class Audience(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    province_code: str = Field(max_length=8)
    created_at: datetime = Field(default_factory=utcnow)


class Subscriber(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("audience_id", "msisdn", name="uq_subscriber_audience_msisdn"),
        Index("ix_subscriber_msisdn", "msisdn"),
    )

    id: int | None = Field(default=None, primary_key=True)
    audience_id: int = Field(foreign_key="audience.id", ondelete="CASCADE")
    msisdn: str = Field(max_length=16)
    province_code: str = Field(max_length=8)
    district_code: str = Field(max_length=8)
    commune_code: str | None = Field(default=None, max_length=8)
    carrier: str = Field(max_length=16)
    carrier_source: str = Field(default=CarrierSource.PREFIX, max_length=16)
    attributes: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class OptOut(SQLModel, table=True):
    msisdn: str = Field(primary_key=True, max_length=16)
    since: datetime = Field(default_factory=utcnow)
    source: str = Field(default="operator", max_length=40)


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    template_name: str = Field(max_length=200)
    template_text: str
    encoding_policy: str = Field(default="auto", max_length=10)
    sender: str = Field(max_length=11)
    audience_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    district_codes: list[str] | None = Field(default=None, sa_column=Column(JSON))
    """Area filter: only these districts (None: the whole audience)."""
    group_by: str = Field(default="district", max_length=10)
    run_at: datetime | None = None
    cron: str | None = Field(default=None, max_length=100)
    active_from: date | None = None
    active_until: date | None = None
    send_window: str = Field(default="07:00-22:00", max_length=11)
    status: str = Field(default=CampaignStatus.DRAFT, max_length=20, index=True)
    created_by: str = Field(max_length=100)
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: datetime | None = None
    """When the current version was approved: the scheduler considers firings from then on."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "scheduled_for", name="uq_run_campaign_time"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    scheduled_for: datetime
    status: str = Field(default=RunStatus.PLANNING, max_length=20, index=True)
    send_window: str = Field(default="07:00-22:00", max_length=11)
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=64)
    targeted: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    planned_at: datetime | None = None
    completed_at: datetime | None = None
    purged_at: datetime | None = None
    """When the retention sweep removed the phone numbers of its messages (counts are kept)."""


class Batch(SQLModel, table=True):
    """Run × district × carrier: the rendered text and what it costs."""

    __table_args__ = (Index("ix_batch_run", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id")
    district_code: str = Field(max_length=8)
    commune_code: str | None = Field(default=None, max_length=8)
    carrier: str = Field(max_length=16)
    text: str
    encoding: str = Field(max_length=8)
    characters: int
    segments: int
    recipients: int = 0


class Message(SQLModel, table=True):
    __table_args__ = (
        Index("ix_message_run_status", "run_id", "status"),
        Index("ix_message_claim", "status", "next_attempt_at"),
        Index("ix_message_provider", "route", "provider_id"),
    )

    id: int | None = Field(default=None, sa_column=_big_id())
    run_id: int = Field(foreign_key="run.id")
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    subscriber_id: int | None = None
    msisdn: str | None = Field(default=None, max_length=16)
    """Purged (None) after the retention period; the counts stay."""
    district_code: str = Field(max_length=8)
    carrier: str = Field(max_length=16)
    status: str = Field(default=MessageStatus.QUEUED, max_length=10)
    skip_reason: str | None = Field(default=None, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    route: str | None = Field(default=None, max_length=64)
    resend_route: str | None = Field(default=None, max_length=64)
    """Set after an ambiguous timeout: only this route may resend it, with the same idempotency key."""
    provider_id: str | None = Field(default=None, max_length=100)
    error_code: str | None = Field(default=None, max_length=40)
    error_reason: str | None = Field(default=None, max_length=300)
    segments: int = 0
    queued_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    final_at: datetime | None = None


class Receipt(SQLModel, table=True):
    __table_args__ = (
        Index("ix_receipt_provider", "route", "provider_id"),
        Index("ix_receipt_message", "message_id"),
    )

    id: int | None = Field(default=None, sa_column=_big_id())
    route: str = Field(max_length=64)
    provider_id: str = Field(max_length=100)
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = Field(max_length=10)
    error_code: str | None = Field(default=None, max_length=40)
    network: str | None = Field(default=None, max_length=16)
    received_at: datetime = Field(default_factory=utcnow)
    raw: str = ""


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60)
    object_type: str = Field(max_length=30)
    object_id: str = Field(max_length=40)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class WorkerHeartbeat(SQLModel, table=True):
    """Live dispatch workers; a route's rate is shared among the workers seen recently."""

    owner: str = Field(primary_key=True, max_length=120)
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow, index=True)


class RouteState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class RouteHealth(SQLModel, table=True):
    """The circuit breaker of each route as last reported by a worker: the alert operators see."""

    route: str = Field(primary_key=True, max_length=64)
    state: str = Field(default=RouteState.CLOSED, max_length=10)
    reason: str = Field(default="", max_length=300)
    code: str = Field(default="", max_length=40)
    since: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    reported_by: str = Field(default="", max_length=120)


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=10)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
