"""Sign-in sessions: open one at login, end one or all, list the live ones, log out.

A session is a row of `login_sessions` and the chain of refresh tokens rotated within it
(`app/rotation.py` spends them); ending a session revokes the row and every token of the
chain, and, through the `sid` claim, every access token of it. The first token pair of a
session, and every later one, is built here (`issue_pair`).

A login checks the password (bcrypt: a quarter of a second at the default cost) before it
opens its session, and a password reset may commit meanwhile. So the session is opened
only if the user's `credential_version` is still the one the login read (`start_session`),
and every change that ends all sessions bumps that version before ending them
(`credentials_changed`): either the login sees the bump and opens nothing, or the change
sees the login's session and ends it. The row locks this takes follow `app.locks`.

Like every service, nothing here reads the request, commits or audits (see `app/__init__.py`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app

from app import database, email_tokens, tokens
from app.exceptions import AccountDisabled, EmailNotVerified, SessionNotFound, TokenError
from app.extensions import db
from app.locks import lock_sessions
from app.mfa import AMR_PASSWORD
from app.models import LoginSession, RefreshToken, User, new_id, utcnow
from app.tokens import RefreshClaims

# What `new_id` makes; anything else in a URL is refused before it reaches the database.
SESSION_ID = re.compile(r"[0-9a-f]{32}")


class ClientInfo(NamedTuple):
    """Who opened a session or renewed it, as the view saw them; kept with its tokens."""

    ip: str | None
    user_agent: str | None


class SessionRef(NamedTuple):
    """What a login or a rotation needs of a session: a LoginSession's attributes, without
    the ORM (`amr` as the tuple the access tokens carry)."""

    id: str
    user_id: int
    expires_at: datetime
    amr: tuple[str, ...]


def amr_column(amr: tuple[str, ...]) -> str:
    """`amr` as `login_sessions.amr` stores it: space-separated, "pwd otp"."""
    return " ".join(amr)


def amr_claim(stored: str) -> tuple[str, ...]:
    return tuple(stored.split())


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    refresh_expires_in: int


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=current_app.config[name])


def refresh_values(
    session: SessionRef, now: datetime, client: ClientInfo, *, jti: str | None = None
) -> dict:
    """The columns of a new refresh token of `session`: it never outlives the session.
    `jti`: the id it was given already (app/rotation.py writes it in the same statement
    that reads the session)."""
    return {
        "jti": jti or new_id(),
        "session_id": session.id,
        "user_id": session.user_id,
        "issued_at": now,
        "expires_at": min(now + _seconds("JWT_REFRESH_TTL"), session.expires_at),
        "ip": client.ip,
        "user_agent": client.user_agent,
    }


def _refresh_string(refresh: Mapping[str, Any]) -> str:
    return tokens.encode_refresh_token(
        user_id=refresh["user_id"],
        session_id=refresh["session_id"],
        jti=refresh["jti"],
        issued_at=refresh["issued_at"],
        expires_at=refresh["expires_at"],
    )


def issue_pair(
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
        amr=session.amr,
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
        raise AccountDisabled()
    if current_app.config["REQUIRE_EMAIL_VERIFICATION"] and not user.email_verified:
        raise EmailNotVerified()


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
    "amr": sa.bindparam("amr", type_=_sessions.c.amr.type),
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
# PostgreSQL: the session and its first refresh token in one statement, one round trip
# instead of two. The token is inserted only if the session was.
_opened = OPEN_SESSION.cte("opened")
_FIRST_REFRESH = {
    "jti": sa.bindparam("jti", type_=_tokens.c.jti.type),
    "session_id": _opened.c.id,
    "user_id": sa.bindparam("user", type_=_tokens.c.user_id.type),
    "issued_at": sa.bindparam("now", type_=_tokens.c.issued_at.type),
    "expires_at": sa.bindparam("refresh_expires", type_=_tokens.c.expires_at.type),
    "ip": sa.bindparam("client_ip", type_=_tokens.c.ip.type),
    "user_agent": sa.bindparam("client_agent", type_=_tokens.c.user_agent.type),
}
OPEN_SESSION_WITH_TOKEN = (
    _tokens.insert()
    .from_select(list(_FIRST_REFRESH), sa.select(*_FIRST_REFRESH.values()))
    .returning(_tokens.c.session_id)
)


def start_session(
    user: User, client: ClientInfo, amr: tuple[str, ...] = AMR_PASSWORD
) -> TokenPair | None:
    """Open a new session for `user`, signed in from `client` with the RFC 8176 methods
    `amr` (kept by every token of the session), and return its first pair.

    None, with nothing written, when the credentials `user` was read with are no longer
    current: its password, role or status changed, or it was deleted, since it was read
    (see the module's docstring).
    """
    now = utcnow()
    session = SessionRef(new_id(), user.id, now + _seconds("JWT_SESSION_MAX_AGE"), amr)
    refresh = refresh_values(session, now, client)
    params = {
        "session": session.id,
        "user": user.id,
        "version": user.credential_version,
        "now": now,
        "expires": session.expires_at,
        "client_agent": client.user_agent,
        "client_ip": client.ip,
        "amr": amr_column(amr),
        "jti": refresh["jti"],
        "refresh_expires": refresh["expires_at"],
    }
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        opened = connection.execute(OPEN_SESSION_WITH_TOKEN, params).first()
    else:
        opened = connection.execute(OPEN_SESSION, params).first()
        if opened is not None:
            connection.execute(_tokens.insert(), refresh)
    if opened is None:
        return None
    return issue_pair(user, session, refresh, now)


def credentials_changed(
    user: User, now: datetime | None = None, *, keep_session: str | None = None
) -> None:
    """End every session of `user` after a change of their password, role or status, or
    before deleting them, including a session a login is opening right now.

    The user's row is written first (the version bump, with any pending change of `user`),
    then the sessions are locked and ended: a login either finds the new version and opens
    nothing, or holds the row (`start_session`) until its session is committed, and the
    end of all sessions then sees it. Ending the sessions before anything wrote the row
    would miss a session inserted but not yet committed. `keep_session`: the one session
    that goes on, the caller's, when it proved the change itself (turning a second
    factor on ends every other session). A pending email change ends too: it was asked
    with the credentials that no longer hold (a new password must lock out whoever knew
    the old one, link to their own address included).
    """
    user.credential_version = User.credential_version + 1
    db.session.flush()
    end_all_sessions(user.id, now, keep_session=keep_session)
    email_tokens.revoke_all(user.id, email_tokens.EMAIL_CHANGE)


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
    """Revoke a session and every refresh token of it."""
    _revoke(LoginSession.id == session_id, RefreshToken.session_id == session_id, now)


def end_all_sessions(
    user_id: int, now: datetime | None = None, *, keep_session: str | None = None
) -> None:
    """Revoke every session of a user, but `keep_session`, and all their refresh tokens."""
    session_match = LoginSession.user_id == user_id
    token_match = RefreshToken.user_id == user_id
    if keep_session is not None:
        session_match = sa.and_(session_match, LoginSession.id != keep_session)
        token_match = sa.and_(token_match, RefreshToken.session_id != keep_session)
    _revoke(session_match, token_match, now)


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
    rows = database.read(
        sa.select(LoginSession)
        .where(LoginSession.user_id == user_id, _live(utcnow()))
        .order_by(LoginSession.created_at.desc(), LoginSession.id)
    )
    return [session for (session,) in rows]


def end_live_session(user_id: int, session_id: str) -> None:
    """End a live session of `user_id`.

    SessionNotFound, without a hint of why, when `user_id` has no live session by that id:
    it never existed, belongs to someone else, or has ended already.
    """
    if not SESSION_ID.fullmatch(session_id):
        raise SessionNotFound()
    found = db.session.scalar(
        sa.select(LoginSession.id).where(
            LoginSession.id == session_id, LoginSession.user_id == user_id, _live(utcnow())
        )
    )
    if found is None:
        raise SessionNotFound()
    end_session(session_id)


def logout(token: str) -> RefreshClaims | None:
    """End the session a refresh token belongs to, whatever the token's state, and return
    the token's claims (None, ending nothing, for a token that is not ours).

    An expired token still ends its session: its signature proves we issued it.
    """
    try:
        claims = tokens.decode_refresh_token(token, verify_exp=False)
    except TokenError:
        return None
    end_session(claims.session_id)
    return claims
