"""Plan: a run becomes one message per recipient, one batch per district × carrier, in set-based SQL.

Each district is planned in its own transaction, so dispatch can start on the first district while
the last is still being planned. Recipients excluded before sending become ``skipped`` messages with
their reason (a duplicate number across the campaign's audiences, an opted-out number, a district
outside the campaign's area), so the run's totals add up (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, bindparam
from sqlmodel import Session, select

from audiences import divisions
from broadcaster import compose, db
from broadcaster.config import Settings
from broadcaster.models import Batch, Campaign, Run, RunStatus, utcnow
from broadcaster.queue import sql


@dataclass(frozen=True, slots=True)
class PlanSummary:
    run_id: int
    targeted: int
    queued: int
    skipped: int
    batches: int


_DISTRICT_CARRIERS = sql(
    "SELECT DISTINCT carrier FROM subscriber WHERE audience_id IN :audiences AND district_code = :district"
).bindparams(bindparam("audiences", expanding=True))

_DISTRICTS = sql("SELECT DISTINCT district_code FROM subscriber WHERE audience_id IN :audiences").bindparams(
    bindparam("audiences", expanding=True)
)

# The first row of a number (lowest subscriber id across the campaign's audiences) is the recipient;
# later rows of the same number are duplicates. Precedence of reasons: duplicate, opted out, area,
# daily cap (messages already planned for the number today, across campaigns, when a cap is set).
_SKIP = (
    "CASE WHEN s.id <> f.first_id THEN 'duplicate' WHEN o.msisdn IS NOT NULL THEN 'opted_out' "
    "WHEN :outside = 1 THEN 'outside_area' WHEN :cap > 0 AND COALESCE(d.n, 0) >= :cap THEN 'daily_cap' END"
)
_PLAN_DISTRICT = sql(
    f"""
INSERT INTO message (run_id, batch_id, subscriber_id, msisdn, district_code, carrier, status, skip_reason,
                     attempts, segments, queued_at, final_at)
SELECT :run_id, b.id, s.id, s.msisdn, s.district_code, s.carrier,
       CASE WHEN {_SKIP} IS NULL THEN 'queued' ELSE 'skipped' END,
       {_SKIP},
       0,
       CASE WHEN {_SKIP} IS NULL THEN b.segments ELSE 0 END,
       :now,
       CASE WHEN {_SKIP} IS NULL THEN NULL ELSE :now END
FROM subscriber s
JOIN (SELECT msisdn, MIN(id) AS first_id FROM subscriber
      WHERE audience_id IN :audiences
        AND msisdn IN (SELECT msisdn FROM subscriber WHERE audience_id IN :audiences AND district_code = :district)
      GROUP BY msisdn) f ON f.msisdn = s.msisdn
LEFT JOIN optout o ON o.msisdn = s.msisdn
LEFT JOIN batch b ON b.run_id = :run_id AND b.district_code = s.district_code AND b.carrier = s.carrier
LEFT JOIN (SELECT msisdn, COUNT(*) AS n FROM message
           WHERE :cap > 0 AND queued_at >= :since AND status NOT IN ('skipped', 'cancelled')
             AND msisdn IN (SELECT msisdn FROM subscriber WHERE audience_id IN :audiences AND district_code = :district)
           GROUP BY msisdn) d ON d.msisdn = s.msisdn
WHERE s.audience_id IN :audiences AND s.district_code = :district
"""
).bindparams(bindparam("audiences", expanding=True))

_BATCH_COUNTS = sql(
    "UPDATE batch SET recipients = (SELECT COUNT(*) FROM message m WHERE m.batch_id = batch.id "
    "AND m.status = 'queued') WHERE run_id = :run_id AND district_code = :district"
)


_PLANNED_DISTRICT = sql(  # a district planned in the area has its batches; one outside, skipped messages
    "SELECT 1 FROM batch WHERE run_id = :run_id AND district_code = :district UNION ALL "
    "SELECT 1 FROM message WHERE run_id = :run_id AND status = 'skipped' AND district_code = :district LIMIT 1"
)


def create_run(engine: Engine, campaign_id: int, scheduled_for: datetime, settings: Settings) -> Run:
    """A firing of the campaign; unique per (campaign, scheduled time)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            msg = f"no campaign with id {campaign_id}"
            raise LookupError(msg)
        run = Run(
            campaign_id=campaign_id,
            scheduled_for=scheduled_for,
            send_window=campaign.send_window,
            timezone=settings.campaign.timezone,
        )
        session.add(run)
    return run


