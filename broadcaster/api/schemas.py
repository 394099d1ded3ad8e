"""Request and response shapes of the HTTP API (the tables stay in ``broadcaster.models``).

Public shapes carry no secrets and no unmasked phone numbers. Every shape has an example, so the
OpenAPI document at ``/docs`` can be read without calling anything.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from broadcaster.models import MessageStatus


def _printable(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        msg = "control characters are not allowed"
        raise ValueError(msg)
    return value


Text = Annotated[str, AfterValidator(_printable)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Code = Annotated[str, Field(pattern=r"^[0-9]{1,8}$", examples=["703"])]
Encoding = Literal["auto", "unicode", "ascii"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """RFC 9457 problem details: every error of the API has this shape."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "approve: op-lan created this campaign; another approver must approve it",
                    "instance": "/api/v1/campaigns/3/approve",
                }
            ]
        }
    )


class Me(_Out):
    name: str = Field(examples=["op-lan"])
    role: str = Field(examples=["operator"])


# Audiences ---------------------------------------------------------------------------------------


class AudienceOut(_Out):
    id: int
    name: str
    province_code: str
    created_at: datetime
    subscribers: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "Thuê bao Tây Ninh 2024",
                    "province_code": "72",
                    "created_at": "2024-07-20T02:00:00Z",
                    "subscribers": 2961,
                }
            ]
        }
    )


class AudienceDetail(AudienceOut):
    by_district: dict[str, int] = Field(examples=[{"703": 412, "705": 268}])
    by_carrier: dict[str, int] = Field(examples=[{"viettel": 1530, "vinaphone": 710}])


class ImportSummaryOut(BaseModel):
    audience: str
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    by_district: dict[str, int]
    by_carrier: dict[str, int]
    by_reason: dict[str, int]


class ImportJobOut(BaseModel):
    id: str = Field(examples=["3f2a9c1d0b7e4a55"])
    audience: str = Field(examples=["Thuê bao Tây Ninh 2024"])
    province_code: str = Field(examples=["72"])
    filename: str = Field(examples=["thue-bao.csv"])
    status: Literal["queued", "running", "done", "failed"]
    rows: int = Field(description="Rows read so far.", examples=[12000])
    bytes: int = Field(description="Size of the uploaded file.", examples=[524288])
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: ImportSummaryOut | None
    error: str | None = Field(examples=[None])
    rejects_url: str | None = Field(
        description="Where to download the rejected rows with their reasons (CSV), once there are any.",
        examples=["/api/v1/audiences/imports/3f2a9c1d0b7e4a55/rejects"],
    )


# Opt-outs ----------------------------------------------------------------------------------------


class OptOutAdd(BaseModel):
    msisdns: list[Annotated[str, Field(max_length=40), AfterValidator(_printable)]] = Field(
        min_length=1, max_length=1000, examples=[["0912345678", "+84 983 000 111"]]
    )


class OptOutRejected(BaseModel):
    row: int
    value: str
    reason: str


class OptOutResult(BaseModel):
    rows: int = Field(examples=[2])
    added: int = Field(examples=[1])
    already: int = Field(examples=[1])
    rejected: list[OptOutRejected] = Field(examples=[[]])


class OptOutOut(_Out):
    msisdn: str = Field(description="Masked.", examples=["+8491****678"])
    since: datetime
    source: str = Field(examples=["operator"])


class OptOutPage(BaseModel):
    total: int
    items: list[OptOutOut]


# Templates ---------------------------------------------------------------------------------------


class TemplateOut(BaseModel):
    name: str = Field(examples=["30-7/2024"])
    title: str = Field(examples=["Thông điệp bắt buộc Ngày toàn dân phòng, chống mua bán người 30/7 (2024)"])
    year: int | None = Field(examples=[2024])
    source: str
    encoding: str = Field(description="The policy a campaign gets by default.", examples=["auto"])
    variables: list[str] = Field(description="Variables the message uses.", examples=[["district"]])
    per_district: bool = Field(description="True when the text changes from district to district.")
    per_recipient: bool = Field(description="True when the text changes per recipient.", examples=[False])
    segments_ucs2: int = Field(description="SMS parts with diacritics (the longest district).", examples=[4])
    segments_folded: int = Field(description="SMS parts without diacritics (the longest district).", examples=[2])


class TemplateDetail(TemplateOut):
    body: str


