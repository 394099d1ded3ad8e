"""What a report holds: rows of counts per district × carrier, their roll-ups, the checks, the timeline.

Every format is a view of one ``Report``; the numbers are computed once, here and in ``_build``, and
rounded once (``Row.metrics``), so the JSON, CSV, XLSX and HTML cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from broadcaster.models import SkipReason

COUNTS = ("targeted", "delivered", "failed", "expired", "skipped", "cancelled", "pending", "segments")
"""The counts of the JSON contract (DESIGN §6); ``segments`` is the number of segments billed."""
EXTRA_COUNTS = ("submitted",)
METRICS = (
    *COUNTS,
    *EXTRA_COUNTS,
    "delivery_rate",
    "cost_vnd",
    "first_sent_at",
    "last_sent_at",
    "median_delivery_s",
    "p95_delivery_s",
)
"""Every figure of a row, in the order the tabular formats show them (before the reasons)."""

SKIP_REASONS = (SkipReason.OPTED_OUT, SkipReason.DUPLICATE, SkipReason.OUTSIDE_AREA)
UNKNOWN_REASON = "unknown"
"""A failed message without an error code, or a skipped one without a reason."""

RATE_DIGITS = 4
SECONDS_DIGITS = 3


class ReportError(Exception):
    """A report that cannot be made as asked (unknown campaign or run, bad period, bad format)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: one run, every run of the campaign, or the runs scheduled in a period.

    A period is a range of local dates (both included) in ``timezone``; a run belongs to it when its
    scheduled time falls on one of those dates, so a run is always reported whole.
    """

    kind: str
    run: int | None = None
    start: date | None = None
    end: date | None = None
    timezone: str = "Asia/Ho_Chi_Minh"

    RUN = "run"
    CAMPAIGN = "campaign"
    PERIOD = "period"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "run": self.run,
            "from": self.start.isoformat() if self.start else None,
            "until": self.end.isoformat() if self.end else None,
            "timezone": self.timezone,
        }


@dataclass
class Row:
    """The figures of one district × carrier (or of a roll-up: a district, a carrier, the totals).

    ``pending`` is everything in flight (queued, sending, sent); ``submitted`` the messages a carrier
    accepted (they have a send time); ``segments`` the segments billed (those of submitted messages).
    """

    district_code: str
    district: str
    carrier: str
    targeted: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    skipped: int = 0
    cancelled: int = 0
    pending: int = 0
    segments: int = 0
    submitted: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    median_delivery_s: float | None = None
    p95_delivery_s: float | None = None
    cost_vnd: int | None = 0
    """Estimated cost in VND: segments billed × the carrier's price; None when a price is missing."""

    @property
    def reconciles(self) -> bool:
        """targeted = delivered + failed + expired + skipped + cancelled + pending, and the reasons add up."""
        return (
            self.targeted == self.delivered + self.failed + self.expired + self.skipped + self.cancelled + self.pending
            and sum(self.skipped_by_reason.values()) == self.skipped
            and sum(self.failed_by_reason.values()) == self.failed
        )

    @property
    def attempted(self) -> int:
        """Messages meant to be sent: neither excluded before sending nor cancelled."""
        return self.targeted - self.skipped - self.cancelled

    @property
    def delivery_rate(self) -> float | None:
        """Delivered / attempted, rounded to 4 decimals; None when nothing was attempted."""
        attempted = self.attempted
        return round(self.delivered / attempted, RATE_DIGITS) if attempted > 0 else None

    def add(self, other: Row) -> None:
        """Sum ``other`` into this row (counts, reasons, send times); percentiles are not additive."""
        for name in (*COUNTS, *EXTRA_COUNTS):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        _add_into(self.skipped_by_reason, other.skipped_by_reason)
        _add_into(self.failed_by_reason, other.failed_by_reason)
        self.cost_vnd = None if self.cost_vnd is None or other.cost_vnd is None else self.cost_vnd + other.cost_vnd
        self.first_sent_at = _extreme(min, self.first_sent_at, other.first_sent_at)
        self.last_sent_at = _extreme(max, self.last_sent_at, other.last_sent_at)

    def metrics(self, zone: ZoneInfo) -> dict[str, Any]:
        """The row's figures as JSON values (times in ``zone``, ISO 8601 with the offset)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in (*COUNTS, *EXTRA_COUNTS)}
        values["delivery_rate"] = self.delivery_rate
        values["cost_vnd"] = self.cost_vnd
        values["first_sent_at"] = local_iso(self.first_sent_at, zone)
        values["last_sent_at"] = local_iso(self.last_sent_at, zone)
        values["median_delivery_s"] = self.median_delivery_s
        values["p95_delivery_s"] = self.p95_delivery_s
        values["skipped_by_reason"] = dict(sorted(self.skipped_by_reason.items()))
        values["failed_by_reason"] = dict(sorted(self.failed_by_reason.items()))
        return values


@dataclass(frozen=True, slots=True)
class Check:
    """One reconciliation check and what it found."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class HourCount:
    """Messages submitted and delivered in the hour starting at ``hour`` (UTC, aware)."""

    hour: datetime
    submitted: int
    delivered: int


