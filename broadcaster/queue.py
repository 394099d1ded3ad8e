"""Every statement that moves a message through dispatch: claim, record results, requeue, release.

The worker loop (``broadcaster.dispatch``) holds no SQL; it calls these. A claim is one atomic
statement that picks due messages and leases them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite
the write lock of ``UPDATE … RETURNING`` serialises claimers). Each function runs inside the caller's
transaction; none commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, Connection, TextClause, bindparam, text
from sqlmodel.sql.sqltypes import UTCDateTime

from broadcaster.models import MessageStatus, RunStatus

CLAIMABLE_RUNS = (RunStatus.PLANNING, RunStatus.SENDING)
_TIMESTAMPS = ("now", "lease_until", "at", "since", "oldest")


def sql(statement: str) -> TextClause:
    """A text statement whose timestamp parameters are bound as UTC, as the ORM stores them."""
    clause = text(statement)
    typed = [bindparam(name, type_=UTCDateTime()) for name in _TIMESTAMPS if f":{name}" in statement]
    return clause.bindparams(*typed) if typed else clause


_RUNS: BindParameter[list[int]] = bindparam("run_ids", expanding=True)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    run_id: int
    batch_id: int
    msisdn: str
    attempts: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class OpenRun:
    id: int
    window: str
    timezone: str


_CLAIM = """
UPDATE message
SET status = 'sending', lease_owner = :owner, lease_until = :lease_until, attempts = attempts + 1
WHERE id IN (
    SELECT m.id FROM message m
    WHERE m.status = 'queued' AND m.carrier = :carrier
      AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= :now)
      AND (m.resend_route IS NULL OR m.resend_route = :route)
      AND m.run_id IN :run_ids
    ORDER BY m.id
    LIMIT :limit
    {lock}
)
RETURNING id, run_id, batch_id, msisdn, attempts, queued_at
"""


def claim(
    conn: Connection,
    *,
    owner: str,
    carrier: str,
    route: str,
    limit: int,
    now: datetime,
    lease: timedelta,
    run_ids: Sequence[int],
) -> list[Claimed]:
    """Lease up to ``limit`` due messages of one carrier, in the given (open) runs, to ``owner``."""
    if not run_ids:
        return []
    lock = "FOR UPDATE OF m SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    statement = sql(_CLAIM.format(lock=lock)).bindparams(_RUNS)
    rows = conn.execute(
        statement.columns(queued_at=UTCDateTime()),
        {
            "owner": owner,
            "carrier": carrier,
            "route": route,
            "limit": limit,
            "now": now,
            "lease_until": now + lease,
            "run_ids": list(run_ids),
        },
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def open_runs(conn: Connection) -> list[OpenRun]:
    """Runs whose messages may be claimed (their sending window is checked by the caller)."""
    rows = conn.execute(
        text("SELECT id, send_window, timezone FROM run WHERE status IN ('planning', 'sending') ORDER BY id")
    )
    return [OpenRun(*row) for row in rows]


def closed_runs(conn: Connection, run_ids: Iterable[int]) -> dict[int, str]:
    """Of these runs, those no longer open for sending, with their status (paused, cancelled, …)."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    rows = conn.execute(
        text("SELECT id, status FROM run WHERE id IN :ids AND status NOT IN ('planning', 'sending')").bindparams(_IDS),
        {"ids": ids},
    )
    return {row[0]: row[1] for row in rows}


_DUE = sql(
    "SELECT 1 FROM message WHERE run_id IN :run_ids AND status = 'queued' AND carrier = :carrier "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= :now) LIMIT 1"
).bindparams(_RUNS)


def due_carriers(conn: Connection, now: datetime, run_ids: Sequence[int], carriers: Iterable[str]) -> set[str]:
    """Of ``carriers``, those with messages ready to claim in these runs (each found by its first
    due message, so the check costs the same with a million queued as with ten)."""
    if not run_ids:
        return set()
    params = {"now": now, "run_ids": list(run_ids)}
    return {c for c in carriers if conn.execute(_DUE, {**params, "carrier": c}).first() is not None}


