"""Refresh-token rotation with reuse detection: spend a refresh token, hand out the next.

Rotation spends the presented jti with one conditional UPDATE. Whichever request flips
`used_at` first wins; every other request with the same token sees zero rows updated and
is either handed the same successor (within REFRESH_REUSE_INTERVAL) or treated as theft,
which ends the whole session (`sessions.end_session`): every refresh token of the chain
and, through the `sid` claim, every access token of it. The session's row is locked
before any token row (`app.locks`), so two refreshes of one session queue on it.

Like every service, nothing here commits or audits: the view does (see `app/__init__.py`),
right after `rotate` returns, or, when it raises RefreshTokenReused, to keep the revocation.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app

from app import sessions, tokens
from app.exceptions import RefreshTokenReused, TokenError
from app.extensions import db
from app.models import LoginSession, RefreshToken, User, new_id, utcnow
from app.sessions import ClientInfo, SessionRef, TokenPair

_sessions, _tokens, _users = LoginSession.__table__, RefreshToken.__table__, User.__table__


class Rotated(NamedTuple):
    """What a rotation handed out, and to whom."""

    pair: TokenPair
    user_id: int
    within_reuse_interval: bool  # the successor a concurrent request had already made


# The statements of a rotation, built once: every refresh runs them. They are Core
# statements on the tables, run on the session's connection (its transaction) without the
# ORM's per-statement and per-row work: profiled, that was a fifth of a refresh.
# The token, its session (with its `amr`, which the new access token keeps) and its user
# in one row, locking the session row before any token row is touched (see `app.locks`).
# `id`, `email`, `role`, `disabled` and `email_verified` are the user's, so that the row
# serves where a User is read.
ROTATION_QUERY = (
    sa.select(
        _tokens.c.session_id,
        _tokens.c.user_id,
        _tokens.c.revoked_at.label("token_revoked_at"),
        _sessions.c.expires_at.label("session_expires_at"),
        _sessions.c.revoked_at.label("session_revoked_at"),
        _sessions.c.amr.label("session_amr"),
        _users.c.id,
        _users.c.email,
        _users.c.role,
        _users.c.disabled,
        _users.c.email_verified,
    )
    .select_from(
        _tokens.join(_sessions, _tokens.c.session_id == _sessions.c.id).join(
            _users, _tokens.c.user_id == _users.c.id
        )
    )
    .where(_tokens.c.jti == sa.bindparam("presented"))
    .with_for_update(of=_sessions)
)
SPEND_TOKEN = (
    _tokens.update()
    .where(
        _tokens.c.jti == sa.bindparam("presented"),
        _tokens.c.used_at.is_(None),
        _tokens.c.revoked_at.is_(None),
    )
    .values(used_at=sa.bindparam("now"), replaced_by=sa.bindparam("successor"))
)
TOUCH_SESSION = (
    _sessions.update()
    .where(_sessions.c.id == sa.bindparam("session"))
    .values(last_used_at=sa.bindparam("now"))
)
_SUCCESSOR = {
    "jti": sa.bindparam("successor", type_=_tokens.c.jti.type),
    "session_id": sa.bindparam("session", type_=_tokens.c.session_id.type),
    "user_id": sa.bindparam("user", type_=_tokens.c.user_id.type),
    "issued_at": sa.bindparam("now", type_=_tokens.c.issued_at.type),
    "expires_at": sa.bindparam("expires", type_=_tokens.c.expires_at.type),
    "ip": sa.bindparam("client_ip", type_=_tokens.c.ip.type),
    "user_agent": sa.bindparam("client_agent", type_=_tokens.c.user_agent.type),
}
INSERT_SUCCESSOR = _tokens.insert().values(_SUCCESSOR)
# PostgreSQL: the whole rotation in one statement, one round trip instead of four (BEGIN
# and COMMIT around it make three). `locked` is ROTATION_QUERY; the spend waits for its
# lock on the session row before it touches the token row (the token's session id is
# compared with `locked`'s, an InitPlan run before the row is updated), as app.locks
# orders them. Only if this statement spent the token is the successor inserted, with the
# session's expiry as its cap (`sessions.refresh_values` caps it alike), and the session
# touched. What the statement read is checked afterwards, in `rotate`: a refusal raises,
# and the caller does not commit, so the rollback undoes the writes.
_locked = ROTATION_QUERY.cte("locked")
_spent = (
    SPEND_TOKEN.where(_tokens.c.session_id == sa.select(_locked.c.session_id).scalar_subquery())
    .returning(_tokens.c.session_id)
    .cte("spent")
)
_inserted = (
    _tokens.insert()
    .from_select(
        list(_SUCCESSOR),
        sa.select(
            *(
                _spent.c.session_id
                if name == "session_id"
                else sa.func.least(value, _locked.c.session_expires_at)
                if name == "expires_at"
                else value
                for name, value in _SUCCESSOR.items()
            )
        ).select_from(_spent.join(_locked, sa.true())),
    )
    .returning(_tokens.c.jti)
    .cte("inserted")
)
ROTATE_IN_ONE_STATEMENT = (
    sa.select(_locked, _inserted.c.jti.label("successor_jti"))
    .select_from(_locked.outerjoin(_inserted, sa.true()))
    .add_cte(
        _sessions.update()
        .where(_sessions.c.id == _spent.c.session_id)
        .values(last_used_at=sa.bindparam("now"))
        .cte("touched")
    )
)


def rotate(token: str, client: ClientInfo) -> Rotated:
    """Spend a refresh token and return the next pair of its session, renewed by `client`.

    On the hot path: read the token, its session and its user while locking the session
    row; spend the token, insert its successor and touch the session. On PostgreSQL all
    of it is one statement, whose reads are checked after it ran: a refusal raises before
    the caller commits, so its writes are rolled back. No ORM flush, and nothing to reload
    after the caller's commit. RefreshTokenReused when the token was spent already, past
    the grace: its session is ended, and the caller must commit that.
    """
    claims = tokens.decode_refresh_token(token)
    now = utcnow()
    successor_jti = new_id()
    connection = db.session.connection()  # the session's transaction, minus the ORM's work
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        params = {
            "presented": claims.jti,
            "successor": successor_jti,
            "user": claims.user_id,
            "now": now,
            "expires": now + timedelta(seconds=current_app.config["JWT_REFRESH_TTL"]),
            "client_ip": client.ip,
            "client_agent": client.user_agent,
        }
        user = connection.execute(ROTATE_IN_ONE_STATEMENT, params).first()
    else:
        user = connection.execute(ROTATION_QUERY, {"presented": claims.jti}).first()
    if user is None or (user.session_id, user.user_id) != (claims.session_id, claims.user_id):
        raise TokenError("invalid_token", "The refresh token is not recognised.")
    # Before the session checks: disabling an account ends its sessions, and the client
    # should learn why rather than see a bare token_revoked.
    sessions.check_may_sign_in(user)
    if user.session_revoked_at is not None or user.token_revoked_at is not None:
        raise TokenError("token_revoked", "The session has ended.")
    if user.session_expires_at <= now:
        raise TokenError("token_expired", "The session has expired; sign in again.")

    session = SessionRef(
        claims.session_id,
        claims.user_id,
        user.session_expires_at,
        sessions.amr_claim(user.session_amr),
    )
    successor = sessions.refresh_values(session, now, client, jti=successor_jti)
    spent = user.successor_jti is not None if postgres else _spend(claims.jti, successor, now)
    if not spent:
        return _after_lost_race(claims.jti, session, user, now)
    return Rotated(sessions.issue_pair(user, session, successor, now), user.id, False)


def _spend(jti: str, successor: Mapping[str, Any], now: datetime) -> bool:
    """SQLite: spend the refresh token `jti` for `successor`: mark it used, insert the
    successor and touch the session. False, with nothing written, if the token was spent
    already."""
    connection = db.session.connection()
    params = {
        "presented": jti,
        "successor": successor["jti"],
        "session": successor["session_id"],
        "user": successor["user_id"],
        "now": now,
        "expires": successor["expires_at"],
        "client_ip": successor["ip"],
        "client_agent": successor["user_agent"],
    }
    if connection.execute(SPEND_TOKEN, params).rowcount != 1:
        return False
    connection.execute(TOUCH_SESSION, params)
    connection.execute(INSERT_SUCCESSOR, params)
    return True


def _after_lost_race(jti: str, session: SessionRef, user: sa.Row, now: datetime) -> Rotated:
    """The token was already spent: hand out its successor within the grace, else end the
    session (RefreshTokenReused)."""
    row = db.session.get(RefreshToken, jti, populate_existing=True)
    if row is None:
        # Deleted since it was read, with its account: on SQLite, where the read locks
        # nothing, a deletion can commit in between. Refused as any later try will be.
        raise TokenError("invalid_token", "The refresh token is not recognised.")
    grace = current_app.config["REFRESH_REUSE_INTERVAL"]
    if grace and row.used_at is not None and row.replaced_by and row.revoked_at is None:
        successor = db.session.get(RefreshToken, row.replaced_by, populate_existing=True)
        if (
            successor is not None
            and successor.revoked_at is None
            and now - row.used_at <= timedelta(seconds=grace)
        ):
            pair = sessions.issue_pair(user, session, _row_values(successor), now)
            return Rotated(pair, user.id, True)
    if row.used_at is not None:
        sessions.end_session(session.id, now)
        raise RefreshTokenReused(user.id, session.id)
    raise TokenError("token_revoked", "The refresh token has been used already.")


def _row_values(row: RefreshToken) -> dict:
    return {column.key: getattr(row, column.key) for column in RefreshToken.__table__.columns}
