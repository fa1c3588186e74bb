"""`login_required`: who is calling, and may they do this?

The guard verifies the bearer access token, then loads the user and the token's session in
one indexed query (two primary keys), so a token stops working the moment its session is
ended, its user is disabled or deleted, or its user's role changes. Errors follow RFC 6750.
"""

from functools import wraps

import sqlalchemy as sa
from flask import g, request

from app import tokens
from app.errors import APIError
from app.extensions import db
from app.models import LoginSession, User, utcnow
from app.tokens import TokenError

REALM = 'Bearer realm="api"'
# The token's user and session, by their primary keys. Built once: it runs on every request.
GUARD_QUERY = (
    sa.select(User, LoginSession.revoked_at, LoginSession.expires_at)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(User.id == sa.bindparam("user_id"), LoginSession.id == sa.bindparam("session_id"))
)


def _challenge(error: str, description: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'{REALM}, error="{error}", error_description="{description}"'}


def _unauthorized(code: str, message: str) -> APIError:
    return APIError(401, code, message, headers=_challenge("invalid_token", message))


def _bearer_token() -> str:
    """The token of `Authorization: Bearer <token>`; never taken from the query string."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header or scheme.lower() != "bearer":
        raise APIError(
            401,
            "missing_token",
            "An access token is required.",
            headers={"WWW-Authenticate": REALM},
        )
    token = token.strip()
    if not token or " " in token:
        raise _unauthorized("invalid_token", "The access token is malformed.")
    return token


def authenticate(role: str | None = None) -> User:
    """Verify the request's access token and put its user on `flask.g`, or raise APIError."""
    try:
        claims = tokens.decode_access_token(_bearer_token())
    except TokenError as exc:
        raise _unauthorized(exc.code, exc.message) from None
    found = db.session.execute(
        GUARD_QUERY, {"user_id": claims.user_id, "session_id": claims.session_id}
    ).first()
    if found is None:
        raise _unauthorized("token_revoked", "The access token has been revoked.")
    user, revoked_at, expires_at = found
    # Before the session checks: disabling an account also ends its sessions, and the
    # client should learn why rather than see a bare token_revoked.
    if user.disabled:
        raise APIError(403, "account_disabled", "This account is disabled.")
    if revoked_at is not None or expires_at <= utcnow() or user.role != claims.role:
        raise _unauthorized("token_revoked", "The access token has been revoked.")
    if role is not None and user.role != role:
        raise APIError(
            403,
            "insufficient_role",
            "This action requires a different role.",
            headers=_challenge("insufficient_scope", f"The {role} role is required."),
        )
    g.user = user
    g.session_id = claims.session_id
    return user


def login_required(view=None, *, role: str | None = None):
    """Guard a view: `@login_required` or `@login_required(role="admin")`."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            authenticate(role)
            return fn(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def current_user() -> User:
    """The user `login_required` authenticated for this request."""
    return g.user
