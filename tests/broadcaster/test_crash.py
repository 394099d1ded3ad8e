"""Workers that die: SIGKILL at random moments loses nothing and, with idempotency keys, sends nothing twice.

Real parts: `broadcaster worker` processes, the eSMS adapter over HTTP, the simulated SMSC serving the
eSMS protocol on 127.0.0.1 (it remembers every RequestId it accepted), and the test's database.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from audiences.phones import CARRIERS
from broadcaster.config import Settings
from carriers.simulator import Behaviour, Smsc
from carriers.simulator_http import SimulatorServer


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(Smsc(Behaviour(latency=0.002))) as server:
        yield server


def write_settings(folder: Path, base_url: str) -> None:
    """Every carrier sends through the eSMS adapter to the simulator; leases are short."""
    lines = ["[dispatch]", "lease_seconds = 2", "heartbeat_seconds = 1", "chunk = 20", ""]
    for carrier in CARRIERS:
        lines += [
            f"[[routes.{carrier}]]",
            f'name = "esms-{carrier}"',
            'adapter = "esms"',
            "tps = 100000",
            'tps_unit = "message"',
            "concurrency = 4",
            "batch = 1",
            f'options = {{ base_url = "{base_url}", concurrency = 1 }}',
            'credentials_env = { api_key = "CRASH_KEY", secret_key = "CRASH_SECRET" }',
            "",
        ]
    (folder / "broadcaster.toml").write_text("\n".join(lines), encoding="utf-8")


def start_worker(folder: Path, database_url: str, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    env.update(BROADCASTER_DATABASE_URL=database_url, CRASH_KEY="k", CRASH_SECRET="s")
    return subprocess.Popen(
        [sys.executable, "-m", "broadcaster", "--dir", str(folder), "worker", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def unsent(engine: Engine, run_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status IN ('queued', 'sending')"),
                {"r": run_id},
            ).scalar_one()
        )


def test_sigkill_loses_nothing_and_sends_nothing_twice(
    engine: Engine,
    settings: Settings,
    database_url: str,
    make_run: Callable[..., int],
    simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    """Kill a worker five times mid-run; after a final worker, every message was sent exactly once."""
    folder = tmp_path / "ws"
    folder.mkdir()
    write_settings(folder, simulator.base_url)
    run_id = make_run(20_000)
    with engine.connect() as conn:
        to_send = conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status = 'queued'"), {"r": run_id}
        ).scalar_one()
    rng = random.Random(7)
    for kill in range(5):
        before = unsent(engine, run_id)
        worker = start_worker(folder, database_url, f"victim-{kill}")
        deadline = time.monotonic() + 90
        while unsent(engine, run_id) == before and time.monotonic() < deadline:  # wait until it is sending
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 1.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    killed_with_leases = to_send - unsent(engine, run_id)
    assert killed_with_leases < to_send, "the kills happened before the run was over"
    final = start_worker(folder, database_url, "survivor")
    try:
        deadline = time.monotonic() + 240
        while unsent(engine, run_id) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        final.send_signal(signal.SIGTERM)
        final.wait(60)
    assert unsent(engine, run_id) == 0
    with engine.connect() as conn:
        sent = conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status IN ('sent', 'delivered', 'failed')"),
            {"r": run_id},
        ).scalar_one()
    assert sent == to_send
    smsc = simulator.smsc
    assert smsc.submitted == to_send
    assert max(smsc.deliveries.values()) == 1
    assert sum(smsc.deliveries.values()) == to_send


def test_sigterm_finishes_in_flight_and_exits_zero(
    engine: Engine,
    settings: Settings,
    database_url: str,
    make_run: Callable[..., int],
    simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    """SIGTERM: the worker stops within seconds, exit code 0, no lease left behind, nothing lost."""
    folder = tmp_path / "ws"
    folder.mkdir()
    write_settings(folder, simulator.base_url)
    run_id = make_run(3_000)
    worker = start_worker(folder, database_url, "polite")
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        total = conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status = 'queued'"), {"r": run_id}
        ).scalar_one()
    while unsent(engine, run_id) == total and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(30)
    assert code == 0, worker.stderr.read().decode() if worker.stderr else code
    with engine.connect() as conn:
        leased = conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status = 'sending'"), {"r": run_id}
        ).scalar_one()
        heartbeat = conn.execute(text("SELECT COUNT(*) FROM workerheartbeat WHERE owner = 'polite'")).scalar_one()
    assert leased == 0 and heartbeat == 0
    assert simulator.smsc.submitted == total - unsent(engine, run_id)
