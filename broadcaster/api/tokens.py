"""API tokens and roles: a token is shown once, only its SHA-256 is stored, roles are ordered.

    viewer < operator < approver < admin

Viewers read; operators import audiences, create, submit, pause, resume and cancel campaigns;
approvers also approve (never a campaign they created: ``campaigns.transition`` refuses that);
admins also read the audit log and manage tokens. Each use case here owns its transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from broadcaster.api import audit
from broadcaster.models import ApiToken, utcnow


class Role:
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


ROLES: tuple[str, ...] = (Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN)
"""In increasing order of power: each role may do everything the roles before it may."""

TOKEN_PREFIX = "bct_"


class TokenError(Exception):
    """A token request that cannot be granted; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (the actor in the audit log) and its role."""

    name: str
    role: str
    token_id: int

    def may(self, role: str) -> bool:
        return allows(self.role, role)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    name: str
    role: str
    token: str
    """The secret itself: shown once, never stored."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def allows(have: str, need: str) -> bool:
    """Whether ``have`` is at least ``need`` in the role order (an unknown role allows nothing)."""
    if have not in ROLES or need not in ROLES:
        return False
    return ROLES.index(have) >= ROLES.index(need)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, name: str, role: str, *, actor: str) -> IssuedToken:
    """Issue a new token; only its hash is stored. Names are unique (they are the audit actor)."""
    name = name.strip()
    if role not in ROLES:
        msg = f"unknown role {role!r}; choose one of {', '.join(ROLES)}"
        raise TokenError(msg)
    if not name or len(name) > 100:
        msg = "a token needs a name of 1 to 100 characters (the person or system that uses it)"
        raise TokenError(msg)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        if session.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
            msg = f"a token named {name!r} already exists; choose another name or revoke it first"
            raise TokenError(msg)
        row = ApiToken(name=name, role=role, token_hash=hash_token(token))
        session.add(row)
        session.flush()
        audit.record(session, actor, "token.create", "token", str(row.id), after={"name": name, "role": role})
    return IssuedToken(name=name, role=role, token=token)


def revoke_token(engine: Engine, name: str, *, actor: str) -> TokenInfo:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            msg = f"no token named {name!r}; 'broadcaster token list' shows them"
            raise TokenError(msg)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            audit.record(session, actor, "token.revoke", "token", str(row.id), after={"name": name})
    return TokenInfo(row.name, row.role, row.created_at, row.revoked_at)


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with Session(engine) as session:
        rows = session.exec(select(ApiToken).order_by(col(ApiToken.name))).all()
        return [TokenInfo(r.name, r.role, r.created_at, r.revoked_at) for r in rows]


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The principal of a live token, or None (unknown, malformed or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    with Session(engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None or row.id is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.revoked_at is not None:
            return None
        return Principal(name=row.name, role=row.role, token_id=row.id)


def principal_by_id(engine: Engine, token_id: int) -> Principal | None:
    """The principal of a live token by its id (for console sessions, which hold the id, not the token)."""
    with Session(engine) as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None or row.id is None:
            return None
        return Principal(name=row.name, role=row.role, token_id=row.id)
