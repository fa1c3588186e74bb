"""Sign-in sessions and refresh-token rotation with reuse detection.

Rotation spends the presented jti with one conditional UPDATE. Whichever request flips
`used_at` first wins; every other request with the same token sees zero rows updated and
is either handed the same successor (within REFRESH_REUSE_INTERVAL) or treated as theft,
which ends the whole session: every refresh token of the chain and, through the `sid`
claim, every access token of it.

A login checks the password (bcrypt: a quarter of a second at the default cost) before it
opens its session, and a password reset may commit meanwhile. So the session is opened only if the
user's `credential_version` is still the one the login read (`start_session`), and every
change that ends all sessions bumps that version before ending them
(`credentials_changed`): either the login sees the bump and opens nothing, or the change
sees the login's session and ends it. The row locks this takes follow `app.locks`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app, request

from app import tokens
from app.audit import audit
from app.errors import APIError
from app.extensions import db
from app.locks import lock_sessions
from app.models import LoginSession, RefreshToken, User, new_id, utcnow
from app.tokens import TokenError

# What `new_id` makes; anything else in a URL is refused before it reaches the database.
SESSION_ID = re.compile(r"[0-9a-f]{32}")


class SessionRef(NamedTuple):
    """What a login or a rotation needs of a session: a LoginSession's attributes, without
    the ORM."""

    id: str
    user_id: int
    expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    refresh_expires_in: int


def _client() -> dict[str, str | None]:
    return {"ip": request.remote_addr, "user_agent": request.user_agent.string[:512] or None}


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=current_app.config[name])


def _refresh_values(session: SessionRef, now: datetime, jti: str) -> dict:
    """The columns of a new refresh token of `session`: it never outlives the session."""
    return {
        "jti": jti,
        "session_id": session.id,
        "user_id": session.user_id,
        "issued_at": now,
        "expires_at": min(now + _seconds("JWT_REFRESH_TTL"), session.expires_at),
        **_client(),
    }


def _row_values(row: RefreshToken) -> dict:
    return {column.key: getattr(row, column.key) for column in RefreshToken.__table__.columns}


def _refresh_string(refresh: Mapping[str, Any]) -> str:
    return tokens.encode_refresh_token(
        user_id=refresh["user_id"],
        session_id=refresh["session_id"],
        jti=refresh["jti"],
        issued_at=refresh["issued_at"],
        expires_at=refresh["expires_at"],
    )


def _pair(
    user: User | sa.Row,
    session: SessionRef,
    refresh: Mapping[str, Any],
    now: datetime,
) -> TokenPair:
    """The pair to hand out: a new access token and `refresh` (a refresh token's columns)."""
    expires_at = min(now + _seconds("JWT_ACCESS_TTL"), session.expires_at)
    access = tokens.encode_access_token(
        user_id=user.id,
        email=user.email,
        role=user.role,
        session_id=session.id,
        jti=new_id(),
        issued_at=now,
        expires_at=expires_at,
    )
    return TokenPair(
        access_token=access,
        refresh_token=_refresh_string(refresh),
        expires_in=int((expires_at - now).total_seconds()),
        session_id=session.id,
        refresh_expires_in=int((refresh["expires_at"] - now).total_seconds()),
    )


def check_may_sign_in(user: User | sa.Row) -> None:
    """Refuse a login or refresh of a disabled account, or of an unverified one when
    REQUIRE_EMAIL_VERIFICATION is on."""
    if user.disabled:
        raise APIError(403, "account_disabled", "This account is disabled.")
    if current_app.config["REQUIRE_EMAIL_VERIFICATION"] and not user.email_verified:
        raise APIError(
            403, "email_unverified", "Confirm your email address with the link we sent first."
        )


# The statements of a login, built once. The session is inserted only while the user's
# row still holds what the login checked: the same credential_version, and not disabled.
# On PostgreSQL `FOR SHARE` on that row makes the insert and a concurrent UPDATE of the
# user wait for each other; if the UPDATE commits first, the condition is checked again
# on the updated row, and nothing is inserted.
_sessions, _tokens, _users = LoginSession.__table__, RefreshToken.__table__, User.__table__
_NEW_SESSION = {
    "id": sa.bindparam("session", type_=_sessions.c.id.type),
    "user_id": _users.c.id,
    "created_at": sa.bindparam("now", type_=_sessions.c.created_at.type),
    "last_used_at": sa.bindparam("now", type_=_sessions.c.last_used_at.type),
    "expires_at": sa.bindparam("expires", type_=_sessions.c.expires_at.type),
    "user_agent": sa.bindparam("client_agent", type_=_sessions.c.user_agent.type),
    "ip": sa.bindparam("client_ip", type_=_sessions.c.ip.type),
}
OPEN_SESSION = (
    _sessions.insert()
    .from_select(
        list(_NEW_SESSION),
        sa.select(*_NEW_SESSION.values())
        .where(
            _users.c.id == sa.bindparam("user"),
            _users.c.credential_version == sa.bindparam("version"),
            _users.c.disabled.is_(False),
        )
        .with_for_update(read=True),
    )
    .returning(_sessions.c.id)
)


def start_session(user: User) -> TokenPair | None:
    """Open a new session for `user` (the caller commits) and return its first token pair.

    None, with nothing written, when the credentials `user` was read with are no longer
    current: its password, role or status changed, or it was deleted, since it was read
    (see the module's docstring).
    """
    now = utcnow()
    session = SessionRef(new_id(), user.id, now + _seconds("JWT_SESSION_MAX_AGE"))
    client = _client()
    connection = db.session.connection()
    opened = connection.execute(
        OPEN_SESSION,
        {
            "session": session.id,
            "user": user.id,
            "version": user.credential_version,
            "now": now,
            "expires": session.expires_at,
            "client_agent": client["user_agent"],
            "client_ip": client["ip"],
        },
    ).first()
    if opened is None:
        return None
    refresh = _refresh_values(session, now, new_id())
    connection.execute(_tokens.insert(), refresh)
    return _pair(user, session, refresh, now)


def credentials_changed(user: User, now: datetime | None = None) -> None:
    """End every session of `user` after a change of their password, role or status, or
    before deleting them, including a session a login is opening right now (the caller
    commits).

    The user's row is written first (the version bump, with any pending change of `user`),
    then the sessions are locked and ended: a login either finds the new version and opens
    nothing, or holds the row (`start_session`) until its session is committed, and the
    end of all sessions then sees it. Ending the sessions before anything wrote the row
    would miss a session inserted but not yet committed.
    """
    user.credential_version = User.credential_version + 1
    db.session.flush()
    end_all_sessions(user.id, now)


# The statements of a rotation, built once: every refresh runs them. They are Core
# statements on the tables, run on the session's connection (its transaction) without the
# ORM's per-statement and per-row work: profiled, that was a fifth of a refresh.
# The token, its session and its user in one row, locking the session row before any token
# row is touched (see `app.locks`). `id`, `email`, `role`, `disabled` and
# `email_verified` are the user's, so that the row serves where a User is read.
ROTATION_QUERY = (
    sa.select(
        _tokens.c.session_id,
        _tokens.c.user_id,
        _tokens.c.revoked_at.label("token_revoked_at"),
        _sessions.c.expires_at.label("session_expires_at"),
        _sessions.c.revoked_at.label("session_revoked_at"),
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
    .where(_tokens.c.jti == sa.bindparam("jti"))
    .with_for_update(of=_sessions)
)
SPEND_TOKEN = (
    _tokens.update()
    .where(
        _tokens.c.jti == sa.bindparam("spent"),
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
# PostgreSQL: all three writes in one statement, one round trip instead of three. The
# successor is inserted, and the session touched, only if this statement spent the token.
_spent = SPEND_TOKEN.returning(_tokens.c.session_id).cte("spent")
ROTATE_IN_ONE_STATEMENT = (
    _tokens.insert()
    .from_select(
        list(_SUCCESSOR),
        sa.select(
            *(
                _spent.c.session_id if name == "session_id" else value
                for name, value in _SUCCESSOR.items()
            )
        ),
    )
    .add_cte(
        _sessions.update()
        .where(_sessions.c.id == _spent.c.session_id)
        .values(last_used_at=sa.bindparam("now"))
        .cte("touched")
    )
    .returning(_tokens.c.jti)
)


def rotate(token: str) -> TokenPair:
    """Spend a refresh token and return the next pair of its session; commits.

    On the hot path: read the token, its session and its user while locking the session
    row; spend the token, insert its successor and touch the session (one statement on
    PostgreSQL); commit. No ORM flush, no reload after the commit.
    """
    claims = tokens.decode_refresh_token(token)
    now = utcnow()
    user = db.session.connection().execute(ROTATION_QUERY, {"jti": claims.jti}).first()
    if user is None or (user.session_id, user.user_id) != (claims.session_id, claims.user_id):
        raise TokenError("invalid_token", "The refresh token is not recognised.")
    # Before the session checks: disabling an account ends its sessions, and the client
    # should learn why rather than see a bare token_revoked.
    check_may_sign_in(user)
    if user.session_revoked_at is not None or user.token_revoked_at is not None:
        raise TokenError("token_revoked", "The session has ended.")
    if user.session_expires_at <= now:
        raise TokenError("token_expired", "The session has expired; sign in again.")

    session = SessionRef(claims.session_id, claims.user_id, user.session_expires_at)
    successor = _refresh_values(session, now, new_id())
    if not _spend(claims.jti, successor, now):
        return _after_lost_race(claims.jti, session, user, now)
    pair = _pair(user, session, successor, now)
    db.session.commit()
    audit("refresh", user_id=claims.user_id, session_id=claims.session_id)
    return pair


def _spend(jti: str, successor: Mapping[str, Any], now: datetime) -> bool:
    """Spend the refresh token `jti` for `successor`: mark it used, insert the successor and
    touch the session. False, with nothing written, if the token was spent already."""
    connection = db.session.connection()  # the session's transaction, minus the ORM's work
    params = {
        "spent": jti,
        "successor": successor["jti"],
        "session": successor["session_id"],
        "user": successor["user_id"],
        "now": now,
        "expires": successor["expires_at"],
        "client_ip": successor["ip"],
        "client_agent": successor["user_agent"],
    }
    if connection.dialect.name == "postgresql":
        return connection.execute(ROTATE_IN_ONE_STATEMENT, params).first() is not None
    if connection.execute(SPEND_TOKEN, params).rowcount != 1:
        return False
    connection.execute(TOUCH_SESSION, params)
    connection.execute(INSERT_SUCCESSOR, params)
    return True


def _after_lost_race(jti: str, session: SessionRef, user: sa.Row, now: datetime) -> TokenPair:
    """The token was already spent: hand out its successor within the grace, else revoke."""
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
            pair = _pair(user, session, _row_values(successor), now)
            db.session.commit()
            audit("refresh", user_id=user.id, session_id=session.id, within_reuse_interval=True)
            return pair
    if row.used_at is not None:
        end_session(session.id, now)
        db.session.commit()
        audit("refresh_reuse_detected", user_id=user.id, session_id=session.id)
    raise TokenError("token_revoked", "The refresh token has been used already.")


def _revoke(session_match, token_match, now: datetime | None) -> None:
    now = now or utcnow()
    lock_sessions(session_match)
    db.session.execute(
        sa.update(RefreshToken)
        .where(token_match, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(LoginSession)
        .where(session_match, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def end_session(session_id: str, now: datetime | None = None) -> None:
    """Revoke a session and every refresh token of it (the caller commits)."""
    _revoke(LoginSession.id == session_id, RefreshToken.session_id == session_id, now)


def end_all_sessions(user_id: int, now: datetime | None = None) -> None:
    """Revoke every session of a user and all their refresh tokens (the caller commits)."""
    _revoke(LoginSession.user_id == user_id, RefreshToken.user_id == user_id, now)


def _live(now: datetime):
    """A session that can still be used: not ended, not past its absolute limit, and holding
    a refresh token that can still be spent (an idle session whose last refresh token has
    expired is over, though nobody ended it)."""
    spendable = sa.exists().where(
        RefreshToken.session_id == LoginSession.id,
        RefreshToken.used_at.is_(None),
        RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > now,
    )
    return sa.and_(LoginSession.revoked_at.is_(None), LoginSession.expires_at > now, spendable)


def live_sessions(user_id: int) -> list[LoginSession]:
    """The sessions of `user_id` that can still be used, newest first."""
    return list(
        db.session.scalars(
            sa.select(LoginSession)
            .where(LoginSession.user_id == user_id, _live(utcnow()))
            .order_by(LoginSession.created_at.desc(), LoginSession.id)
        )
    )


def end_live_session(user_id: int, session_id: str) -> bool:
    """End a live session of `user_id` (the caller commits).

    False, without a hint of why, when `user_id` has no live session by that id: it never
    existed, belongs to someone else, or has ended already.
    """
    if not SESSION_ID.fullmatch(session_id):
        return False
    found = db.session.scalar(
        sa.select(LoginSession.id).where(
            LoginSession.id == session_id, LoginSession.user_id == user_id, _live(utcnow())
        )
    )
    if found is None:
        return False
    end_session(session_id)
    return True


def logout(token: str) -> None:
    """End the session a refresh token belongs to, whatever the token's state; commits.

    An expired token still ends its session: its signature proves we issued it.
    """
    try:
        claims = tokens.decode_refresh_token(token, verify_exp=False)
    except TokenError:
        return
    end_session(claims.session_id)
    db.session.commit()
    audit("logout", user_id=claims.user_id, session_id=claims.session_id)