def batch_texts(conn: Connection, batch_ids: Iterable[int]) -> dict[int, tuple[str, str, int, str]]:
    """batch id -> (text, encoding, segments, sender)."""
    ids = sorted(set(batch_ids))
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT b.id, b.text, b.encoding, b.segments, c.sender FROM batch b "
            "JOIN run r ON r.id = b.run_id JOIN campaign c ON c.id = r.campaign_id "
            "WHERE b.id IN :ids"
        ).bindparams(_IDS),
        {"ids": ids},
    )
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def mark_sent(conn: Connection, accepted: Sequence[tuple[int, str, str | None]], now: datetime) -> None:
    """(message id, route, provider id) -> ``sent``. A receipt that came first is not overwritten."""
    if not accepted:
        return
    conn.execute(
        sql(
            "UPDATE message SET status = CASE WHEN status = 'sending' THEN 'sent' ELSE status END, "
            "route = :route, provider_id = :provider_id, sent_at = :now, resend_route = NULL, "
            "lease_owner = NULL, lease_until = NULL WHERE id = :id"
        ),
        [{"id": mid, "route": route, "provider_id": pid, "now": now} for mid, route, pid in accepted],
    )


def mark_failed(conn: Connection, failed: Sequence[tuple[int, str, str, str]], now: datetime) -> None:
    """(message id, route, code, reason) -> ``failed`` (final)."""
    if not failed:
        return
    conn.execute(
        sql(
            "UPDATE message SET status = 'failed', route = :route, error_code = :code, error_reason = :reason, "
            "final_at = :now, lease_owner = NULL, lease_until = NULL WHERE id = :id AND status = 'sending'"
        ),
        [
            {"id": mid, "route": route, "code": code[:40], "reason": reason[:300], "now": now}
            for mid, route, code, reason in failed
        ],
    )


@dataclass(frozen=True, slots=True)
class Retry:
    id: int
    at: datetime
    code: str
    reason: str
    resend_route: str | None = None
    """Only this route may resend (ambiguous outcome, same idempotency key)."""
    refund: bool = False
    """The attempt did not count (route-wide fault, paused run): give it back."""


def requeue(conn: Connection, retries: Sequence[Retry]) -> None:
    """Back to ``queued`` at ``at``; the failure is kept on the message until it is sent."""
    if not retries:
        return
    conn.execute(
        sql(
            "UPDATE message SET status = 'queued', next_attempt_at = :at, error_code = :code, "
            "error_reason = :reason, resend_route = COALESCE(:resend_route, resend_route), "
            "attempts = attempts - :refund, lease_owner = NULL, lease_until = NULL "
            "WHERE id = :id AND status = 'sending'"
        ),
        [
            {
                "id": r.id,
                "at": r.at,
                "code": r.code[:40],
                "reason": r.reason[:300],
                "resend_route": r.resend_route,
                "refund": int(r.refund),
            }
            for r in retries
        ],
    )


def release(conn: Connection, ids: Sequence[int], *, cancelled: Sequence[int] = ()) -> None:
    """Unsent claimed messages go back to the queue (attempt refunded), or to ``cancelled``."""
    keep = sorted(set(ids) - set(cancelled))
    if keep:
        conn.execute(
            text(
                "UPDATE message SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, "
                "lease_until = NULL WHERE id IN :ids AND status = 'sending'"
            ).bindparams(_IDS),
            {"ids": keep},
        )
    if cancelled:
        conn.execute(
            text(
                "UPDATE message SET status = 'cancelled', final_at = CURRENT_TIMESTAMP, lease_owner = NULL, "
                "lease_until = NULL WHERE id IN :ids AND status = 'sending'"
            ).bindparams(_IDS),
            {"ids": sorted(set(cancelled))},
        )


def release_expired_leases(conn: Connection, now: datetime) -> int:
    """Messages leased by a worker that died go back to the queue."""
    result = conn.execute(
        sql(
            "UPDATE message SET status = 'queued', lease_owner = NULL, lease_until = NULL "
            "WHERE status = 'sending' AND lease_until < :now"
        ),
        {"now": now},
    )
    return result.rowcount or 0