class PreviewRowOut(BaseModel):
    district_code: str = Field(description="Empty when the text is the same in every district.", examples=["703"])
    district: str = Field(examples=["Thành phố Tây Ninh"])
    text: str
    encoding: Literal["gsm7", "ucs2"] = Field(examples=["gsm7"])
    characters: int = Field(examples=[227])
    segments: int = Field(description="SMS parts of one message.", examples=[2])
    folded: bool = Field(description="Diacritics were removed to save parts.", examples=[True])
    replaced: list[str] = Field(description="Characters that became '?' when folded.", examples=[[]])


class CostLineOut(BaseModel):
    carrier: str = Field(examples=["viettel"])
    messages: int = Field(description="Messages (one per recipient; 1 without audiences).", examples=[1530])
    segments: int = Field(description="SMS parts billed for all the messages.", examples=[3060])
    min_segments: int
    max_segments: int
    price: float | None = Field(description="VND per part from the settings; null when not configured.")
    total: float | None = Field(description="VND; null without a price.")
    price_per_message: float | None


class PreviewOut(BaseModel):
    template: str = Field(examples=["30-7/2024"])
    policy: str = Field(examples=["auto"])
    rows: list[PreviewRowOut]
    costs: list[CostLineOut] = Field(
        description="Per carrier: for the named audiences' recipients, or the price of one message without them."
    )


# Campaigns ---------------------------------------------------------------------------------------


class CampaignCreate(BaseModel):
    name: Name = Field(examples=["Ngày toàn dân phòng, chống mua bán người 30/7/2024"])
    template: Name = Field(description="A template name from GET /api/v1/templates.", examples=["30-7/2024"])
    audiences: list[Name] = Field(min_length=1, max_length=50, examples=[["Thuê bao Tây Ninh 2024"]])
    encoding: Encoding | None = Field(default=None, description="Default: the template's, then the settings'.")
    sender: Annotated[str, Field(min_length=1, max_length=11), AfterValidator(_printable)] | None = Field(
        default=None, examples=["TUYENTRUYEN"]
    )
    window: Annotated[str, Field(max_length=11), AfterValidator(_printable)] | None = Field(
        default=None, description="Sending window, local time HH:MM-HH:MM.", examples=["07:00-22:00"]
    )
    run_at: datetime | None = Field(
        default=None,
        description="When to send (with a time zone offset); empty: as soon as it is approved.",
        examples=["2024-07-30T08:00:00+07:00"],
    )
    cron: Annotated[str, Field(max_length=100), AfterValidator(_printable)] | None = Field(
        default=None,
        description="A recurring schedule: five-field crontab in the settings' time zone (needs active_from/until).",
        examples=["0 8 * * mon,thu"],
    )
    active_from: date | None = Field(default=None, description="First day of a recurring schedule.")
    active_until: date | None = Field(default=None, description="Last day of a recurring schedule.")
    districts: list[Code] | None = Field(
        default=None, max_length=1000, description="Only these districts; empty: the whole audience.", examples=[None]
    )
    group_by: Literal["district", "commune"] = "district"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ngày toàn dân phòng, chống mua bán người 30/7/2024",
                    "template": "30-7/2024",
                    "audiences": ["Thuê bao Tây Ninh 2024"],
                    "encoding": "auto",
                    "window": "07:00-22:00",
                    "run_at": "2024-07-30T08:00:00+07:00",
                }
            ]
        }
    )


class CampaignOut(_Out):
    id: int
    name: str
    template_name: str
    encoding_policy: str
    sender: str
    audience_ids: list[int]
    district_codes: list[str] | None
    group_by: str
    run_at: datetime | None
    cron: str | None
    active_from: date | None
    active_until: date | None
    send_window: str
    status: str = Field(examples=["awaiting_approval"])
    created_by: str
    approved_by: str | None
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "Ngày toàn dân phòng, chống mua bán người 30/7/2024",
                    "template_name": "30-7/2024",
                    "encoding_policy": "auto",
                    "sender": "TUYENTRUYEN",
                    "audience_ids": [1],
                    "district_codes": None,
                    "group_by": "district",
                    "run_at": "2024-07-30T01:00:00Z",
                    "cron": None,
                    "active_from": None,
                    "active_until": None,
                    "send_window": "07:00-22:00",
                    "status": "awaiting_approval",
                    "created_by": "op-lan",
                    "approved_by": None,
                    "created_at": "2024-07-25T03:00:00Z",
                    "updated_at": "2024-07-25T03:10:00Z",
                }
            ]
        },
    )


