"""What the HTTP adapters cost over the HTTP calls they make.

For each adapter, messages a second through the adapter's ``submit`` against a local peer, and the
same HTTP calls made by a bare ``requests`` loop (one session per thread, the same number of
threads, the same bodies), so ``ratio`` = adapter / baseline is the adapter's own overhead (goal
>= 0.9). The client's CPU time per message is reported too (``cpu_us_per_msg``): with client and peer
on the same few cores, throughput alone can hide overhead.

  esms     customer care against the HTTP simulator (``carriers.simulator_http``) at zero latency
  viettel  wsCpMt against a minimal SOAP responder that always answers result 1

Each peer runs in a process of its own. Rounds alternate baseline and adapter; the best round of each
counts. The last line is one JSON object.

    .venv/bin/python bench/adapters.py --quick

Adding a section (the SMPP adapter's, say): write ``bench_<name>(messages, threads) -> dict`` returning
``{"msgs_per_s", "baseline_per_s", "ratio", ...}`` (``measure`` below does the alternating rounds) and
register it in ``SECTIONS``; ``--only <name>`` then runs it alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carriers.base import Submission  # noqa: E402
from carriers.esms import SEND_CARE, EsmsAdapter, national  # noqa: E402
from carriers.viettel import ViettelAdapter  # noqa: E402

API_KEY, SECRET_KEY = "bench-api-key", "bench-secret-key"
TEXT = "Toan dan tich cuc tham gia phong, chong mua ban nguoi. Goi 111 khi can ho tro."
SOAP_OK = (
    b'<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
    b'<ns2:wsCpMtResponse xmlns:ns2="http://impl.bulkSms.ws/"><return><message>Insert MT_QUEUE: OK</message>'
    b"<result>1</result></return></ns2:wsCpMtResponse></S:Body></S:Envelope>"
)


# -- peers, each in a process of its own -------------------------------------------------------------


def _run_simulator(conn: Connection) -> None:
    from carriers.simulator import Smsc
    from carriers.simulator_http import SimulatorServer

    with SimulatorServer(Smsc(), api_key=API_KEY, secret_key=SECRET_KEY) as server:
        conn.send(server.base_url)
        conn.recv()  # until told to stop


class _SoapHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(SOAP_OK)))
        self.end_headers()
        self.wfile.write(SOAP_OK)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _run_soap(conn: Connection) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SoapHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conn.send(f"http://127.0.0.1:{httpd.server_address[1]}/bulkapi")
    conn.recv()
    httpd.shutdown()


@contextmanager
def peer(target: Callable[[Connection], None]) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child,), daemon=True)
    process.start()
    try:
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


# -- measuring -----------------------------------------------------------------------------------


def submissions(prefix: str, n: int) -> list[Submission]:
    return [
        Submission(key=f"{prefix}{i}", msisdn=f"+8496{i % 10_000_000:07d}", text=TEXT, encoding="gsm7", sender="BENCH")
        for i in range(n)
    ]


def baseline_loop(
    threads: int, items: Sequence[Submission], call: Callable[[requests.Session, Submission], None]
) -> None:
    """The bare loop: ``threads`` threads, a session each, one request per message."""
    chunks = [items[i::threads] for i in range(threads)]

    def work(chunk: Sequence[Submission]) -> None:
        with requests.Session() as session:
            for item in chunk:
                call(session, item)

    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def adapter_loop(adapter: Any, items: Sequence[Submission]) -> None:
    size = adapter.capabilities.max_batch
    for start in range(0, len(items), size):
        results = adapter.submit(items[start : start + size])
        failed = [r for r in results if not hasattr(r, "provider_id")]
        if failed:
            raise SystemExit(f"the adapter failed messages: {failed[:3]}")


def timed(run: Callable[[], None], n: int) -> tuple[float, float]:
    """(messages a second, client CPU microseconds a message) for ``run`` sending ``n`` messages."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1e6


