"""The audit log: who did what to which object, when (``AuditEvent``).

``record`` adds an event to the caller's session (it never commits); ``write`` is a use case of its
own, for the API calls whose use-case function does not audit by itself yet. ``campaigns`` writes its
own events; nothing is audited twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from broadcaster.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


def write(
    engine: Engine,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    with Session(engine) as session, session.begin():
        record(session, actor, action, object_type, object_id, before=before, after=after)


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    events: list[AuditEvent]


def events(
    engine: Engine,
    *,
    limit: int = 50,
    offset: int = 0,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> Page:
    """Newest first, filtered by actor and object."""
    conditions = []
    if actor:
        conditions.append(col(AuditEvent.actor) == actor)
    if object_type:
        conditions.append(col(AuditEvent.object_type) == object_type)
    if object_id:
        conditions.append(col(AuditEvent.object_id) == object_id)
    with Session(engine, expire_on_commit=False) as session:
        total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
        rows = session.exec(
            select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id).desc()).limit(limit).offset(offset)
        ).all()
    return Page(total=int(total), events=list(rows))
