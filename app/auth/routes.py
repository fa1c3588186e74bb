"""Register, log in, refresh, log out (of one session or of all of them)."""

import sqlalchemy as sa
from flask import jsonify

from app import database, passwords, rotation, sessions, users, verification
from app.audit import audit
from app.exceptions import InvalidCredentials, RefreshTokenReused, SignInRefused
from app.extensions import db
from app.mfa import AMR_PASSWORD, challenges
from app.models import User
from app.proxies import client_info
from app.ratelimit import account_key, limit, refund_account_attempt
from app.schemas.requests import CredentialsSchema, RefreshTokenSchema, RegisterSchema
from app.schemas.responses import (
    LOGIN_ANSWER,
    MfaChallengeSchema,
    TokenPairSchema,
    UserCreatedSchema,
)
from app.security import current_user, login_required
from app.sessions import TokenPair
from app.web import cookies
from app.web.api import Blueprint

bp = Blueprint("auth", __name__, description="Accounts and sessions")
MFA_CHALLENGE = MfaChallengeSchema()


@bp.post("/register")
@bp.response(201, UserCreatedSchema)
@bp.errors(409, 429, 503)
@limit("RATELIMIT_REGISTER")
@bp.arguments(RegisterSchema)
def register(data):
    """Create an account, email it a verification link, and return its id and email."""
    user = users.create_user(data["email"], data["password"])
    token = verification.issue(user)
    db.session.commit()
    verification.send(user, token)
    audit("register", user_id=user.id)
    return user


@bp.post("/login")
@bp.response(200, LOGIN_ANSWER, description="The token pair, or the second factor's challenge")
@bp.errors(401, 403, 429, 503)
@bp.arguments(CredentialsSchema)
@limit("RATELIMIT_LOGIN")
@limit("RATELIMIT_LOGIN_ACCOUNT", key_func=account_key)
def login(data):
    """Check the credentials and open a session: an access and a refresh token; for a user
    with a second factor, an `mfaToken` to trade with a code at /auth/mfa/verify instead."""
    found = database.read(sa.select(User).where(User.email == data["email"]))
    user = found[0][0] if found else None
    if user is None:
        passwords.burn_check(data["password"])
        audit("login_failure", reason="unknown_email", email=data["email"])
        raise InvalidCredentials()
    if not user.check_password(data["password"]):
        audit("login_failure", user_id=user.id, reason="wrong_password")
        raise InvalidCredentials()
    refund_account_attempt()
    user_id = user.id  # read before the commit expires it, which would cost a query
    if user.mfa_enabled:
        check_may_sign_in(user, "login_failure")
        mfa_token = challenges.issue(user)
        db.session.commit()
        audit("mfa_challenge_issued", user_id=user_id)
        challenge = {"mfa_token": mfa_token, "expires_in": challenges.TTL_SECONDS}
        return jsonify(MFA_CHALLENGE.dump(challenge))
    pair = open_session(user, AMR_PASSWORD, "login_failure", InvalidCredentials)
    db.session.commit()
    audit("login_success", user_id=user_id, session_id=pair.session_id)
    return cookies.token_response(pair, cookies.requested())


def check_may_sign_in(user: User, failure_event: str) -> None:
    """Refuse (and audit as `failure_event`) a disabled or, when required, unverified
    account."""
    try:
        sessions.check_may_sign_in(user)
    except SignInRefused as refused:
        audit(failure_event, user_id=user.id, reason=refused.reason)
        raise


def open_session(
    user: User, amr: tuple[str, ...], failure_event: str, overtaken: type[Exception]
) -> TokenPair:
    """The last step of a sign-in (a login, or its second factor): open the session.

    A sign-in that a password reset or change, a role change, a disable or a deletion
    overtook while it checked the credentials opens nothing, as if that change had come
    first: 403 if the account is now disabled, else `overtaken` (the credentials are dead).
    """
    user_id = user.id
    check_may_sign_in(user, failure_event)
    with database.statement_alone():  # the session and its refresh token, in one statement
        pair = sessions.start_session(user, client_info(), amr)
    if pair is not None:
        return pair
    audit(failure_event, user_id=user_id, reason="credentials_changed")
    user = db.session.get(User, user_id, populate_existing=True)
    if user is not None:
        sessions.check_may_sign_in(user)
    raise overtaken()


@bp.post("/refresh")
@bp.response(200, TokenPairSchema)
@bp.errors(401, 403, 429, 503)
@bp.optional_body(RefreshTokenSchema)
@limit("RATELIMIT_REFRESH")
def refresh():
    """Spend a refresh token (body or cookie) and return the session's next token pair."""
    token, from_cookie = cookies.refresh_token_from_request()
    try:
        rotated = rotation.rotate(token, client_info())
    except RefreshTokenReused as reuse:
        db.session.commit()  # the refresh fails, but the session it ended stays ended
        audit("refresh_reuse_detected", user_id=reuse.user_id, session_id=reuse.session_id)
        raise
    db.session.commit()
    pair = rotated.pair
    extra = {"within_reuse_interval": True} if rotated.within_reuse_interval else {}
    audit("refresh", user_id=rotated.user_id, session_id=pair.session_id, **extra)
    return cookies.token_response(pair, from_cookie or cookies.requested())


@bp.post("/logout")
@bp.response(204)
@bp.errors(401, 403, 503)
@bp.optional_body(RefreshTokenSchema)
def logout():
    """End the session of a refresh token (body or cookie). Idempotent."""
    token, from_cookie = cookies.refresh_token_from_request()
    ended = sessions.logout(token)
    if ended is not None:
        db.session.commit()
        audit("logout", user_id=ended.user_id, session_id=ended.session_id)
    return cookies.signed_out(clear=from_cookie)


@bp.post("/logout-all")
@bp.response(204)
@bp.bearer()
@login_required
def logout_all():
    """End every session of the caller, on every device, with all their tokens."""
    user = current_user()
    sessions.end_all_sessions(user.id)
    db.session.commit()
    audit("logout_all", user_id=user.id)
    return cookies.signed_out()
