"""Receipts: monotonic, idempotent transitions; early, late, duplicate and unknown receipts; group commit."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from broadcaster import queue, receipts
from broadcaster.models import utcnow
from carriers.base import Receipt, ReceiptStatus

ROUTE = "sim-viettel"


def receipt(provider_id: str, status: str, **extra: object) -> Receipt:
    return Receipt(provider_id=provider_id, status=status, at=datetime.now(UTC), raw=f"{provider_id}:{status}", **extra)  # type: ignore[arg-type]


def send_all(engine: Engine, run_id: int, prefix: str = "P") -> list[tuple[int, str]]:
    """Record every queued message of the run as sent on ROUTE with provider id P<id>."""
    with engine.begin() as conn:
        ids = [
            row[0]
            for row in conn.execute(
                text("SELECT id FROM message WHERE run_id = :r AND status = 'queued' ORDER BY id"), {"r": run_id}
            )
        ]
        conn.execute(
            text("UPDATE message SET status = 'sending' WHERE run_id = :r AND status = 'queued'"), {"r": run_id}
        )
        queue.mark_sent(conn, [(i, ROUTE, f"p{i}") for i in ids], utcnow())
    return [(i, f"P{i}") for i in ids]


def status_of(engine: Engine, message_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, error_code FROM message WHERE id = :id"), {"id": message_id}).one()
    return row[0], row[1]


def ingest(engine: Engine, *items: Receipt) -> None:
    with engine.begin() as conn:
        receipts.ingest(conn, ROUTE, list(items))


class TestTransitions:
    def test_duplicate_changes_nothing(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """The same receipt twice: one transition, both kept as evidence."""
        (mid, pid), *_ = send_all(engine, make_run(60))
        ingest(engine, receipt(pid, ReceiptStatus.DELIVERED))
        with engine.connect() as conn:
            first_final = conn.execute(text("SELECT final_at FROM message WHERE id = :id"), {"id": mid}).scalar_one()
        ingest(engine, receipt(pid, ReceiptStatus.DELIVERED))
        ingest(engine, receipt(pid, ReceiptStatus.FAILED, error_code="UNDELIV"))
        assert status_of(engine, mid) == ("delivered", None)
        with engine.connect() as conn:
            final_at = conn.execute(text("SELECT final_at FROM message WHERE id = :id"), {"id": mid}).scalar_one()
            stored = conn.execute(text("SELECT COUNT(*) FROM receipt WHERE message_id = :id"), {"id": mid}).scalar_one()
        assert final_at == first_final and stored == 3

    def test_first_final_in_one_burst_wins(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """Conflicting finals for two messages written in one group commit: each keeps its first."""
        (a, pa), (b, pb), *_ = send_all(engine, make_run(60))
        ingest(
            engine,
            receipt(pa, ReceiptStatus.FAILED, error_code="UNDELIV"),
            receipt(pb, ReceiptStatus.DELIVERED),
            receipt(pa, ReceiptStatus.DELIVERED),
            receipt(pb, ReceiptStatus.FAILED, error_code="UNDELIV"),
        )
        assert status_of(engine, a) == ("failed", "UNDELIV")
        assert status_of(engine, b) == ("delivered", None)

    def test_out_of_order_intermediate_after_final(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """Delivered, then a late 'accepted': the message stays delivered."""
        (mid, pid), *_ = send_all(engine, make_run(60))
        ingest(engine, receipt(pid, ReceiptStatus.DELIVERED), receipt(pid, ReceiptStatus.ACCEPTED))
        assert status_of(engine, mid)[0] == "delivered"

    def test_intermediate_keeps_sent(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """An intermediate receipt is stored and changes nothing."""
        (mid, pid), *_ = send_all(engine, make_run(60))
        ingest(engine, receipt(pid, ReceiptStatus.ACCEPTED))
        assert status_of(engine, mid)[0] == "sent"

    def test_carrier_final_wins_over_our_expiry(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """Expired by our own timeout, then a late 'delivered': it ends delivered."""
        (mid, pid), (mid2, pid2), *_ = send_all(engine, make_run(60))
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE message SET status = 'expired', error_code = :code WHERE id IN (:a, :b)"),
                {"code": receipts.EXPIRED_NO_RECEIPT, "a": mid, "b": mid2},
            )
        ingest(engine, receipt(pid, ReceiptStatus.DELIVERED))
        assert status_of(engine, mid) == ("delivered", None)
        ingest(engine, receipt(pid2, ReceiptStatus.FAILED, error_code="UNDELIV"))
        assert status_of(engine, mid2) == ("failed", "UNDELIV")

    def test_case_and_space_in_ids_still_match(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """Provider ids are compared in one canonical form."""
        (mid, pid), *_ = send_all(engine, make_run(60))
        ingest(engine, receipt(f"  {pid.upper()} ", ReceiptStatus.DELIVERED))
        assert status_of(engine, mid)[0] == "delivered"


class TestEarlyAndUnknown:
    def test_receipt_before_the_send_is_recorded(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """The carrier calls back while the message is still 'sending': it is settled when the send is recorded."""
        run_id = make_run(60)
        with engine.begin() as conn:
            mid = conn.execute(
                text("SELECT MIN(id) FROM message WHERE run_id = :r AND status = 'queued'"), {"r": run_id}
            ).scalar_one()
            conn.execute(text("UPDATE message SET status = 'sending' WHERE id = :id"), {"id": mid})
        ingest(engine, receipt("early-1", ReceiptStatus.DELIVERED))
        assert status_of(engine, mid)[0] == "sending"
        with engine.begin() as conn:
            queue.mark_sent(conn, [(mid, ROUTE, "early-1")], utcnow())
            receipts.apply_unmatched(conn, ROUTE, ["early-1"])
        assert status_of(engine, mid)[0] == "delivered"
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT message_id FROM receipt WHERE provider_id = 'early-1'")).scalar_one() == mid
            )

    def test_unknown_id_is_kept_and_reported(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """A receipt that never matches is stored and reported, never dropped."""
        send_all(engine, make_run(60))
        ingest(engine, receipt("nobody-knows", ReceiptStatus.DELIVERED))
        with engine.connect() as conn:
            found = receipts.unmatched(conn, older_than=datetime(2100, 1, 1, tzinfo=UTC))
        assert [(u.route, u.provider_id) for u in found] == [(ROUTE, "nobody-knows")]

    def test_sweep_matches_late_sends(self, engine: Engine, make_run: Callable[..., int]) -> None:
        """The sweep settles early receipts whose sends were recorded without the immediate match."""
        run_id = make_run(60)
        ingest(engine, receipt("late-send", ReceiptStatus.FAILED, error_code="UNDELIV"))
        with engine.begin() as conn:
            mid = conn.execute(
                text("SELECT MIN(id) FROM message WHERE run_id = :r AND status = 'queued'"), {"r": run_id}
            ).scalar_one()
            conn.execute(text("UPDATE message SET status = 'sending' WHERE id = :id"), {"id": mid})
            queue.mark_sent(conn, [(mid, ROUTE, "late-send")], utcnow())
        with engine.begin() as conn:
            assert receipts.match_all_unmatched(conn) == 1
        assert status_of(engine, mid) == ("failed", "UNDELIV")


def test_reported_network_moves_the_subscriber(engine: Engine, make_run: Callable[..., int]) -> None:
    """A receipt naming another network updates the subscriber's carrier, with source 'receipt'."""
    (mid, pid), *_ = send_all(engine, make_run(60))
    ingest(engine, receipt(pid, ReceiptStatus.DELIVERED, network="mobifone"))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.carrier, s.carrier_source FROM subscriber s JOIN message m ON m.subscriber_id = s.id "
                "WHERE m.id = :id"
            ),
            {"id": mid},
        ).one()
    assert tuple(row) == ("mobifone", "receipt")


def test_group_commit_loses_nothing(engine: Engine, make_run: Callable[..., int]) -> None:
    """Receipts put by 32 concurrent threads are all durable when put() returns, in few transactions."""
    sent = send_all(engine, make_run(1200))
    sink = receipts.ReceiptSink(engine)
    errors: list[BaseException] = []

    def worker(chunk: list[tuple[int, str]]) -> None:
        try:
            for _, pid in chunk:
                sink.put(ROUTE, [receipt(pid, ReceiptStatus.DELIVERED)])
        except BaseException as exc:  # noqa: BLE001 - any failure of a writer thread is reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(sent[i::32],)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert not errors
    with engine.connect() as conn:
        statuses = Counter(
            dict(
                conn.execute(
                    text(
                        "SELECT status, COUNT(*) FROM message "
                        "WHERE id IN (SELECT message_id FROM receipt) GROUP BY status"
                    )
                ).all()
            )
        )
        stored = conn.execute(text("SELECT COUNT(*) FROM receipt")).scalar_one()
    assert stored == len(sent) == sink.written
    assert statuses == Counter({"delivered": len(sent)})
    assert sink.batches < len(sent) / 4