@dataclass
class Report:
    campaign: int
    campaign_name: str
    runs: list[int]
    rows: list[Row]
    generated_at: datetime
    scope: Scope = field(default_factory=lambda: Scope(Scope.CAMPAIGN))
    districts: list[Row] = field(default_factory=list)
    """One row per district, summed over carriers (``carrier`` empty)."""
    carriers: list[Row] = field(default_factory=list)
    """One row per carrier, summed over districts (``district_code`` empty)."""
    totals: Row = field(default_factory=lambda: Row("", "Tổng cộng", ""))
    timeline: list[HourCount] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    runs_in_progress: int = 0
    """Runs of the scope still being planned: their messages are not all there yet."""
    prices: dict[str, float] = field(default_factory=dict)
    reason_texts: dict[str, str] = field(default_factory=dict)
    """A carrier's wording for each failure code (masked), as an example for the reader."""
    run_times: dict[int, datetime] = field(default_factory=dict)
    """When each run of the scope was scheduled (UTC)."""

    def __post_init__(self) -> None:
        if not self.districts and not self.carriers and self.rows and not self.totals.targeted:
            self.districts, self.carriers, self.totals = rollups(self.rows)

    @property
    def zone(self) -> ZoneInfo:
        return self.scope.zone

    @property
    def final(self) -> bool:
        """Nothing in flight and no run still being planned: the figures will not change."""
        return self.totals.pending == 0 and self.runs_in_progress == 0

    @property
    def reconciles(self) -> bool:
        if self.checks:
            return all(check.ok for check in self.checks)
        return all(row.reconciles for row in self.rows) and self.totals.reconciles

    @property
    def delivery_rate(self) -> float:
        return self.totals.delivery_rate or 0.0

    @property
    def failure_codes(self) -> list[str]:
        """Every failure code seen, most frequent first."""
        return sorted(self.totals.failed_by_reason, key=lambda c: (-self.totals.failed_by_reason[c], c))

    @property
    def skip_reasons(self) -> list[str]:
        """The named skip reasons, then any other reason seen."""
        seen = set(self.totals.skipped_by_reason)
        return [*SKIP_REASONS, *sorted(seen - set(SKIP_REASONS))]

    def as_json(self) -> dict[str, Any]:
        """The DESIGN §6 contract, extended: every added key sits beside the contract's keys."""
        zone = self.zone
        return {
            "campaign": self.campaign,
            "campaign_name": self.campaign_name,
            "run": self.runs[0] if len(self.runs) == 1 else self.runs,
            "runs": self.runs,
            "scope": self.scope.as_json(),
            "final": self.final,
            "reconciles": self.reconciles,
            "checks": [check.as_json() for check in self.checks],
            "generated_at": local_iso(self.generated_at, zone),
            "timezone": self.scope.timezone,
            "currency": "VND",
            "prices": dict(sorted(self.prices.items())),
            "totals": self.totals.metrics(zone),
            "rows": [_identified(row, zone) for row in self.rows],
            "by_district": [_identified(row, zone) for row in self.districts],
            "by_carrier": [_identified(row, zone) for row in self.carriers],
            "failure_texts": dict(sorted(self.reason_texts.items())),
            "timeline": [
                {"hour": local_iso(item.hour, zone), "submitted": item.submitted, "delivered": item.delivered}
                for item in self.timeline
            ],
        }


def _identified(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    return {"district_code": row.district_code, "district": row.district, "carrier": row.carrier, **row.metrics(zone)}


def rollups(rows: Iterable[Row]) -> tuple[list[Row], list[Row], Row]:
    """(by district, by carrier, totals) summed from district × carrier rows."""
    districts: dict[str, Row] = {}
    carriers: dict[str, Row] = {}
    totals = Row("", "Tổng cộng", "")
    for row in rows:
        districts.setdefault(row.district_code, Row(row.district_code, row.district, "")).add(row)
        carriers.setdefault(row.carrier, Row("", "", row.carrier)).add(row)
        totals.add(row)
    return [districts[c] for c in sorted(districts)], [carriers[c] for c in sorted(carriers)], totals


def local_iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the report's time zone, to the second (``2024-07-30T08:15:03+07:00``)."""
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None


def _add_into(target: dict[str, int], source: Mapping[str, int]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def _extreme(pick: Any, a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    result: datetime = pick(a, b)
    return result
