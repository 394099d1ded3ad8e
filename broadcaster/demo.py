"""The whole job on the embedded default, end to end, in a few seconds.

A deterministic synthetic audience of Tây Ninh (province 72, its nine districts before 2025: 703,
705-712) is written as a CSV the way operators receive them (mixed number formats, a few bad rows),
imported, messaged with the mandated 2024 30/7 text through the simulated carriers, and reported.
Nothing leaves the machine: every route is the in-process simulator.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from audiences import divisions
from broadcaster import campaigns, importer, optouts, planner, queue, reports
from broadcaster.config import Settings
from broadcaster.dispatch import Dispatcher
from broadcaster.models import utcnow
from carriers.base import Adapter
from carriers.simulator import Behaviour, SimulatorAdapter, Smsc

PROVINCE = "72"
DISTRICTS = ("703", "705", "706", "707", "708", "709", "710", "711", "712")
DISTRICT_WEIGHTS = (14, 9, 12, 11, 12, 13, 14, 8, 15)
# Share of subscribers by carrier (original prefixes), roughly the national market.
PREFIXES = {
    "viettel": ("086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039"),
    "vinaphone": ("088", "091", "094", "081", "082", "083", "084", "085"),
    "mobifone": ("089", "090", "093", "070", "076", "077", "078", "079"),
    "vietnamobile": ("092", "052", "056", "058"),
    "gmobile": ("099", "059"),
    "itel": ("087",),
    "reddi": ("055",),
}
CARRIER_WEIGHTS = (52, 24, 17, 3, 1, 2, 1)
TEMPLATE = "30-7/2024"
AUDIENCE = "Thuê bao mẫu Tây Ninh"
OPERATOR, APPROVER = "demo-operator", "demo-approver"
BEHAVIOUR = Behaviour(undeliverable_rate=0.03, transient_rate=0.02, receipt_delay=0.2, seed=2024)


@dataclass(frozen=True, slots=True)
class DemoResult:
    campaign_id: int
    run_id: int
    import_summary: importer.ImportSummary
    report: reports.Report
    csv_path: Path
    html_path: Path
    audience_path: Path
    rejects_path: Path


def _written(number: str, rng: random.Random) -> str:
    """A national number (0XXXXXXXXX) written the way spreadsheets and people write it."""
    body = number[1:]
    forms = (
        number,
        number,
        number,
        f"+84{body}",
        f"84{body}",
        body,
        f"{number[:4]} {number[4:7]} {number[7:]}",
        f"{number[:4]}.{number[4:7]}.{number[7:]}",
        f"+84 {body[:2]} {body[2:5]} {body[5:]}",
        f"'{number}",
        f"{int(body)}.0",
    )
    return rng.choice(forms)


def write_audience(path: Path, size: int, seed: int = 2024) -> Path:
    """A deterministic synthetic subscriber list of Tây Ninh with realistic damage and a few bad rows."""
    rng = random.Random(seed)
    reference = divisions.load()
    names = [reference.district(code) for code in DISTRICTS]
    carriers = list(PREFIXES)
    given = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hòa", "Khánh", "Lan", "Minh", "Nga", "Phúc", "Quân", "Thảo")
    family = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["STT", "Họ và tên", "Số điện thoại", "Quận/Huyện"])
        used: list[str] = []
        for index in range(1, size + 1):
            district = rng.choices(names, DISTRICT_WEIGHTS)[0]
            district_name = district.name if district else DISTRICTS[0]
            carrier = rng.choices(carriers, CARRIER_WEIGHTS)[0]
            number = rng.choice(PREFIXES[carrier]) + f"{rng.randrange(10**7):07d}"
            phone = _written(number, rng)
            roll = rng.random()
            if roll < 0.004:
                phone = "0276 3822 " + f"{rng.randrange(1000):03d}"  # a landline
            elif roll < 0.007:
                phone = number[:7]  # cut short
            elif roll < 0.009:
                district_name = "Huyện Không Có"
            elif roll < 0.015 and used:
                phone = rng.choice(used)  # the same person listed twice
            if len(used) < 500:
                used.append(phone)
            writer.writerow([index, f"{rng.choice(family)} {rng.choice(given)}", phone, district_name])
    return path


def demo_settings(settings: Settings) -> Settings:
    """Simulated routes at 2,000 segments a second: the demo shows the flow, not a carrier's pace."""
    routes = {
        carrier: [r.model_copy(update={"tps": 2000.0}) if r.adapter == "simulator" else r for r in rs]
        for carrier, rs in settings.routes.items()
    }
    return settings.model_copy(update={"routes": routes})