def sent_provider_ids(conn: Connection, route: str, limit: int, after: str = "") -> list[str]:
    """Provider ids of messages on ``route`` still waiting for a receipt (for polling routes), in id
    order from just after ``after``: a poller pages through them all, not only the oldest ``limit``."""
    rows = conn.execute(
        sql(
            "SELECT provider_id FROM message WHERE route = :route AND provider_id > :after "
            "AND status = 'sent' ORDER BY provider_id LIMIT :limit"
        ),
        {"route": route, "limit": limit, "after": after},
    )
    return [row[0] for row in rows]


def complete_finished_runs(conn: Connection, now: datetime) -> list[int]:
    """Runs that are planned and have nothing in flight become ``completed``."""
    rows = conn.execute(
        sql(
            "UPDATE run SET status = 'completed', completed_at = :now "
            "WHERE status = 'sending' AND planned_at IS NOT NULL AND NOT EXISTS ("
            "SELECT 1 FROM message m WHERE m.run_id = run.id AND m.status IN ('queued', 'sending', 'sent')) "
            "RETURNING id"
        ),
        {"now": now},
    )
    return [row[0] for row in rows]


def in_flight(conn: Connection, run_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT COUNT(*) FROM message WHERE run_id = :run AND status IN ('queued', 'sending', 'sent')"),
            {"run": run_id},
        ).scalar_one()
    )


