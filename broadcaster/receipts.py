"""Receipts: store every receipt as received, then move its message, monotonically and idempotently.

Transitions (DESIGN §4): a carrier's final status (delivered, failed, expired) moves a message that is
``sending``, ``sent`` or ``expired`` by our own timeout; it never moves a message that already has a
carrier final, so a duplicate changes nothing and the first carrier final wins. An intermediate
receipt is kept and changes nothing. A receipt for a message not yet known (the carrier called back
before our send was recorded) stays unmatched; ``apply_unmatched`` settles it as soon as the send is
recorded, and ``unmatched`` reports the ones that never match.

A receipt naming the network that actually served the number moves the subscriber to that carrier
(source ``receipt``), so later runs route ported numbers correctly.

``ReceiptSink`` is the group commit for callbacks: receipts from concurrent requests are written in
one transaction every few milliseconds, and each request is answered only once its receipt is durable.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam
from sqlmodel.sql.sqltypes import UTCDateTime

from broadcaster.models import utcnow
from broadcaster.queue import sql
from carriers.base import Receipt, ReceiptStatus

EXPIRED_NO_RECEIPT = "EXPIRED_NO_RECEIPT"
"""The error code of our own expiry: the only final a later carrier receipt may overrule."""

_FINAL = (ReceiptStatus.DELIVERED, ReceiptStatus.FAILED, ReceiptStatus.EXPIRED)


def canonical_id(provider_id: str) -> str:
    """Provider ids compared as the carrier meant them: no surrounding space, one case."""
    return provider_id.strip().lower()


_INSERT = sql(
    "INSERT INTO receipt (route, provider_id, message_id, status, error_code, network, received_at, raw) "
    "VALUES (CAST(:route AS VARCHAR), CAST(:provider_id AS VARCHAR), (SELECT m.id FROM message m "
    "WHERE m.route = CAST(:route AS VARCHAR) AND m.provider_id = CAST(:provider_id AS VARCHAR)), "
    ":status, :error_code, :network, :now, :raw)"
)
_APPLY_SET = (
    "UPDATE message SET status = :status, error_code = :error_code, final_at = :now, "
    "lease_owner = NULL, lease_until = NULL WHERE route = :route "
)
_APPLY_MOVABLE = (  # the statuses a carrier final may move: ours, and our own expiry
    f"AND (status IN ('sending', 'sent') OR (status = 'expired' AND error_code = '{EXPIRED_NO_RECEIPT}'))"
)
_APPLY = sql(_APPLY_SET + "AND provider_id = :provider_id " + _APPLY_MOVABLE)
_APPLY_MANY = sql(_APPLY_SET + "AND provider_id IN :provider_ids " + _APPLY_MOVABLE).bindparams(
    bindparam("provider_ids", expanding=True)
)
_PORTED_MANY = sql(
    "UPDATE subscriber SET carrier = :network, carrier_source = 'receipt' "
    "WHERE carrier <> :network AND id IN (SELECT m.subscriber_id FROM message m "
    "WHERE m.route = :route AND m.provider_id IN :provider_ids)"
).bindparams(bindparam("provider_ids", expanding=True))
_MATCH = sql(
    "UPDATE receipt SET message_id = (SELECT m.id FROM message m "
    "WHERE m.route = receipt.route AND m.provider_id = receipt.provider_id) "
    "WHERE message_id IS NULL AND route = :route AND provider_id = :provider_id"
)


def ingest(conn: Connection, route: str, receipts: Sequence[Receipt], now: datetime | None = None) -> int:
    """Store ``receipts`` of ``route``, matched to their message when it is known, and apply the final
    ones; returns how many were stored."""
    if not receipts:
        return 0
    now = now or utcnow()
    ids = [canonical_id(r.provider_id) for r in receipts]
    rows = [
        {
            "route": route,
            "provider_id": provider_id,
            "status": r.status,
            "error_code": r.error_code,
            "network": r.network,
            "now": now,
            "raw": r.raw,
        }
        for r, provider_id in zip(receipts, ids, strict=True)
    ]
    conn.execute(_INSERT, rows)
    # One statement per outcome and per network, not one per receipt: a burst of callbacks mostly
    # says "delivered" on a handful of networks. A message's first final in the burst is the one applied.
    first: dict[str, tuple[str, str | None]] = {}
    ported: dict[str, list[str]] = {}
    for r, provider_id in zip(receipts, ids, strict=True):
        if r.status in _FINAL:
            first.setdefault(provider_id, (r.status, r.error_code))
        if r.network:
            ported.setdefault(r.network, []).append(provider_id)
    finals: dict[tuple[str, str | None], list[str]] = {}
    for provider_id, outcome in first.items():
        finals.setdefault(outcome, []).append(provider_id)
    for (status, error_code), provider_ids in finals.items():
        params = {"route": route, "status": status, "error_code": error_code, "now": now}
        conn.execute(_APPLY_MANY, {**params, "provider_ids": provider_ids})
    for network, provider_ids in ported.items():
        conn.execute(_PORTED_MANY, {"route": route, "network": network, "provider_ids": provider_ids})
    return len(rows)


_UNMATCHED_FINALS = (
    sql(
        "SELECT provider_id, status, error_code, received_at FROM receipt "
        "WHERE route = :route AND message_id IS NULL AND provider_id IN :ids ORDER BY id"
    )
    .bindparams(bindparam("ids", expanding=True))
    .columns(received_at=UTCDateTime())
)


def apply_unmatched(conn: Connection, route: str, provider_ids: Sequence[str]) -> int:
    """Settle receipts that arrived before these sends were recorded (the early-receipt race)."""
    ids = sorted({canonical_id(p) for p in provider_ids if p})
    if not ids:
        return 0
    early = conn.execute(_UNMATCHED_FINALS, {"route": route, "ids": ids}).all()
    if not early:
        return 0
    finals = [
        {"route": route, "provider_id": pid, "status": status, "error_code": code, "now": at}
        for pid, status, code, at in early
        if status in _FINAL
    ]
    if finals:
        conn.execute(_APPLY, finals)
    conn.execute(_MATCH, [{"route": route, "provider_id": pid} for pid in {row[0] for row in early}])
    return len(early)


def match_all_unmatched(conn: Connection) -> int:
    """Sweep: settle every unmatched receipt whose message is now known."""
    pending = conn.execute(
        sql(
            "SELECT DISTINCT r.route, r.provider_id FROM receipt r JOIN message m "
            "ON m.route = r.route AND m.provider_id = r.provider_id WHERE r.message_id IS NULL"
        )
    ).all()
    by_route: dict[str, list[str]] = {}
    for route, provider_id in pending:
        by_route.setdefault(route, []).append(provider_id)
    return sum(apply_unmatched(conn, route, ids) for route, ids in by_route.items())


@dataclass(frozen=True, slots=True)
class Unmatched:
    route: str
    provider_id: str
    status: str
    received_at: datetime


def unmatched(conn: Connection, older_than: datetime) -> list[Unmatched]:
    """Receipts that never found their message: reported, never dropped."""
    rows = conn.execute(
        sql(
            "SELECT route, provider_id, status, received_at FROM receipt "
            "WHERE message_id IS NULL AND received_at < :at ORDER BY received_at"
        ).columns(received_at=UTCDateTime()),
        {"at": older_than},
    )
    return [Unmatched(*row) for row in rows]


Waiter = Future[int] | asyncio.Future[int]
"""Who waits for a receipt to be durable: a thread (``put``) or a coroutine (``store``)."""


class ReceiptSink:
    """Group commit: ``put`` (threads) and ``store`` (coroutines) return once the receipts are durable,
    written with their neighbours.

    One writer thread writes whatever is pending in one transaction; what arrives meanwhile goes in
    the next. No timer: under load a transaction holds every request that came during the previous
    one, and an idle sink writes a lone receipt at once (a fixed wait only added latency, and with
    a carrier's limited connections, latency is throughput). The coroutines of one transaction are
    woken together, by one call into their event loop."""

    def __init__(self, engine: Engine, *, max_batch: int = 2000, autostart: bool = True) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[str, Sequence[Receipt], Waiter]] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.written = 0
        if autostart:
            self.start()

    def start(self) -> None:
        """Start the writer thread (a service of ``broadcaster serve``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="receipt-sink", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self.close()

    def put(self, route: str, receipts: Sequence[Receipt], timeout: float = 30.0) -> int:
        """Queue receipts for the next group commit and wait until it is done."""
        future: Future[int] = Future()
        self._enqueue(route, receipts, future)
        return future.result(timeout)

    async def store(self, route: str, receipts: Sequence[Receipt]) -> int:
        """``put`` for a coroutine: awaits the group commit without holding a thread."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(route, receipts, future)
        return await future

    def _enqueue(self, route: str, receipts: Sequence[Receipt], waiter: Waiter) -> None:
        with self._cond:
            if self._stopped or self._thread is None:
                msg = "the receipt writer is stopped"
                raise RuntimeError(msg)
            self._pending.append((route, receipts, waiter))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending and self._stopped:
                    return
                if not self._pending:
                    self._cond.wait(0.1)
                    continue
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._write(batch)

    def _write(self, batch: list[tuple[str, Sequence[Receipt], Waiter]]) -> None:
        by_route: dict[str, list[Receipt]] = {}
        for route, receipts, _ in batch:
            by_route.setdefault(route, []).extend(receipts)
        outcome: BaseException | None = None
        try:
            now = utcnow()
            with self.engine.begin() as conn:
                for route, receipts in by_route.items():
                    ingest(conn, route, receipts, now)
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of the failure
            outcome = exc
        else:
            self.batches += 1
            self.written += sum(len(r) for r in by_route.values())
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]] = {}
        for _, receipts, waiter in batch:
            result = outcome or len(receipts)
            if isinstance(waiter, asyncio.Future):
                by_loop.setdefault(waiter.get_loop(), []).append((waiter, result))
            else:
                _settle(waiter, result)
        for loop, waiters in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, waiters)

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(10)


def _settle(waiter: Waiter, result: int | BaseException) -> None:
    if waiter.done():  # a coroutine whose client went away
        return
    if isinstance(result, BaseException):
        waiter.set_exception(result)
    else:
        waiter.set_result(result)


def _settle_all(waiters: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for waiter, result in waiters:
        _settle(waiter, result)
