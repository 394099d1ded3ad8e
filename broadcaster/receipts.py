"""Receipts: store every receipt as received, then move its message, monotonically and idempotently.

Transitions (DESIGN §4): a carrier's final status (delivered, failed, expired) moves a message that is
``sending``, ``sent`` or ``expired`` by our own timeout; it never moves a message that already has a
carrier final. An intermediate receipt changes nothing but is kept. A receipt for a message not yet
known stays unmatched (``message_id`` NULL) for ``match_unmatched`` to pick up later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from broadcaster.models import utcnow
from broadcaster.queue import sql
from carriers.base import Receipt, ReceiptStatus

_FINAL = (ReceiptStatus.DELIVERED, ReceiptStatus.FAILED, ReceiptStatus.EXPIRED)

_INSERT = sql(
    "INSERT INTO receipt (route, provider_id, message_id, status, error_code, network, received_at, raw) "
    "VALUES (:route, :provider_id, NULL, :status, :error_code, :network, :now, :raw)"
)
# A carrier final wins over our own expiry, never over another carrier final.
_APPLY = sql(
    "UPDATE message SET status = :status, error_code = :error_code, final_at = :now, "
    "lease_owner = NULL, lease_until = NULL "
    "WHERE route = :route AND provider_id = :provider_id "
    "AND (status IN ('sending', 'sent') OR (status = 'expired' AND error_code = 'EXPIRED_NO_RECEIPT'))"
)
_MATCH = sql(
    "UPDATE receipt SET message_id = (SELECT m.id FROM message m "
    "WHERE m.route = receipt.route AND m.provider_id = receipt.provider_id) "
    "WHERE message_id IS NULL AND route = :route AND provider_id = :provider_id"
)


def ingest(conn: Connection, route: str, receipts: Sequence[Receipt], now: datetime | None = None) -> int:
    """Store ``receipts`` of ``route`` and apply the final ones; returns how many messages moved."""
    if not receipts:
        return 0
    now = now or utcnow()
    conn.execute(
        _INSERT,
        [
            {
                "route": route,
                "provider_id": r.provider_id,
                "status": r.status,
                "error_code": r.error_code,
                "network": r.network,
                "now": now,
                "raw": r.raw,
            }
            for r in receipts
        ],
    )
    finals = [r for r in receipts if r.status in _FINAL]
    moved = 0
    if finals:
        result = conn.execute(
            _APPLY,
            [
                {
                    "route": route,
                    "provider_id": r.provider_id,
                    "status": r.status,
                    "error_code": r.error_code,
                    "now": now,
                }
                for r in finals
            ],
        )
        moved = result.rowcount or 0
    conn.execute(_MATCH, [{"route": route, "provider_id": pid} for pid in {r.provider_id for r in receipts}])
    return moved