class CampaignPage(BaseModel):
    total: int
    items: list[CampaignOut]


class RunOut(_Out):
    id: int
    campaign_id: int
    scheduled_for: datetime
    status: str = Field(examples=["sending"])
    send_window: str
    timezone: str
    targeted: int
    created_at: datetime
    planned_at: datetime | None
    completed_at: datetime | None


class CampaignDetail(CampaignOut):
    template_text: str
    audiences: list[str] = Field(description="Names of the audiences.")
    schedule: str = Field(description="The schedule in words.", examples=["once at 2024-07-30 08:00"])
    next_firing: str | None = Field(description="Next firing, local time with offset.")
    runs: list[RunOut]
    actions: list[str] = Field(
        description="Lifecycle actions the campaign's status allows now.", examples=[["approve", "cancel"]]
    )


class SendTestRequest(BaseModel):
    msisdns: list[Annotated[str, Field(max_length=40), AfterValidator(_printable)]] = Field(
        min_length=1, max_length=5, examples=[["0912345678"]]
    )


class SendTestOutcome(BaseModel):
    number: str = Field(description="As given.", examples=["0912345678"])
    carrier: str | None = Field(examples=["vinaphone"])
    route: str | None = Field(examples=["sim-vinaphone"])
    accepted: bool
    detail: str = Field(description="The provider id when accepted; what went wrong otherwise.")


class DryRunRowOut(BaseModel):
    district_code: str
    district: str
    carrier: str
    subscribers: int
    recipients: int
    skipped: dict[str, int] = Field(examples=[{"duplicate": 3, "opted_out": 1}])
    encoding: str
    segments_per_message: int
    segments: int
    price: float | None
    cost: float | None


class DryRunOut(BaseModel):
    campaign: int
    totals: dict[str, Any] = Field(
        examples=[
            {
                "subscribers": 2961,
                "recipients": 2878,
                "skipped": {"duplicate": 81, "opted_out": 2},
                "segments": 5756,
                "cost": None,
            }
        ]
    )
    rows: list[DryRunRowOut]


# Runs --------------------------------------------------------------------------------------------


def _counts_example() -> dict[str, int]:
    return dict.fromkeys(MessageStatus.ALL, 0) | {"delivered": 812, "queued": 40, "failed": 9}


class ProgressRowOut(BaseModel):
    district_code: str
    district: str
    carrier: str = Field(description="Empty in the per-district rows.")
    counts: dict[str, int] = Field(description="Messages by status.", examples=[_counts_example()])
    targeted: int
    done: int = Field(description="Messages in a final status.")


class RunProgressOut(BaseModel):
    run: RunOut
    campaign_name: str
    targeted: int
    done: int
    totals: dict[str, int] = Field(examples=[_counts_example()])
    districts: list[ProgressRowOut]
    rows: list[ProgressRowOut] = Field(description="One per district × carrier.")


class RunPage(BaseModel):
    total: int
    items: list[RunOut]


# Audit -------------------------------------------------------------------------------------------


class AuditEventOut(_Out):
    id: int
    at: datetime
    actor: str = Field(examples=["appr-minh"])
    action: str = Field(examples=["campaign.approve"])
    object_type: str = Field(examples=["campaign"])
    object_id: str = Field(examples=["3"])
    before: dict[str, Any] | None = Field(examples=[{"status": "awaiting_approval", "approved_by": None}])
    after: dict[str, Any] | None = Field(examples=[{"status": "approved", "approved_by": "appr-minh"}])


class AuditPage(BaseModel):
    total: int
    items: list[AuditEventOut]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]


# Reports -----------------------------------------------------------------------------------------


class ReportOut(BaseModel):
    """The JSON report (DESIGN §6, extended by the reports module); ``pending`` is everything in flight
    (queued, sending, sent)."""

    campaign: int
    run: int | list[int]
    final: bool
    reconciles: bool
    totals: dict[str, Any] = Field(
        examples=[
            {
                "targeted": 2961,
                "delivered": 2790,
                "failed": 88,
                "expired": 0,
                "skipped": 83,
                "cancelled": 0,
                "pending": 0,
                "segments": 5582,
            }
        ]
    )
    rows: list[dict[str, Any]] = Field(description="One per district × carrier, with the same counts.")

    model_config = ConfigDict(extra="allow")
