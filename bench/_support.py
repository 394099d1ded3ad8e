"""What the benchmarks share: a scratch workspace, a bulk-seeded audience, a planned run."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broadcaster import campaigns, db, planner  # noqa: E402
from broadcaster.config import RouteSettings, Settings, load_settings  # noqa: E402
from broadcaster.models import Audience, Subscriber, utcnow  # noqa: E402

KEY_ENV, SECRET_ENV = "BENCH_ESMS_API_KEY", "BENCH_ESMS_SECRET_KEY"
os.environ.setdefault(KEY_ENV, "bench-key")
os.environ.setdefault(SECRET_ENV, "bench-secret")
CREDENTIALS = {"api_key": KEY_ENV, "secret_key": SECRET_ENV}
DISTRICTS = ("703", "705", "706", "707", "708", "709", "710", "711", "712")
PREFIXES = ("96", "97", "98", "86", "32", "33", "34", "35", "36", "37", "38", "39")
TEXT = "Toan dan tich cuc tham gia phong, chong mua ban nguoi. Goi 111 khi can ho tro."


def workspace(url: str | None = None) -> tuple[Engine, Settings, Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    url = url or f"sqlite:///{folder / 'bench.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    (folder / "t.j2").write_text(TEXT, encoding="utf-8")
    settings = load_settings(folder, environ={"BROADCASTER_DATABASE_URL": url})
    return engine, settings, folder


def with_route(settings: Settings, route: RouteSettings) -> Settings:
    """Every subscriber of the bench is on Viettel; Viettel gets exactly this route."""
    routes = dict(settings.routes)
    routes["viettel"] = [route]
    return settings.model_copy(update={"routes": routes})


def seed(engine: Engine, size: int, name: str = "bench") -> str:
    """``size`` distinct Viettel subscribers spread over the Tây Ninh districts, inserted in bulk."""
    rng = random.Random(size)
    numbers = rng.sample(range(10**7), size) if size <= 10**7 else range(size)
    audience = Audience.__table__  # type: ignore[attr-defined]
    subscriber = Subscriber.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        audience_id = conn.execute(
            audience.insert().values(name=name, province_code="72", created_at=utcnow()).returning(audience.c.id)
        ).scalar_one()
    chunk: list[dict[str, Any]] = []
    for index, number in enumerate(numbers):
        prefix = PREFIXES[index % len(PREFIXES)]
        chunk.append(
            {
                "audience_id": audience_id,
                "msisdn": f"+84{prefix}{number:07d}",
                "province_code": "72",
                "district_code": DISTRICTS[index % len(DISTRICTS)],
                "carrier": "viettel",
                "carrier_source": "prefix",
            }
        )
        if len(chunk) == 20_000:
            with engine.begin() as conn:
                conn.execute(subscriber.insert(), chunk)
            chunk = []
    if chunk:
        with engine.begin() as conn:
            conn.execute(subscriber.insert(), chunk)
    return name


def plan(engine: Engine, settings: Settings, folder: Path, audience: str) -> int:
    campaign = campaigns.create_campaign(
        engine,
        settings,
        campaigns.NewCampaign(
            name="bench",
            template=str(folder / "t.j2"),
            audiences=(audience,),
            created_by="bench",
            window="00:00-24:00",
            encoding="unicode",
        ),
    )
    assert campaign.id is not None
    campaigns.transition(engine, campaign.id, "submit", "bench")
    campaigns.transition(engine, campaign.id, "approve", "approver")
    run = planner.create_run(engine, campaign.id, utcnow(), settings)
    assert run.id is not None
    planner.plan_run(engine, run.id, settings)
    return run.id


def unsent(engine: Engine, run_id: int) -> bool:
    """Whether any message of the run is still to be handed to the carrier (found by the first one, so
    asking often costs the dispatcher being measured next to nothing)."""
    with db.reading(engine) as conn:
        return (
            conn.execute(
                text("SELECT 1 FROM message WHERE run_id = :r AND status IN ('queued', 'sending') LIMIT 1"),
                {"r": run_id},
            ).first()
            is not None
        )