def status_counts(conn: Connection, run_id: int) -> dict[str, int]:
    rows = conn.execute(
        text("SELECT status, COUNT(*) FROM message WHERE run_id = :run GROUP BY status"), {"run": run_id}
    )
    counts = dict.fromkeys(MessageStatus.ALL, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def heartbeat(conn: Connection, owner: str, now: datetime) -> None:
    updated = conn.execute(
        sql("UPDATE workerheartbeat SET seen_at = :now WHERE owner = :owner"), {"owner": owner, "now": now}
    )
    if not updated.rowcount:
        conn.execute(
            sql("INSERT INTO workerheartbeat (owner, started_at, seen_at) VALUES (:owner, :now, :now)"),
            {"owner": owner, "now": now},
        )


def live_workers(conn: Connection, since: datetime) -> int:
    count = conn.execute(sql("SELECT COUNT(*) FROM workerheartbeat WHERE seen_at >= :since"), {"since": since})
    return max(1, int(count.scalar_one()))


def forget_worker(conn: Connection, owner: str) -> None:
    conn.execute(text("DELETE FROM workerheartbeat WHERE owner = :owner"), {"owner": owner})


def report_route(
    conn: Connection, *, route: str, state: str, reason: str, code: str, owner: str, now: datetime
) -> None:
    """Record the route's breaker state (the alert an operator sees); ``since`` moves only on a change."""
    params = {"route": route, "state": state, "reason": reason[:300], "code": code[:40], "owner": owner, "now": now}
    updated = conn.execute(
        sql(
            "UPDATE routehealth SET since = CASE WHEN state = :state THEN since ELSE :now END, state = :state, "
            "reason = :reason, code = :code, updated_at = :now, reported_by = :owner WHERE route = :route"
        ),
        params,
    )
    if not updated.rowcount:
        conn.execute(
            sql(
                "INSERT INTO routehealth (route, state, reason, code, since, updated_at, reported_by) "
                "VALUES (:route, :state, :reason, :code, :now, :now, :owner)"
            ),
            params,
        )


# -- the campaign lifecycle and the sweeps (broadcaster.campaigns, broadcaster.sweeps) ------------------


def set_campaign_runs(
    conn: Connection, campaign_id: int, status: str, from_statuses: Sequence[str], now: datetime
) -> int:
    """Move the campaign's runs in ``from_statuses`` to ``status`` (pause, resume, cancel)."""
    closing = status in (RunStatus.CANCELLED, RunStatus.COMPLETED)
    result = conn.execute(
        sql(
            "UPDATE run SET status = :status"
            + (", completed_at = :now" if closing else "")
            + " WHERE campaign_id = :campaign AND status IN :from_statuses"
        ).bindparams(bindparam("from_statuses", expanding=True)),
        {"status": status, "campaign": campaign_id, "from_statuses": list(from_statuses), "now": now},
    )
    return result.rowcount or 0


def cancel_queued(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Every queued message of the campaign's runs becomes ``cancelled`` (final)."""
    result = conn.execute(
        sql(
            "UPDATE message SET status = 'cancelled', final_at = :now, lease_owner = NULL, lease_until = NULL "
            "WHERE status = 'queued' AND run_id IN (SELECT id FROM run WHERE campaign_id = :campaign)"
        ),
        {"campaign": campaign_id, "now": now},
    )
    return result.rowcount or 0


def cancel_orphans(conn: Connection, now: datetime) -> int:
    """Queued messages of cancelled runs (a lease released after the cancel) become ``cancelled``."""
    result = conn.execute(
        sql(
            "UPDATE message SET status = 'cancelled', final_at = :now, lease_owner = NULL, lease_until = NULL "
            "WHERE status = 'queued' AND run_id IN (SELECT id FROM run WHERE status = 'cancelled')"
        ),
        {"now": now},
    )
    return result.rowcount or 0


def reopen_missed_run(conn: Connection, run_id: int) -> bool:
    """A missed run goes back to ``planning`` to be planned now; False if it is not missed (any more)."""
    result = conn.execute(
        text("UPDATE run SET status = 'planning', completed_at = NULL WHERE id = :id AND status = 'missed'"),
        {"id": run_id},
    )
    return bool(result.rowcount)


EXPIRED_NO_RECEIPT = "EXPIRED_NO_RECEIPT"
"""Error code of our own expiry; ``broadcaster.receipts`` lets a later carrier final win over it."""


def expire_sent(
    conn: Connection,
    *,
    before: datetime,
    now: datetime,
    route: str | None = None,
    other_than: Sequence[str] = (),
    reason: str = "",
) -> int:
    """``sent`` messages sent before ``before`` (on ``route``, or on any route not in ``other_than``)
    with no receipt become ``expired`` with the code ``EXPIRED_NO_RECEIPT``."""
    where = "status = 'sent' AND sent_at < :at"
    params: dict[str, object] = {"at": before, "now": now, "code": EXPIRED_NO_RECEIPT, "reason": reason[:300]}
    statement = (
        "UPDATE message SET status = 'expired', error_code = :code, error_reason = :reason, final_at = :now, "
        "lease_owner = NULL, lease_until = NULL WHERE "
    )
    if route is not None:
        clause = sql(statement + where + " AND route = :route")
        params["route"] = route
    elif other_than:
        clause = sql(statement + where + " AND (route IS NULL OR route NOT IN :routes)").bindparams(
            bindparam("routes", expanding=True)
        )
        params["routes"] = list(other_than)
    else:
        clause = sql(statement + where)
    return conn.execute(clause, params).rowcount or 0


def runs_to_purge(conn: Connection, before: datetime) -> list[int]:
    """Closed runs (completed or cancelled before ``before``) whose numbers have not been purged."""
    rows = conn.execute(
        sql(
            "SELECT id FROM run WHERE purged_at IS NULL AND status IN ('completed', 'cancelled') "
            "AND completed_at < :at ORDER BY id"
        ),
        {"at": before},
    )
    return [row[0] for row in rows]


def purge_run_numbers(conn: Connection, run_id: int, now: datetime) -> int:
    """Remove the phone numbers of a run's messages (every count the reports need stays)."""
    result = conn.execute(
        text("UPDATE message SET msisdn = NULL WHERE run_id = :run AND msisdn IS NOT NULL"), {"run": run_id}
    )
    conn.execute(sql("UPDATE run SET purged_at = :now WHERE id = :run"), {"run": run_id, "now": now})
    return result.rowcount or 0
