"""Receipt callbacks per second over real HTTP, against the app ``broadcaster serve`` runs, on SQLite.

100,000 eSMS-style GET callbacks (``--quick``: 10,000) from 32 concurrent clients (two client
processes of 16 threads, so the clients are not the bottleneck) against uvicorn serving
``create_app`` in a process of its own; each callback is stored and applied before its 200. The
baseline is the same load against a no-op endpoint added to the same app. Every receipt is checked to
be stored and every message delivered afterwards.

    .venv/bin/python bench/receipts.py --quick
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from _support import CREDENTIALS, plan, seed, with_route, workspace
from sqlalchemy import text

from broadcaster.config import RouteSettings, load_settings
from broadcaster.models import utcnow

ROUTE, SECRET_ENV, SECRET = "bench-esms", "BENCH_CALLBACK_SECRET", "bench-callback-secret"
CLIENT_PROCESSES, THREADS_EACH = 2, 16


def route() -> RouteSettings:
    return RouteSettings(
        name=ROUTE, adapter="esms", options={"base_url": "http://127.0.0.1:9/"},
        credentials_env=CREDENTIALS, callback_secret_env=SECRET_ENV,
    )


def serve(folder: str, port: int) -> None:
    """The server process: the app of ``broadcaster serve`` plus a no-op endpoint for the baseline."""
    import uvicorn

    from broadcaster.api import create_app

    settings = with_route(load_settings(folder), route())
    app = create_app(settings, console=False)

    @app.get("/bench/noop")
    def noop() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def _client(args: tuple[str, list[int]]) -> tuple[int, int]:
    url, ids = args
    lock, position = threading.Lock(), [0]
    ok = [0]

    def loop() -> None:
        session = requests.Session()
        while True:
            with lock:
                if position[0] >= len(ids):
                    return
                message_id = ids[position[0]]
                position[0] += 1
            params = {"SMSID": f"s{message_id}", "SendStatus": "5", "SendSuccess": "1", "SendFailed": "0",
                      "RequestId": str(message_id), "telcoid": "1"}
            if session.get(url, params=params, timeout=60).status_code == 200:
                with lock:
                    ok[0] += 1

    threads = [threading.Thread(target=loop) for _ in range(THREADS_EACH)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok[0], len(ids)


def load(url: str, ids: list[int]) -> tuple[float, int]:
    """Seconds to get ``ids`` through ``url`` with 32 concurrent clients; how many were answered 200."""
    parts = [ids[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    with multiprocessing.get_context("spawn").Pool(CLIENT_PROCESSES) as pool:
        started = time.perf_counter()
        results = pool.map(_client, [(url, part) for part in parts])
        return time.perf_counter() - started, sum(ok for ok, _ in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("FOLDER", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault(SECRET_ENV, SECRET)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    count = 10_000 if args.quick else 100_000
    engine, settings, folder = workspace()
    settings = with_route(settings, route())
    run_id = plan(engine, settings, folder, seed(engine, count))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE message SET status = 'sent', route = :route, provider_id = CAST(id AS TEXT), sent_at = :now "
                 "WHERE run_id = :r"),
            {"route": ROUTE, "r": run_id, "now": utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")},
        )
        ids = [row[0] for row in conn.execute(text("SELECT id FROM message WHERE run_id = :r"), {"r": run_id})]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "BROADCASTER_DATABASE_URL": settings.database_url}
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), str(port)], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        seconds, ok = load(f"http://127.0.0.1:{port}/receipts/{ROUTE}/{SECRET}", ids)
        baseline_seconds, _ = load(f"http://127.0.0.1:{port}/bench/noop", ids)
    finally:
        server.terminate()
        server.wait(30)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM receipt")).scalar_one()
        delivered = conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :r AND status = 'delivered'"), {"r": run_id}
        ).scalar_one()
    figures = {
        "bench": "receipts",
        "cores": os.cpu_count(),
        "callbacks": count,
        "answered_200": ok,
        "stored": stored,
        "delivered": delivered,
        "receipts_per_s": round(count / seconds),
        "baseline_per_s": round(count / baseline_seconds),
        "ratio": round(baseline_seconds / seconds, 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
