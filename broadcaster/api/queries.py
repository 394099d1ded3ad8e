"""Read models for the API and the console: what a page or an endpoint shows, read in one place.

Nothing here writes. Counts come straight from the tables (``message`` for progress, ``subscriber``
for audiences), so the API, the console and ``/metrics`` agree with the reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from audiences import divisions
from broadcaster.models import Audience, Campaign, MessageStatus, OptOut, Run, RunStatus, Subscriber
from broadcaster.queue import sql

ACTIVE_RUNS = (RunStatus.PLANNING, RunStatus.SENDING, RunStatus.PAUSED)


def district_name(code: str) -> str:
    district = divisions.load().district(code)
    return district.name if district else code


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(MessageStatus.ALL, 0)


@dataclass
class ProgressRow:
    district_code: str
    district: str
    carrier: str
    counts: dict[str, int] = field(default_factory=empty_counts)

    @property
    def targeted(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(self.counts[s] for s in MessageStatus.FINAL)


@dataclass
class RunProgress:
    run: Run
    campaign_name: str
    rows: list[ProgressRow]
    """One per district × carrier."""
    districts: list[ProgressRow]
    """One per district, summed over carriers (``carrier`` is empty)."""
    totals: dict[str, int]

    @property
    def targeted(self) -> int:
        return sum(self.totals.values())

    @property
    def done(self) -> int:
        return sum(self.totals[s] for s in MessageStatus.FINAL)


_PROGRESS = sql(
    "SELECT district_code, carrier, status, COUNT(*) FROM message WHERE run_id = :run "
    "GROUP BY district_code, carrier, status ORDER BY district_code, carrier"
)


def run_progress(engine: Engine, run_id: int) -> RunProgress | None:
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        campaign = session.get(Campaign, run.campaign_id)
        rows = session.connection().execute(_PROGRESS, {"run": run_id}).all()
    cells: dict[tuple[str, str], ProgressRow] = {}
    districts: dict[str, ProgressRow] = {}
    totals = empty_counts()
    for district_code, carrier, status, count in rows:
        name = district_name(district_code)
        cell = cells.setdefault((district_code, carrier), ProgressRow(district_code, name, carrier))
        district = districts.setdefault(district_code, ProgressRow(district_code, name, ""))
        for target in (cell.counts, district.counts, totals):
            target[status] = target.get(status, 0) + int(count)
    return RunProgress(
        run=run,
        campaign_name=campaign.name if campaign else "",
        rows=[cells[k] for k in sorted(cells)],
        districts=[districts[k] for k in sorted(districts)],
        totals=totals,
    )


def runs(
    engine: Engine,
    *,
    campaign_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Run]]:
    conditions = []
    if campaign_id is not None:
        conditions.append(col(Run.campaign_id) == campaign_id)
    if statuses:
        conditions.append(col(Run.status).in_(statuses))
    with Session(engine, expire_on_commit=False) as session:
        total = session.exec(select(func.count()).select_from(Run).where(*conditions)).one()
        items = session.exec(select(Run).where(*conditions).order_by(col(Run.id).desc()).limit(limit).offset(offset))
        return int(total), list(items)


def active_runs(engine: Engine, *, recent: int = 5) -> list[RunProgress]:
    """Runs planning, sending or paused, then the ``recent`` last finished ones (newest first)."""
    _, active = runs(engine, statuses=ACTIVE_RUNS, limit=100)
    _, finished = runs(engine, statuses=(RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.MISSED), limit=recent)
    found = [run_progress(engine, run.id) for run in [*active, *finished] if run.id is not None]
    return [p for p in found if p is not None]


def campaigns(
    engine: Engine, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[Campaign]]:
    conditions = [col(Campaign.status) == status] if status else []
    with Session(engine, expire_on_commit=False) as session:
        total = session.exec(select(func.count()).select_from(Campaign).where(*conditions)).one()
        items = session.exec(
            select(Campaign).where(*conditions).order_by(col(Campaign.id).desc()).limit(limit).offset(offset)
        )
        return int(total), list(items)


def campaign(engine: Engine, campaign_id: int) -> Campaign | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Campaign, campaign_id)


def audience_names(engine: Engine, ids: list[int]) -> list[str]:
    if not ids:
        return []
    with Session(engine) as session:
        found = {a.id: a.name for a in session.exec(select(Audience).where(col(Audience.id).in_(ids)))}
    return [found.get(i, f"#{i}") for i in ids]


@dataclass
class AudienceView:
    id: int
    name: str
    province_code: str
    created_at: datetime
    subscribers: int
    by_district: dict[str, int] = field(default_factory=dict)
    by_carrier: dict[str, int] = field(default_factory=dict)


def audiences(engine: Engine) -> list[AudienceView]:
    with Session(engine) as session:
        sizes = dict(
            session.exec(select(Subscriber.audience_id, func.count()).group_by(col(Subscriber.audience_id))).all()
        )
        rows = session.exec(select(Audience).order_by(col(Audience.name))).all()
        return [
            AudienceView(a.id, a.name, a.province_code, a.created_at, int(sizes.get(a.id, 0)))
            for a in rows
            if a.id is not None
        ]


def audience(engine: Engine, audience_id: int) -> AudienceView | None:
    with Session(engine) as session:
        found = session.get(Audience, audience_id)
        if found is None or found.id is None:
            return None
        by_district: dict[str, int] = defaultdict(int)
        by_carrier: dict[str, int] = defaultdict(int)
        cells = session.exec(
            select(Subscriber.district_code, Subscriber.carrier, func.count())
            .where(col(Subscriber.audience_id) == audience_id)
            .group_by(col(Subscriber.district_code), col(Subscriber.carrier))
        ).all()
        for district_code, carrier, count in cells:
            by_district[district_code] += int(count)
            by_carrier[carrier] += int(count)
        return AudienceView(
            found.id,
            found.name,
            found.province_code,
            found.created_at,
            sum(by_district.values()),
            dict(sorted(by_district.items())),
            dict(sorted(by_carrier.items())),
        )


def optouts(engine: Engine, *, limit: int = 50, offset: int = 0) -> tuple[int, list[OptOut]]:
    with Session(engine, expire_on_commit=False) as session:
        total = session.exec(select(func.count()).select_from(OptOut)).one()
        items = session.exec(select(OptOut).order_by(col(OptOut.since).desc()).limit(limit).offset(offset))
        return int(total), list(items)
