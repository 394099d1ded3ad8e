"""Messages per second through the SMPP adapter against a bare smpplib loop, same local SMSC.

The SMSC runs in a child process on 127.0.0.1 and accepts every submit at once (zero latency): by
default a minimal asyncio responder written here (it answers in one write per read, far faster than
either client, so the figures measure the clients); ``--server smpp34`` uses smpp34's server instead
(about 4-5k submits/s on a two-core machine: it becomes the bottleneck). Both clients keep the same
window of outstanding submits (default 10) and send the same single-part GSM-7 text:

- baseline (``baseline_per_s``, the ratio's reference): smpplib's own idiom, ``listen()`` in a
  thread and the sender held to the window by a semaphore released in the message-sent handler;
- ``baseline_loop_per_s``: one thread, ``send_message`` while the window has room, else
  ``read_pdu`` for one response (slower: sending and reading never overlap);
- adapter: ``SmppAdapter.submit`` with batches of ``--batch`` messages; results folded per message.

Both bare clients set TCP_NODELAY as the adapter does (without it Nagle holds a window of small PDUs
back until the peer's delayed ACK). Many short runs alternate and the best of ``--runs`` counts for
each (the least disturbed run: other work on the machine only ever slows a run down). CPU microseconds
of this process per message are reported too: they show the adapter's own cost whatever the
server's speed; most of it, for both clients, is smpplib building each submit_sm. ``--quick``
finishes in well under a minute. The last line is one JSON object.

    .venv/bin/python bench/adapters_smpp.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions

from carriers.base import Accepted, Submission
from carriers.smpp import SmppAdapter

SYSTEM_ID = "bench"
PASSWORD = "bench"
TEXT = "Toan dan tich cuc tham gia phong, chong mua ban nguoi. Goi 111."
SENDER = "BCA"


def serve_smpp34(port: int) -> None:
    """smpp34's SMSC (Rust core, one Python crossing per submit): accept every submit."""
    import smpp34

    async def main() -> None:
        server = smpp34.Server(host="127.0.0.1", port=port, system_id="BENCHSMSC")
        await server.start()
        print("ready", flush=True)
        count = 0
        while True:
            event = await server.next()
            if isinstance(event, smpp34.SubmitSmEvent):
                count += 1
                event.accept(f"{count:X}")

    asyncio.run(main())


class _Responder(asyncio.Protocol):
    """A minimal SMSC that answers binds, submits, enquire_links and unbinds, one write per read."""

    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        out = []
        start = 0
        closing = False
        while len(buffer) - start >= 16:
            length, command_id, _, sequence = struct.unpack_from(">LLLL", buffer, start)
            if len(buffer) - start < length:
                break
            start += length
            if command_id == 0x00000004:  # submit_sm
                _Responder.count += 1
                body = b"%X\0" % _Responder.count
            elif command_id in (0x00000009, 0x00000001, 0x00000002):  # binds
                body = b"BENCHSMSC\0"
            elif command_id in (0x00000015, 0x00000006):  # enquire_link, unbind
                body = b""
                closing = closing or command_id == 0x00000006
            else:
                continue  # responses from the client
            out.append(struct.pack(">LLLL", 16 + len(body), command_id | 0x80000000, 0, sequence) + body)
        del buffer[:start]
        if out:
            self.transport.write(b"".join(out))
        if closing:
            self.transport.close()


def serve_responder(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Responder, "127.0.0.1", port)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _bare_client(port: int) -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    client.logger.setLevel(logging.ERROR)  # its listen thread warns about unbind_resp and the closed socket
    client.connect()
    client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
    return client


def _send(client: smpplib.client.Client, n: int, payload: bytes) -> None:
    client.send_message(
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr=SENDER,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=f"8491{n % 10_000_000:07d}",
        esm_class=0,
        registered_delivery=1,
        data_coding=0,
        short_message=payload,
    )


def _goodbye(client: smpplib.client.Client) -> None:
    try:
        client.unbind()
    except smpplib.exceptions.ConnectionError:
        pass  # the SMSC may close the socket right after its unbind_resp
    client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
    client.disconnect()


