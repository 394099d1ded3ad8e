"""How fast dispatch sends, against a simulated carrier on 127.0.0.1, and how exactly it holds a rate.

Scenarios (each prints a line; the last line is one JSON object with every figure):

  a  one-number route (eSMS customer care over HTTP) at zero latency: msg/s through dispatch, and the
     same number of requests by a bare ``requests`` loop with the same threads; ``ratio``.
  b  batch route (eSMS advertising over HTTP, one content to many numbers, 4 sender threads): msg/s.
  c  100 ms latency, TPS cap 300: achieved rate / cap, and the worst one-second window / cap.
  d  a 1,000,000-message run by a ``broadcaster worker`` process (batch route): its peak RSS.
  e  PostgreSQL, 1 vs 4 ``broadcaster worker`` processes at 100 ms latency, no cap: the speed-up,
     from start to end and from the first send to the last (without the processes' start-up).

``--quick`` runs (a) and (c) with fewer messages, in under a minute. ``--only a,c`` picks scenarios;
``--postgres URL`` is needed for (e) (default: the local server, skipped if unreachable).

    .venv/bin/python bench/dispatch.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _support import CREDENTIALS, KEY_ENV, SECRET_ENV, TEXT, plan, seed, unsent, with_route, workspace  # noqa: E402

from broadcaster import db  # noqa: E402
from broadcaster.config import RouteSettings, Settings  # noqa: E402
from broadcaster.dispatch import Dispatcher  # noqa: E402
from carriers import create_adapter  # noqa: E402


def dispatch(engine: Engine, settings: Settings, run_id: int, adapters: dict[str, Any] | None = None) -> float:
    """Seconds from start until every message of the run has been handed to the carrier."""
    dispatcher = Dispatcher(engine, settings, adapters=adapters)
    started = time.perf_counter()
    done = dispatcher.run_until(lambda: not unsent(engine, run_id), timeout=3600, check_every=0.05)
    elapsed = time.perf_counter() - started
    if not done:
        raise SystemExit("dispatch did not finish")
    return elapsed


class SimulatorProcess:
    """``broadcaster simulator`` in a process of its own, so that it does not share our interpreter."""

    def __init__(self, *settings: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        args = [sys.executable, "-m", "broadcaster", "simulator", "--port", str(self.port)]
        for setting in settings:
            args += ["--set", setting]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.proc = subprocess.Popen(args, cwd=tempfile.gettempdir(), **quiet)
        self.base_url = f"http://127.0.0.1:{self.port}/MainService.svc/json/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise SystemExit("the simulator did not start")

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Stamped:
    """A real adapter that notes when each submission leaves (what the carrier's TPS counter sees)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.capabilities = inner, inner.capabilities
        self.times: list[float] = []

    def submit(self, batch: Any) -> Any:
        self.times.extend([time.monotonic()] * len(batch))
        return self.inner.submit(batch)

    def close(self) -> None:
        self.inner.close()


def esms_route(server: Any, *, sms_type: str = "2", tps: float = 1e6, concurrency: int = 8) -> RouteSettings:
    return RouteSettings(
        name="bench",
        adapter="esms",
        tps=tps,
        tps_unit="message",
        concurrency=concurrency,
        batch=1 if sms_type == "2" else None,
        # Sending only: receipt polling (one request per message after poll_interval) would double the
        # simulator's load for the bare loop's none; receipts have bench/receipts.py.
        options={
            "base_url": server.base_url,
            "sms_type": sms_type,
            "brandname": "BENCH",
            "concurrency": 1,
            "poll_interval": 3600,
        },
        credentials_env=CREDENTIALS,
    )


def bare_requests(server: Any, count: int, threads: int) -> float:
    """The same customer-care requests, by a plain requests loop with ``threads`` threads."""
    url = server.base_url.rstrip("/") + "/SendMultipleMessage_V4_post_json/"
    counter = iter(range(count))
    lock = threading.Lock()

    def loop() -> None:
        session = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            body = {
                "ApiKey": os.environ[KEY_ENV],
                "SecretKey": os.environ[SECRET_ENV],
                "Phone": f"09{n % 10**8:08d}",
                "Content": TEXT,
                "Brandname": "BENCH",
                "SmsType": "2",
                "IsUnicode": "0",
                "RequestId": f"bare-{n}",
            }
            session.post(url, json=body, timeout=(3, 10)).raise_for_status()

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def scenario_a(count: int) -> dict[str, Any]:
    threads = 8
    engine, settings, folder = workspace()
    with SimulatorProcess() as server:
        settings = with_route(settings, esms_route(server, concurrency=threads))
        run_id = plan(engine, settings, folder, seed(engine, count))
        seconds = dispatch(engine, settings, run_id)
    with SimulatorProcess() as server:
        bare = bare_requests(server, count, threads)
    ours, baseline = count / seconds, count / bare
    return {"a_msgs_per_s": round(ours), "a_baseline_per_s": round(baseline), "a_ratio": round(ours / baseline, 2)}


def scenario_b(count: int) -> dict[str, Any]:
    engine, settings, folder = workspace()
    with SimulatorProcess() as server:
        settings = with_route(settings, esms_route(server, sms_type="1", concurrency=4))
        run_id = plan(engine, settings, folder, seed(engine, count))
        seconds = dispatch(engine, settings, run_id)
    return {"b_batch_msgs_per_s": round(count / seconds)}


def scenario_c(count: int, cap: float = 300.0) -> dict[str, Any]:
    engine, settings, folder = workspace()
    with SimulatorProcess("latency=0.1") as server:
        route = esms_route(server, tps=cap, concurrency=48)
        settings = with_route(settings, route)
        run_id = plan(engine, settings, folder, seed(engine, count))
        adapter = Stamped(create_adapter(route.adapter, route.options, route.credentials()))
        dispatch(engine, settings, run_id, adapters={route.name: adapter})
        times = sorted(adapter.times)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    worst, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0 + 1e-9:  # a window is [t, t + 1): float rounding at its edge
            start += 1
        worst = max(worst, end - start + 1)
    return {
        "c_cap": cap,
        "c_achieved_per_s": round(achieved, 1),
        "c_rate_vs_cap": round(achieved / cap, 3),
        "c_worst_window_vs_cap": round(worst / cap, 3),
    }


def scenario_d(count: int) -> dict[str, Any]:
    """A ``broadcaster worker`` process (what an operator runs) sends the whole run through the eSMS
    advertising route of the simulator process; its peak RSS is read from /proc before it stops."""
    engine, settings, folder = workspace()
    with SimulatorProcess() as server:
        route = esms_route(server, sms_type="1", concurrency=2)
        (folder / "broadcaster.toml").write_text(_route_toml(route), encoding="utf-8")
        run_id = plan(engine, with_route(settings, route), folder, seed(engine, count))
        env = {**os.environ, "BROADCASTER_DATABASE_URL": settings.database_url}
        started = time.perf_counter()
        worker = subprocess.Popen(
            [sys.executable, "-m", "broadcaster", "--dir", str(folder), "worker", "--name", "d"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while unsent(engine, run_id):
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}")
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            peak_mb = _peak_rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(60)
    return {
        "d_messages": count,
        "d_seconds": round(seconds, 1),
        "d_msgs_per_s": round(count / seconds),
        "d_worker_peak_rss_mb": round(peak_mb),
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc: peak RSS cannot be read on this system")


def scenario_e(count: int, pg_url: str) -> dict[str, Any]:
    admin = create_engine(db.normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"bench_dispatch_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: the scenario is skipped, and says why
        return {"e_skipped": f"PostgreSQL not reachable: {type(exc).__name__}"}
    url = db.normalise_url(pg_url).rsplit("/", 1)[0] + f"/{name}"
    try:
        return {f"e_{k}": v for k, v in _speedup(count, url).items()}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _speedup(count: int, url: str) -> dict[str, Any]:
    seconds, sending = {}, {}
    with SimulatorProcess("latency=0.1") as server:
        for workers in (1, 4):
            engine, settings, folder = workspace(url)
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE message, batch, run, campaign, subscriber, audience, receipt CASCADE"))
            route = esms_route(server, concurrency=16)
            (folder / "broadcaster.toml").write_text(_route_toml(route), encoding="utf-8")
            settings = with_route(settings, route)
            run_id = plan(engine, settings, folder, seed(engine, count, name=f"e{workers}"))
            env = {**os.environ, "BROADCASTER_DATABASE_URL": url}
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "broadcaster", "--dir", str(folder), "worker", "--name", f"w{i}"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for i in range(workers)
            ]
            while unsent(engine, run_id):
                time.sleep(0.05)
            seconds[workers] = time.perf_counter() - started
            sending[workers] = _sending_seconds(engine, run_id)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            engine.dispose()
    return {
        "messages": count,
        "one_worker_per_s": round(count / seconds[1]),
        "four_workers_per_s": round(count / seconds[4]),
        "speedup": round(seconds[1] / seconds[4], 2),
        "sending_speedup": round(sending[1] / sending[4], 2),
    }


def _sending_seconds(engine: Engine, run_id: int) -> float:
    """From the first send recorded to the last (what the workers did, without their start-up)."""
    with engine.connect() as conn:
        first, last = conn.execute(
            text("SELECT MIN(sent_at), MAX(sent_at) FROM message WHERE run_id = :r"), {"r": run_id}
        ).one()
    return float((last - first).total_seconds())


def _route_toml(route: RouteSettings) -> str:
    options = ", ".join(f"{k} = {json.dumps(v)}" for k, v in route.options.items())
    creds = ", ".join(f"{k} = {json.dumps(v)}" for k, v in route.credentials_env.items())
    return (
        "[[routes.viettel]]\n"
        f'name = "{route.name}"\nadapter = "{route.adapter}"\ntps = {route.tps}\ntps_unit = "{route.tps_unit}"\n'
        f"concurrency = {route.concurrency}\noptions = {{ {options} }}\ncredentials_env = {{ {creds} }}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="(a) and (c) only, smaller, under a minute")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. a,c")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else ({"a", "c"} if args.quick else set("abcde"))
    sizes = {
        "a": 5_000 if args.quick else 100_000,
        "b": 200_000,
        "c": 3_000 if args.quick else 6_000,
        "d": 1_000_000,
        "e": 8_000,
    }
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "a": lambda: scenario_a(sizes["a"]),
        "b": lambda: scenario_b(sizes["b"]),
        "c": lambda: scenario_c(sizes["c"]),
        "d": lambda: scenario_d(sizes["d"]),
        "e": lambda: scenario_e(sizes["e"], args.postgres),
    }
    figures: dict[str, Any] = {"bench": "dispatch", "cores": os.cpu_count(), "quick": args.quick}
    for name in sorted(chosen):
        started = time.perf_counter()
        result = runs[name]()
        print(f"({name}) {result}  [{time.perf_counter() - started:.1f} s]", flush=True)
        figures.update(result)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