def plan_run(
    engine: Engine,
    run_id: int,
    settings: Settings,
    on_district: Callable[[str, int], None] | None = None,
) -> PlanSummary:
    """Turn the run into messages, district by district; each district commits on its own."""
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(Run, run_id)
        if run is None:
            msg = f"no run with id {run_id}"
            raise LookupError(msg)
        campaign = session.get(Campaign, run.campaign_id)
        assert campaign is not None
    template = compose.parse_template(campaign.template_name, settings.workspace, campaign.template_text)
    reference = divisions.load()
    province = reference.province(settings.province.code)
    base = compose.base_context(
        campaign=campaign.name,
        province=province.name if province else settings.province.code,
        province_code=settings.province.code,
        department=settings.province.department,
        year=run.scheduled_for.year,
    )
    area = set(campaign.district_codes) if campaign.district_codes else None
    local_now = utcnow().astimezone(settings.zone)
    day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    audiences = list(campaign.audience_ids)
    with db.reading(engine) as conn:
        districts = sorted(row[0] for row in conn.execute(_DISTRICTS, {"audiences": audiences}))
    for district_code in districts:
        outside = area is not None and district_code not in area
        district = reference.district(district_code)
        context = compose.district_context(
            base,
            district_code=district_code,
            district=district.name if district else district_code,
            police_phone=settings.province.police_phones.get(district_code),
        )
        rendered = None if outside else compose.measure(template, context, campaign.encoding_policy)
        now = utcnow()
        with engine.begin() as conn:
            if _already_planned(conn, run_id, district_code):
                continue  # a planner that died, or another one resuming the run, did this district
            if rendered is not None:
                carriers = [
                    row[0]
                    for row in conn.execute(_DISTRICT_CARRIERS, {"audiences": audiences, "district": district_code})
                ]
                conn.execute(
                    Batch.__table__.insert(),  # type: ignore[attr-defined]
                    [
                        {
                            "run_id": run_id,
                            "district_code": district_code,
                            "carrier": carrier,
                            "text": rendered.text,
                            "encoding": rendered.encoding,
                            "characters": rendered.characters,
                            "segments": rendered.segments,
                            "recipients": 0,
                        }
                        for carrier in sorted(carriers)
                    ],
                )
            result = conn.execute(
                _PLAN_DISTRICT,
                {
                    "run_id": run_id,
                    "audiences": audiences,
                    "district": district_code,
                    "outside": int(outside),
                    "now": now,
                    "cap": settings.campaign.daily_cap,
                    "since": day_start,
                },
            )
            conn.execute(_BATCH_COUNTS, {"run_id": run_id, "district": district_code})
            if run.status == RunStatus.PLANNING and district_code == districts[0]:
                conn.execute(
                    sql("UPDATE run SET status = 'sending' WHERE id = :id AND status = 'planning'"), {"id": run_id}
                )
        if on_district:
            on_district(district_code, result.rowcount or 0)
    return _finish_planning(engine, run_id)


def _already_planned(conn: Connection, run_id: int, district_code: str) -> bool:
    """Whether the district has its messages; on PostgreSQL the run's row is locked first, so two
    planners of one run take its districts in turn (on SQLite the write lock does that)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sql("SELECT id FROM run WHERE id = :id FOR UPDATE"), {"id": run_id})
    found = conn.execute(_PLANNED_DISTRICT, {"run_id": run_id, "district": district_code}).first()
    return found is not None


def unfinished_runs(engine: Engine, started_before: datetime) -> list[int]:
    """Runs whose planning began before ``started_before`` and never finished (its planner died)."""
    with db.reading(engine) as conn:
        rows = conn.execute(
            sql(
                "SELECT id FROM run WHERE planned_at IS NULL AND status IN ('planning', 'sending', 'paused') "
                "AND created_at < :at ORDER BY id"
            ),
            {"at": started_before},
        )
        return [row[0] for row in rows]


def _finish_planning(engine: Engine, run_id: int) -> PlanSummary:
    with engine.begin() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                sql("SELECT status, COUNT(*) FROM message WHERE run_id = :id GROUP BY status"), {"id": run_id}
            ).all()
        )
        targeted = sum(counts.values())
        batches = conn.execute(sql("SELECT COUNT(*) FROM batch WHERE run_id = :id"), {"id": run_id}).scalar_one()
        conn.execute(
            sql(
                "UPDATE run SET targeted = :targeted, planned_at = :now, "
                "status = CASE WHEN status = 'planning' THEN 'sending' ELSE status END WHERE id = :id"
            ),
            {"targeted": targeted, "now": utcnow(), "id": run_id},
        )
    return PlanSummary(
        run_id=run_id,
        targeted=targeted,
        queued=counts.get("queued", 0),
        skipped=counts.get("skipped", 0),
        batches=int(batches),
    )


def campaign_runs(engine: Engine, campaign_id: int) -> list[Run]:
    with Session(engine) as session:
        return list(session.exec(select(Run).where(Run.campaign_id == campaign_id).order_by(Run.id)))  # type: ignore[arg-type]