def baseline_threaded(port: int, count: int, window: int) -> tuple[float, float]:
    """smpplib's own idiom: ``listen()`` in a thread, the sender held to ``window`` by a semaphore
    released in the message-sent handler. (seconds, CPU seconds) for ``count`` answered submits."""
    client = _bare_client(port)
    slots = threading.Semaphore(window)
    done = threading.Event()
    answered = 0

    def on_sent(pdu: object, **_: object) -> None:
        nonlocal answered
        answered += 1
        slots.release()
        if answered == count:
            done.set()

    client.set_message_sent_handler(on_sent)
    client.set_error_pdu_handler(lambda pdu: sys.exit(f"baseline: submit refused with status {pdu.status}"))

    def listen() -> None:
        with contextlib.suppress(smpplib.exceptions.ConnectionError, OSError):
            client.listen()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    payload = TEXT.encode("ascii")
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        slots.acquire()
        _send(client, n, payload)
    done.wait()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    _goodbye(client)
    listener.join(5)
    return elapsed, cpu


def baseline_loop(port: int, count: int, window: int) -> tuple[float, float]:
    """One thread: send while the window has room, else read one response."""
    client = _bare_client(port)
    payload = TEXT.encode("ascii")
    sent = done = 0
    started, cpu = time.perf_counter(), time.process_time()
    while done < count:
        while sent - done < window and sent < count:
            _send(client, sent, payload)
            sent += 1
        pdu = client.read_pdu()
        if pdu.command == "submit_sm_resp":
            if pdu.status != smpplib.consts.SMPP_ESME_ROK:
                raise SystemExit(f"baseline: submit refused with status {pdu.status}")
            done += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    _goodbye(client)
    return elapsed, cpu


def adapter_run(port: int, count: int, window: int, batch: int) -> tuple[float, float]:
    """SmppAdapter.submit in batches: (seconds, CPU seconds) to have ``count`` messages accepted."""
    adapter = SmppAdapter.from_options(
        {"host": "127.0.0.1", "port": port, "window": window, "max_batch": batch},
        {"system_id": SYSTEM_ID, "password": PASSWORD},
    )
    try:
        if not adapter.wait_bound(10.0):
            raise SystemExit("adapter: no bind")
        submissions = [
            Submission(key=str(n), msisdn=f"+8491{n % 10_000_000:07d}", text=TEXT, encoding="gsm7", sender=SENDER)
            for n in range(count)
        ]
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, count, batch):
            results = adapter.submit(submissions[start : start + batch])
            if not all(isinstance(r, Accepted) for r in results):
                raise SystemExit(f"adapter: not accepted: {next(r for r in results if not isinstance(r, Accepted))}")
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs, done in well under a minute")
    parser.add_argument("--messages", type=int, help="messages per run (default 5000, quick 1500)")
    parser.add_argument("--runs", type=int, help="runs of each client, best counts (default 30, quick 12)")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--server",
        choices=("responder", "smpp34"),
        default="responder",
        help="the SMSC: a minimal asyncio responder (default, far faster than either client) or smpp34's server",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        (serve_smpp34 if args.server == "smpp34" else serve_responder)(args.serve)
        return
    count = args.messages or (1500 if args.quick else 5000)
    runs = args.runs or (12 if args.quick else 30)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--server", args.server],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the SMSC did not start")
        adapter_run(port, min(count, 1000), args.window, args.batch)  # warm-up
        clients = {
            "threaded": lambda: baseline_threaded(port, count, args.window),
            "loop": lambda: baseline_loop(port, count, args.window),
            "adapter": lambda: adapter_run(port, count, args.window, args.batch),
        }
        best = dict.fromkeys(clients, float("inf"))
        cpu = dict.fromkeys(clients, float("inf"))
        for run in range(runs):
            figures = []
            for name, measure in clients.items():
                seconds, used = measure()
                best[name], cpu[name] = min(best[name], seconds), min(cpu[name], used)
                figures.append(f"{name} {count / seconds:,.0f}/s ({used / count * 1e6:.0f} us CPU)")
            print(f"run {run + 1}/{runs}: " + ", ".join(figures), file=sys.stderr)
    finally:
        server.terminate()
        server.wait(10)

    result = {
        "bench": "adapters_smpp",
        "msgs_per_s": round(count / best["adapter"]),
        "baseline_per_s": round(count / best["threaded"]),
        "ratio": round(best["threaded"] / best["adapter"], 3),
        "baseline_loop_per_s": round(count / best["loop"]),
        "cpu_us_per_msg": round(cpu["adapter"] / count * 1e6, 1),
        "baseline_cpu_us_per_msg": round(cpu["threaded"] / count * 1e6, 1),
        "server": args.server,
        "window": args.window,
        "batch": args.batch,
        "messages": count,
        "runs": runs,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
