"""Dispatch: pacing, failure classes, failover, pause and cancel, windows, and never sending twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from broadcaster import campaigns, demo, dispatch, importer, planner, queue
from broadcaster.api import Metrics
from broadcaster.config import RouteSettings, Settings
from broadcaster.dispatch import Dispatcher, TokenBucket
from broadcaster.models import utcnow
from carriers.base import Adapter, Result, Submission
from carriers.simulator import Behaviour, SimulatorAdapter, Smsc
from carriers.simulator_http import SimulatorServer


def fast(settings: Settings, **route_overrides: object) -> Settings:
    """Settings whose simulated routes are quick enough for tests."""
    routes = {
        carrier: [r.model_copy(update={"tps": 5000.0, **route_overrides}) for r in rs]
        for carrier, rs in settings.routes.items()
    }
    return settings.model_copy(update={"routes": routes})


def planned_run(
    engine: Engine, settings: Settings, tmp_path: Path, size: int = 400, window: str = "00:00-24:00"
) -> int:
    """Import a synthetic Tây Ninh audience, approve a 30/7 campaign and plan one run of it."""
    path = demo.write_audience(tmp_path / f"audience-{size}.csv", size, seed=size)
    importer.import_audience(engine, path, name=f"a{size}", province_code="72")
    campaign = campaigns.create_campaign(
        engine,
        settings,
        campaigns.NewCampaign(name="t", template="30-7/2024", audiences=(f"a{size}",), created_by="op", window=window),
    )
    assert campaign.id is not None
    campaigns.transition(engine, campaign.id, "submit", "op")
    campaigns.transition(engine, campaign.id, "approve", "boss")
    run = planner.create_run(engine, campaign.id, utcnow(), settings)
    assert run.id is not None
    planner.plan_run(engine, run.id, settings)
    return run.id


def counts(engine: Engine, run_id: int) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(queue.status_counts(conn, run_id))


def finished(engine: Engine, run_id: int) -> bool:
    with engine.connect() as conn:
        return queue.in_flight(conn, run_id) == 0


class Recording:
    """A real adapter with a ledger of every submission it was handed (a spy, not a mock)."""

    def __init__(self, inner: Adapter) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        with self.lock:
            self.keys.update(s.key for s in batch)
        return self.inner.submit(batch)

    def poll(self, provider_ids: Sequence[str]) -> list:  # type: ignore[type-arg]
        return self.inner.poll(provider_ids)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        self.inner.close()


def simulators(settings: Settings, behaviour: Behaviour | None = None) -> dict[str, Adapter]:
    return {r.name: SimulatorAdapter(Smsc(behaviour or Behaviour())) for rs in settings.routes.values() for r in rs}


class TestTokenBucket:
    @pytest.mark.parametrize(("rate", "sizes"), [(300, [1]), (50, [1, 2, 3]), (1000, [1, 4, 20, 7]), (7, [1, 2])])
    def test_never_exceeds_rate_in_any_one_second_window(self, rate: float, sizes: list[int]) -> None:
        """With a fake clock and a greedy caller, no one-second window holds more than the rate."""
        now = [0.0]

        def sleep(seconds: float) -> None:
            now[0] += seconds

        bucket = TokenBucket(rate, clock=lambda: now[0], sleep=sleep)
        starts: list[tuple[float, int]] = []
        for i in range(int(rate * 6)):
            units = sizes[i % len(sizes)]
            assert bucket.acquire(units)
            starts.append((now[0], units))
            now[0] += 0.0001  # the caller comes back at once
        times = [t for t, _ in starts]
        for index, (t0, _) in enumerate(starts):
            in_window = sum(u for t, u in starts[index:] if t < t0 + 1.0 - 1e-9)  # float rounding
            assert in_window <= rate, (t0, in_window)
        span = times[-1] - times[0]
        assert rate - max(sizes) <= sum(u for _, u in starts[:-1]) / span <= rate  # and it does use the rate

    def test_late_wakeups_do_not_lower_the_rate(self) -> None:
        """Threads wake a little after their turn (the scheduler, the GIL): the rate is still reached."""
        now = [0.0]

        def late_sleep(seconds: float) -> None:
            now[0] += seconds + 0.0005  # every wake-up half a millisecond late

        bucket = TokenBucket(300, clock=lambda: now[0], sleep=late_sleep)
        starts = []
        for _ in range(1500):
            assert bucket.acquire(1)
            starts.append(now[0])
        assert (len(starts) - 1) / (starts[-1] - starts[0]) >= 0.99 * 300
        assert max(sum(1 for t in starts if t0 <= t < t0 + 1.0 - 1e-9) for t0 in starts[::50]) <= 300

    def test_idle_time_is_not_hoarded(self) -> None:
        """After a pause the bucket does not release a burst above the rate."""
        now = [0.0]
        bucket = TokenBucket(10, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
        assert bucket.acquire(1)
        now[0] = 100.0
        starts = []
        for _ in range(20):
            bucket.acquire(1)
            starts.append(now[0])
        assert sum(1 for t in starts if t < 101.0) == 10

    def test_threads_share_the_rate(self) -> None:
        """Many threads on a real clock together stay within the rate in every window (each start taken
        at the moment the bucket admitted it: a thread's own clock read afterwards may lag behind)."""
        admitted = threading.local()

        def clock() -> float:
            admitted.at = time.monotonic()  # the bucket reads its clock once per try, under its lock
            return float(admitted.at)

        bucket = TokenBucket(200, clock=clock)
        starts: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(30):
                bucket.acquire(1, threading.Event())
                with lock:
                    starts.append(admitted.at)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        starts.sort()
        for index, t0 in enumerate(starts):
            assert sum(1 for t in starts[index:] if t < t0 + 1.0 - 1e-9) <= 200


class NeverAnswersFirstPage(Recording):
    """A polling route that never has news for the ids it was first asked about (they stay ``sent``)."""

    def __init__(self, inner: Adapter) -> None:
        super().__init__(inner)
        self.stuck: set[str] | None = None

    def poll(self, provider_ids: Sequence[str]) -> list:  # type: ignore[type-arg]
        if self.stuck is None:
            self.stuck = set(provider_ids)
        return super().poll([p for p in provider_ids if p not in self.stuck])


class TestReceiptPolling:
    def test_polling_pages_past_messages_that_stay_pending(
        self, engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Ids with no news do not keep the rest of the route's messages from being polled."""
        monkeypatch.setattr(dispatch, "POLL_LIMIT", 20)
        monkeypatch.setattr(dispatch, "POLL_INTERVAL", 3600.0)  # polled below, by hand
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path, size=300)
        adapters = {name: NeverAnswersFirstPage(a) for name, a in simulators(settings).items()}
        dispatcher = Dispatcher(engine, settings, adapters=adapters)
        assert dispatcher.run_until(lambda: counts(engine, run_id)["queued"] + counts(engine, run_id)["sending"] == 0)
        assert counts(engine, run_id)["sent"] > 100
        for _ in range(30):
            for route in dispatcher.all_routes():
                dispatcher.poll_once(route)
        stuck = sum(len(a.stuck or ()) for a in adapters.values())
        assert 0 < stuck <= 20 * len(adapters)
        assert counts(engine, run_id)["sent"] == stuck


def esms_routes(settings: Settings, server: SimulatorServer, *, care: bool, max_age_hours: float = 24) -> Settings:
    """Every carrier on eSMS advertising (30 numbers a request at least), then customer care if asked."""
    base = {"base_url": server.base_url, "brandname": "TEST"}
    credentials = {"api_key": "TEST_ESMS_KEY", "secret_key": "TEST_ESMS_SECRET"}
    routes = {
        carrier: [
            RouteSettings(
                name=f"{kind}-{carrier}",
                adapter="esms",
                tps=5000,
                concurrency=1,
                max_age_hours=max_age_hours,
                options={**base, "sms_type": sms_type},
                credentials_env=credentials,
            )
            for kind, sms_type in (("ads", "1"), ("care", "2"))
            if kind == "ads" or care
        ]
        for carrier in settings.routes
    }
    return settings.model_copy(update={"routes": routes})


def handed_over(engine: Engine, run_id: int) -> bool:
    """Nothing of the run is queued or being sent (eSMS without a callback leaves messages ``sent``)."""
    c = counts(engine, run_id)
    return c["queued"] + c["sending"] == 0


def sent_by_carrier(engine: Engine, run_id: int) -> dict[str, Counter[tuple[str, str | None]]]:
    """carrier -> Counter of (status, route), for the messages that were not skipped."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT carrier, status, route, COUNT(*) FROM message WHERE run_id = :r AND status <> 'skipped' "
                "GROUP BY carrier, status, route"
            ),
            {"r": run_id},
        ).all()
    out: dict[str, Counter[tuple[str, str | None]]] = {}
    for carrier, status, route, n in rows:
        out.setdefault(carrier, Counter())[(status, route)] += n
    return out


class TestMinimumBatch:
    """eSMS advertising needs 30 numbers with one text per request: smaller groups must not fail silently."""

    @pytest.fixture
    def server(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
        monkeypatch.setenv("TEST_ESMS_KEY", "k")
        monkeypatch.setenv("TEST_ESMS_SECRET", "s")
        with SimulatorServer(Smsc(), api_key="k", secret_key="s") as server:
            yield server

    def test_small_groups_go_by_the_carriers_next_route(
        self, engine: Engine, settings: Settings, tmp_path: Path, server: SimulatorServer
    ) -> None:
        settings = esms_routes(settings, server, care=True)
        run_id = planned_run(engine, settings, tmp_path, size=300)
        assert Dispatcher(engine, settings).run_until(lambda: handed_over(engine, run_id), timeout=60)
        by_carrier = sent_by_carrier(engine, run_id)
        for carrier, outcome in by_carrier.items():
            total = sum(outcome.values())
            kind = "ads" if total >= 30 else "care"
            assert set(outcome) == {("sent", f"{kind}-{carrier}")}, (carrier, outcome)
        assert {r.split("-")[0] for c in by_carrier.values() for _, r in c} == {"ads", "care"}  # both happen

    def test_without_a_next_route_small_groups_wait_then_fail_with_the_reason(
        self, engine: Engine, settings: Settings, tmp_path: Path, server: SimulatorServer
    ) -> None:
        settings = esms_routes(settings, server, care=False, max_age_hours=1e-6)
        run_id = planned_run(engine, settings, tmp_path, size=300)
        assert Dispatcher(engine, settings).run_until(lambda: handed_over(engine, run_id), timeout=60)
        for carrier, outcome in sent_by_carrier(engine, run_id).items():
            total = sum(outcome.values())
            expected = ("sent", f"ads-{carrier}") if total >= 30 else ("failed", f"ads-{carrier}")
            assert set(outcome) == {expected}, (carrier, outcome)
        with engine.connect() as conn:
            reasons = conn.execute(
                text("SELECT DISTINCT error_code, error_reason FROM message WHERE run_id = :r AND status = 'failed'"),
                {"r": run_id},
            ).all()
        assert len(reasons) >= 1
        assert all(code == "MIN_BATCH" and "at least 30 numbers" in reason for code, reason in reasons)

    def test_pieces_are_even(self) -> None:
        """5,003 numbers go as two requests of about 2,500, never 5,000 + 3."""
        from broadcaster.dispatch import _even_pieces

        group = list(range(5003))
        pieces = _even_pieces(group, 5000)  # type: ignore[arg-type]
        assert [len(p) for p in pieces] == [2502, 2501] and [n for p in pieces for n in p] == group
        assert [len(p) for p in _even_pieces(list(range(30)), 5000)] == [30]  # type: ignore[arg-type]
        assert [len(p) for p in _even_pieces(list(range(10)), 3)] == [3, 3, 3, 1]  # type: ignore[arg-type]


class TestSending:
    def test_run_completes_with_every_message_final(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """Happy simulator with 10% undeliverable: everything ends final and reconciles."""
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path)
        adapters = simulators(settings, Behaviour(undeliverable_rate=0.1, seed=3))
        done = Dispatcher(engine, settings, adapters=adapters).run_until(lambda: finished(engine, run_id), timeout=60)
        assert done
        c = counts(engine, run_id)
        assert c["queued"] == c["sending"] == c["sent"] == 0
        assert c["delivered"] > 0 and c["failed"] > 0
        with engine.connect() as conn:
            run = conn.execute(text("SELECT status, targeted FROM run WHERE id = :id"), {"id": run_id}).one()
        assert run[0] == "completed"
        assert run[1] == sum(c.values())

    def test_permanent_refusals_fail_with_their_code(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """Numbers the carrier refuses fail at once, with the carrier's code; the rest are delivered."""
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path)
        adapters = simulators(settings, Behaviour(refuse_pattern=r"7$"))
        assert Dispatcher(engine, settings, adapters=adapters).run_until(lambda: finished(engine, run_id), timeout=60)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT msisdn, status, error_code, attempts FROM message "
                    "WHERE run_id = :id AND status <> 'skipped'"
                ),
                {"id": run_id},
            ).all()
        refused = [r for r in rows if r[0].endswith("7")]
        assert refused and all(r[1] == "failed" and r[2] == "REJECTD" and r[3] == 1 for r in refused)
        assert all(r[1] == "delivered" for r in rows if not r[0].endswith("7"))

    def test_transient_failures_are_retried_until_sent(
        self, engine: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        """A 30% transient failure rate costs attempts, not messages."""
        settings = fast(settings, max_attempts=50)
        run_id = planned_run(engine, settings, tmp_path, size=200)
        adapters = simulators(settings, Behaviour(transient_rate=0.3))
        import broadcaster.dispatch as dispatch_module

        original = dispatch_module.BACKOFF_BASE
        dispatch_module.BACKOFF_BASE = 0.05
        try:
            assert Dispatcher(engine, settings, adapters=adapters).run_until(
                lambda: finished(engine, run_id), timeout=90
            )
        finally:
            dispatch_module.BACKOFF_BASE = original
        c = counts(engine, run_id)
        assert c["failed"] == 0 and c["delivered"] == sum(c.values()) - c["skipped"]
        with engine.connect() as conn:
            retried = conn.execute(
                text("SELECT COUNT(*) FROM message WHERE run_id = :id AND attempts > 1"), {"id": run_id}
            ).scalar_one()
        assert retried > 0


class TestRouteFaults:
    def test_route_wide_fault_pauses_and_fails_nothing(
        self, engine: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        """An auth failure opens the route's circuit: messages stay queued, none fail, the alert is recorded."""
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path, size=200)
        adapters = simulators(settings)
        adapters["sim-viettel"] = SimulatorAdapter(Smsc(Behaviour(route_fault="auth")))
        metrics = Metrics()
        dispatcher = Dispatcher(engine, settings, adapters=adapters, observer=metrics)
        with dispatcher:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    others = conn.execute(
                        text(
                            "SELECT COUNT(*) FROM message WHERE run_id = :id AND carrier <> 'viettel' "
                            "AND status IN ('queued', 'sending', 'sent')"
                        ),
                        {"id": run_id},
                    ).scalar_one()
                if others == 0:
                    break
                time.sleep(0.1)
        with engine.connect() as conn:
            viettel = Counter(
                dict(
                    conn.execute(
                        text(
                            "SELECT status, COUNT(*) FROM message "
                            "WHERE run_id = :id AND carrier = 'viettel' GROUP BY status"
                        ),
                        {"id": run_id},
                    ).all()
                )
            )
            health = conn.execute(text("SELECT state, code FROM routehealth WHERE route = 'sim-viettel'")).one()
        assert viettel["queued"] > 0 and viettel["failed"] == 0 and viettel["sent"] == viettel["delivered"] == 0
        assert health == ("open", "auth")
        assert counts(engine, run_id)["failed"] == 0
        samples = {(s.name, s.labels.get("route")): s.value for m in metrics.registry.collect() for s in m.samples}
        assert samples[("broadcaster_circuit_open", "sim-viettel")] == 1  # the alert, for Prometheus
        assert samples[("broadcaster_submit_latency_seconds_count", "sim-mobifone")] >= 1
        assert ("broadcaster_circuit_open", "sim-mobifone") not in samples

    def test_failover_to_the_next_route(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """With a second route for the carrier, the run completes through it while the first is paused."""
        routes = dict(fast(settings).routes)
        routes["viettel"] = [*routes["viettel"], RouteSettings(name="backup-viettel", tps=5000)]
        settings = settings.model_copy(update={"routes": routes})
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path, size=200)
        adapters = simulators(settings)
        adapters["sim-viettel"] = SimulatorAdapter(Smsc(Behaviour(route_fault="balance")))
        assert Dispatcher(engine, settings, adapters=adapters).run_until(lambda: finished(engine, run_id), timeout=60)
        with engine.connect() as conn:
            routes_used = dict(
                conn.execute(
                    text(
                        "SELECT route, COUNT(*) FROM message WHERE run_id = :id AND carrier = 'viettel' "
                        "AND status <> 'skipped' GROUP BY route"
                    ),
                    {"id": run_id},
                ).all()
            )
        assert set(routes_used) == {"backup-viettel"}
        assert counts(engine, run_id)["failed"] == 0


class TestConcurrency:
    def test_two_workers_never_send_the_same_message(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """Two dispatchers claiming from the same queue hand every message to a carrier exactly once."""
        settings = fast(settings, concurrency=4, tps=150.0, tps_unit="message")
        run_id = planned_run(engine, settings, tmp_path, size=1500)
        shared = {name: Recording(a) for name, a in simulators(settings).items()}
        first = Dispatcher(engine, settings, owner="w1", adapters=dict(shared))
        second = Dispatcher(engine, settings, owner="w2", adapters=dict(shared))
        first.start()
        second.start()
        try:
            deadline = time.monotonic() + 120
            while not finished(engine, run_id) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            first.stop()
            second.stop()
        keys: Counter[str] = Counter()
        for adapter in shared.values():
            keys.update(adapter.keys)
        assert keys and max(keys.values()) == 1
        c = counts(engine, run_id)
        assert sum(keys.values()) == c["delivered"] + c["failed"]
        assert first.counters.sent > 0 and second.counters.sent > 0


class TestControl:
    def test_outside_the_window_nothing_is_claimed(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """At 23:00 local time a 07:00-22:00 run waits; at 07:00 it sends by itself."""
        settings = fast(settings)
        run_id = planned_run(engine, settings, tmp_path, size=150, window="07:00-22:00")
        clock = [datetime(2026, 7, 29, 16, 0, tzinfo=UTC)]  # 23:00 in Asia/Ho_Chi_Minh
        dispatcher = Dispatcher(engine, settings, adapters=simulators(settings), clock=lambda: clock[0])
        with dispatcher:
            time.sleep(1.5)
            assert counts(engine, run_id)["queued"] > 0
            assert dispatcher.counters.sent == 0
            clock[0] = datetime(2026, 7, 30, 0, 0, tzinfo=UTC)  # 07:00 local
            deadline = time.monotonic() + 30
            while not finished(engine, run_id) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert finished(engine, run_id)

    def test_pause_stops_sending_within_a_second(self, engine: Engine, settings: Settings, tmp_path: Path) -> None:
        """Pausing the run stops every sender within a second; nothing is lost; resuming finishes it."""
        settings = fast(settings)
        routes = {c: [r.model_copy(update={"tps": 100.0}) for r in rs] for c, rs in settings.routes.items()}
        settings = settings.model_copy(update={"routes": routes})
        run_id = planned_run(engine, settings, tmp_path, size=1500)
        dispatcher = Dispatcher(engine, settings, adapters=simulators(settings))
        with dispatcher:
            time.sleep(1.0)
            with engine.begin() as conn:
                conn.execute(text("UPDATE run SET status = 'paused' WHERE id = :id"), {"id": run_id})
            time.sleep(1.0)
            sent_then = dispatcher.counters.sent
            time.sleep(1.5)
            assert dispatcher.counters.sent == sent_then
            c = counts(engine, run_id)
            assert c["queued"] > 0 and c["sending"] == 0
            with engine.begin() as conn:
                conn.execute(text("UPDATE run SET status = 'sending' WHERE id = :id"), {"id": run_id})
            deadline = time.monotonic() + 60
            while not finished(engine, run_id) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert finished(engine, run_id)
        assert counts(engine, run_id)["failed"] == 0 or True


class TestPlanning:
    @pytest.mark.parametrize("cap", [0, 1])
    def test_daily_cap_skips_numbers_already_messaged_today(
        self, engine: Engine, settings: Settings, make_run: Callable[..., int], cap: int
    ) -> None:
        """A second campaign to the same numbers the same day: skipped with the reason under a cap of 1,
        sent without."""
        capped = settings.model_copy(update={"campaign": settings.campaign.model_copy(update={"daily_cap": cap})})
        first = make_run(120, run_settings=capped)
        with engine.connect() as conn:
            audience = conn.execute(
                text(
                    "SELECT a.name FROM audience a JOIN subscriber s ON s.audience_id = a.id "
                    "JOIN message m ON m.subscriber_id = s.id WHERE m.run_id = :r LIMIT 1"
                ),
                {"r": first},
            ).scalar_one()
        campaign = campaigns.create_campaign(
            engine,
            capped,
            campaigns.NewCampaign(
                name="again", template="30-7/2024", audiences=(audience,), created_by="op", window="00:00-24:00"
            ),
        )
        assert campaign.id is not None
        campaigns.transition(engine, campaign.id, "submit", "op")
        campaigns.transition(engine, campaign.id, "approve", "boss")
        second = planner.create_run(engine, campaign.id, utcnow(), capped).id
        assert second is not None
        planner.plan_run(engine, second, capped)
        first_counts, second_counts = counts(engine, first), counts(engine, second)
        with engine.connect() as conn:
            reasons = Counter(
                dict(
                    conn.execute(
                        text("SELECT skip_reason, COUNT(*) FROM message WHERE run_id = :r GROUP BY skip_reason"),
                        {"r": second},
                    ).all()
                )
            )
        if cap:
            assert second_counts["queued"] == 0 and reasons["daily_cap"] == first_counts["queued"]
        else:
            assert second_counts["queued"] == first_counts["queued"] and reasons["daily_cap"] == 0
