"""`login_required`: who is calling, and may they do this?

The guard verifies the bearer access token, then loads the user and the token's session in
one indexed query (two primary keys), so a token stops working the moment its session is
ended, its user is disabled or deleted, or its user's role changes. The query is one round
trip on PostgreSQL, outside any transaction (`app.database.read`). Its refusals become
RFC 6750 answers in `app/errors.py`.

Step-up: a route guarded with `mfa=True`, and every role-guarded route for a user whose
role is in REQUIRE_MFA_ROLES, needs a token whose `amr` has a second factor
(`app.mfa.has_second_factor`); the token says so, no query is added.
"""

from functools import wraps

import sqlalchemy as sa
from flask import current_app, g, request

from app import database, tokens
from app.exceptions import (
    AccountDisabled,
    InsufficientRole,
    InvalidAccessToken,
    MfaRequired,
    MissingAccessToken,
    TokenError,
)
from app.mfa import has_second_factor
from app.models import LoginSession, User, utcnow

# The token's user and session, by their primary keys. Built once: it runs on every request.
GUARD_QUERY = (
    sa.select(User, LoginSession.revoked_at, LoginSession.expires_at)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(User.id == sa.bindparam("user_id"), LoginSession.id == sa.bindparam("session_id"))
)


def _bearer_token() -> str:
    """The token of `Authorization: Bearer <token>`; never taken from the query string."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header or scheme.lower() != "bearer":
        raise MissingAccessToken()
    token = token.strip()
    if not token or " " in token:
        raise InvalidAccessToken("invalid_token", "The access token is malformed.")
    return token


def _revoked() -> InvalidAccessToken:
    return InvalidAccessToken("token_revoked", "The access token has been revoked.")


def accepted_access_token(token: str) -> tuple[User, tokens.AccessClaims]:
    """The user and claims of `token` if the guard would accept it now, whatever the
    route's role: valid, unexpired, its session live, its user enabled and of the token's
    role. Raise an exception of `app.exceptions` otherwise. Introspection asks this too."""
    try:
        claims = tokens.decode_access_token(token)
    except TokenError as exc:
        raise InvalidAccessToken(exc.code, exc.message) from None
    found = database.read(GUARD_QUERY, {"user_id": claims.user_id, "session_id": claims.session_id})
    if not found:
        raise _revoked()
    user, revoked_at, expires_at = found[0]
    # Before the session checks: disabling an account also ends its sessions, and the
    # client should learn why rather than see a bare token_revoked.
    if user.disabled:
        raise AccountDisabled()
    if revoked_at is not None or expires_at <= utcnow() or user.role != claims.role:
        raise _revoked()
    return user, claims


def authenticate(roles: tuple[str, ...] = (), *, mfa: bool = False) -> User:
    """Verify the request's access token and remember its user, session and `amr` for
    `current_user`, `current_session_id` and `current_amr`; raise an exception of
    `app.exceptions` if it does not pass. `roles`: the user must have one of them (and
    it must still be in ROLES). `mfa`: the token must have a second factor."""
    user, claims = accepted_access_token(_bearer_token())
    config = current_app.config
    # A role removed from ROLES while accounts still hold it admits to no guarded route,
    # even one that names it (docs/security.md, "Roles").
    if roles and (user.role not in roles or user.role not in config["ROLES"]):
        raise InsufficientRole(roles)
    step_up = mfa or (roles and user.role in config["REQUIRE_MFA_ROLES"])
    if step_up and not has_second_factor(claims.amr):
        raise MfaRequired()
    g.user = user
    g.session_id = claims.session_id
    g.amr = claims.amr
    return user


def login_required(
    view=None, *, role: str | None = None, roles: tuple[str, ...] = (), mfa: bool = False
):
    """Guard a view: `@login_required`, `@login_required(role="admin")`,
    `@login_required(roles=("admin", "moderator"))` (any of them), and with `mfa=True`
    only for a token with a second factor (403 mfa_required otherwise)."""
    allowed = (*roles, role) if role is not None else tuple(roles)

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            authenticate(allowed, mfa=mfa)
            return fn(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def current_user() -> User:
    """The user `login_required` authenticated for this request."""
    return g.user


def current_session_id() -> str:
    """The id of the session whose access token `login_required` accepted."""
    return g.session_id


def current_amr() -> tuple[str, ...]:
    """How the session of the accepted access token signed in (RFC 8176 `amr`)."""
    return g.amr
