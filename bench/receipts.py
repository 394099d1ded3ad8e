"""Receipt callbacks per second over real HTTP, against the app ``broadcaster serve`` runs, on SQLite.

100,000 eSMS-style GET callbacks (``--quick``: 10,000) from 32 concurrent keep-alive connections
(asyncio on raw sockets in a process of its own, light enough not to be the bottleneck) against uvicorn serving
``create_app`` in a process of its own; each callback is stored and applied before its 200. The
baseline is the same load against a no-op endpoint added to the same app. Every receipt is checked to
be stored and every message delivered afterwards.

    .venv/bin/python bench/receipts.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import requests
from _support import CREDENTIALS, plan, seed, with_route, workspace
from sqlalchemy import text

from broadcaster.config import RouteSettings, load_settings
from broadcaster.models import utcnow

ROUTE, SECRET_ENV, SECRET = "bench-esms", "BENCH_CALLBACK_SECRET", "bench-callback-secret"
CLIENT_PROCESSES, CONNECTIONS_EACH = 1, 32


def route() -> RouteSettings:
    return RouteSettings(
        name=ROUTE,
        adapter="esms",
        options={"base_url": "http://127.0.0.1:9/"},
        credentials_env=CREDENTIALS,
        callback_secret_env=SECRET_ENV,
    )


def serve(folder: str, port: int) -> None:
    """The server process: the app of ``broadcaster serve`` plus a no-op endpoint for the baseline."""
    import uvicorn

    from broadcaster.api import create_app

    settings = with_route(load_settings(folder), route())
    app = create_app(settings, console=False)

    @app.get("/bench/noop")
    async def noop() -> dict[str, bool]:  # the cheapest endpoint the app can have: no thread, no database
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


async def _connection(host: str, port: int, paths: Iterator[str], answered: list[int]) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs one after another, as a carrier's callback
    worker does; counts 200 answers."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                answered[0] += 1
    finally:
        writer.close()


def _client(args: tuple[str, int, list[str]]) -> int:
    """A client process: ``CONNECTIONS_EACH`` concurrent connections sharing the list of paths."""
    host, port, paths = args
    answered = [0]
    shared = iter(paths)

    async def run() -> None:
        await asyncio.gather(*(_connection(host, port, shared, answered) for _ in range(CONNECTIONS_EACH)))

    asyncio.run(run())
    return answered[0]


def load(port: int, paths: list[str]) -> tuple[float, int]:
    """Seconds to get every path answered with 32 concurrent connections; how many were answered 200."""
    parts = [paths[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    with multiprocessing.get_context("spawn").Pool(CLIENT_PROCESSES) as pool:
        pool.map(abs, range(CLIENT_PROCESSES))  # the workers are up before the clock starts
        started = time.perf_counter()
        results = pool.map(_client, [("127.0.0.1", port, part) for part in parts])
        return time.perf_counter() - started, sum(results)


def callback_path(message_id: int) -> str:
    query = urlencode(
        {
            "SMSID": f"s{message_id}",
            "SendStatus": "5",
            "SendSuccess": "1",
            "SendFailed": "0",
            "RequestId": str(message_id),
            "telcoid": "1",
        }
    )
    return f"/receipts/{ROUTE}/{SECRET}?{query}"


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
            text(
                "UPDATE message SET status = 'sent', route = :route, provider_id = CAST(id AS TEXT), sent_at = :now "
                "WHERE run_id = :r"
            ),
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
        seconds, ok = load(port, [callback_path(i) for i in ids])
        baseline_seconds, _ = load(port, ["/bench/noop"] * len(ids))
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