def demo_adapters(settings: Settings) -> dict[str, Adapter]:
    """In-process simulators with a little realistic failure for every simulated route."""
    return {
        route.name: SimulatorAdapter(Smsc(BEHAVIOUR))
        for routes in settings.routes.values()
        for route in routes
        if route.adapter == "simulator"
    }


def run_demo(
    engine: Engine,
    settings: Settings,
    *,
    subscribers: int = 3000,
    on_planned: Callable[[int], Any] | None = None,
    on_progress: Callable[[int, int], Any] | None = None,
) -> DemoResult:
    settings = demo_settings(settings)
    workspace = settings.workspace
    audience_path = write_audience(workspace / "demo-audience.csv", subscribers)
    rejects_path = workspace / "demo-rejects.csv"
    summary = importer.import_audience(
        engine, audience_path, name=AUDIENCE, province_code=PROVINCE, rejects_path=rejects_path
    )
    _opt_out_a_few(engine, audience_path)
    campaign = campaigns.create_campaign(
        engine,
        settings,
        campaigns.NewCampaign(
            name="Ngày toàn dân phòng, chống mua bán người 30/7 (demo)",
            template=TEMPLATE,
            audiences=(AUDIENCE,),
            created_by=OPERATOR,
            window="00:00-24:00",  # the demo runs whatever the hour; real campaigns keep 07:00-22:00
        ),
    )
    assert campaign.id is not None
    campaigns.transition(engine, campaign.id, "submit", OPERATOR)
    campaigns.transition(engine, campaign.id, "approve", APPROVER)
    campaigns.transition(engine, campaign.id, "activate", APPROVER)
    run = planner.create_run(engine, campaign.id, utcnow(), settings)
    assert run.id is not None
    plan = planner.plan_run(engine, run.id, settings)
    if on_planned:
        on_planned(plan.queued)
    dispatcher = Dispatcher(engine, settings, adapters=demo_adapters(settings))
    run_id = run.id

    def done() -> bool:
        with engine.connect() as conn:
            return queue.in_flight(conn, run_id) == 0

    def progress() -> None:
        if on_progress:
            with engine.connect() as conn:
                counts = queue.status_counts(conn, run_id)
            on_progress(counts["delivered"] + counts["failed"] + counts["expired"], plan.queued)

    dispatcher.run_until(done, on_check=progress)
    campaigns.transition(engine, campaign.id, "complete", APPROVER)
    report = reports.build(engine, campaign.id, run_id, now=utcnow())
    province = divisions.load().province(PROVINCE)
    out = workspace / "reports"
    options = {"province": province.name if province else PROVINCE, "department": settings.province.department}
    csv_path = reports.write(report, "csv", out / f"campaign-{campaign.id}-run-{run_id}.csv", **options)
    html_path = reports.write(report, "html", out / f"campaign-{campaign.id}-run-{run_id}.html", **options)
    return DemoResult(campaign.id, run_id, summary, report, csv_path, html_path, audience_path, rejects_path)


def _opt_out_a_few(engine: Engine, audience_path: Path) -> None:
    """Two subscribers asked not to be messaged: they appear as skipped in the report."""
    with audience_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))[1:40]
    optouts.add(engine, [(int(row[0]), row[2]) for row in rows[10:12]], "demo")