def measure(
    messages: int,
    rounds: int,
    baseline: Callable[[Sequence[Submission]], None],
    adapter: Callable[[Sequence[Submission]], None],
) -> dict[str, float]:
    """Alternating rounds of both (after a warm-up of each); the best round of each side counts."""
    baseline(submissions("warm-b-", 200))
    adapter(submissions("warm-a-", 200))
    base: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for r in range(rounds):
        base.append(timed(lambda r=r: baseline(submissions(f"b{r}-", messages)), messages))
        ours.append(timed(lambda r=r: adapter(submissions(f"a{r}-", messages)), messages))
    best_base, best_ours = max(base), max(ours)
    return {
        "msgs_per_s": round(best_ours[0]),
        "baseline_per_s": round(best_base[0]),
        "ratio": round(best_ours[0] / best_base[0], 3),
        "cpu_us_per_msg": round(min(c for _, c in ours), 1),
        "baseline_cpu_us_per_msg": round(min(c for _, c in base), 1),
    }


def bench_esms(messages: int, threads: int, rounds: int) -> dict[str, float]:
    with peer(_run_simulator) as base_url:
        adapter = EsmsAdapter(
            api_key=API_KEY, secret_key=SECRET_KEY, options={"base_url": base_url, "concurrency": threads}
        )
        url = base_url + SEND_CARE

        def call(session: requests.Session, item: Submission) -> None:
            body = {
                "ApiKey": API_KEY,
                "SecretKey": SECRET_KEY,
                "Phone": national(item.msisdn),
                "Content": item.text,
                "Brandname": item.sender,
                "SmsType": "2",
                "IsUnicode": "0",
                "RequestId": item.key,
            }
            answer = session.post(url, json=body, timeout=(3.05, 15)).json()
            if answer["CodeResult"] != "100":
                raise SystemExit(f"the baseline got {answer}")

        try:
            figures = measure(
                messages,
                rounds,
                lambda items: baseline_loop(threads, items, call),
                lambda items: adapter_loop(adapter, items),
            )
        finally:
            adapter.close()
    return {**figures, "threads": threads}


def bench_viettel(messages: int, threads: int, rounds: int) -> dict[str, float]:
    with peer(_run_soap) as url:
        options = {"url": url, "cp_code": "CP", "concurrency": threads}
        adapter = ViettelAdapter(user="bench-user", password="bench-password", options=options)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

        def call(session: requests.Session, item: Submission) -> None:
            answer = session.post(url, data=adapter.request(item), headers=headers, timeout=(3.05, 15))
            if b"<result>1</result>" not in answer.content:
                raise SystemExit(f"the baseline got {answer.content[:200]!r}")

        try:
            figures = measure(
                messages,
                rounds,
                lambda items: baseline_loop(threads, items, call),
                lambda items: adapter_loop(adapter, items),
            )
        finally:
            adapter.close()
    return {**figures, "threads": threads}


SECTIONS: dict[str, Callable[[int, int, int], dict[str, float]]] = {
    "esms": bench_esms,
    "viettel": bench_viettel,
    # "smpp": bench_smpp,  # the SMPP adapter's section: against the smpp34 server, when it is written
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer messages: done in under a minute")
    parser.add_argument("--messages", type=int, help="messages a round (default 3000, quick 1000)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, help="rounds of each side (default 3, quick 2)")
    parser.add_argument("--only", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    args = parser.parse_args()
    messages = args.messages or (1000 if args.quick else 3000)
    rounds = args.rounds or (2 if args.quick else 3)
    names = args.only.split(",") if args.only else list(SECTIONS)
    figures: dict[str, Any] = {"bench": "adapters", "messages": messages, "threads": args.threads}
    for name in names:
        result = SECTIONS[name](messages, args.threads, rounds)
        figures[name] = result
        print(
            f"{name}: {result['msgs_per_s']} msg/s through the adapter, {result['baseline_per_s']} bare "
            f"(ratio {result['ratio']}); client CPU {result['cpu_us_per_msg']} vs "
            f"{result['baseline_cpu_us_per_msg']} µs a message",
            flush=True,
        )
    worst = min((figures[n] for n in names), key=lambda f: f["ratio"])
    figures.update(msgs_per_s=worst["msgs_per_s"], baseline_per_s=worst["baseline_per_s"], ratio=worst["ratio"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
