"""Signing in with a passkey (views of `auth`): request options, then the assertion for
the token pair.

Both routes are open to anyone and limited per address (RATELIMIT_PASSKEY), counted apart.
No email is asked, so there is no per-account limit: a guess here needs the private key,
not a password. A refused assertion is one 401 `invalid_passkey`, whatever the reason (the
audit line has it); a verified one opens a session like a password login, in cookie mode
too, with the `amr` of a key that verified its user: a second factor.
"""

from flask import current_app

from app.audit import audit
from app.auth.routes import bp, open_session
from app.exceptions import ServiceError
from app.extensions import db
from app.passkeys import RelyingParty, login
from app.passkeys.exceptions import PasskeyLoginFailed
from app.ratelimit import limit
from app.schemas.passkeys import PasskeyLoginSchema, RequestOptionsSchema
from app.schemas.responses import TokenPairSchema
from app.web import cookies


@bp.post("/passkeys/options")
@bp.response(200, RequestOptionsSchema)
@bp.errors(429, 503)
@limit("RATELIMIT_PASSKEY")
def passkey_request_options():
    """Options for `navigator.credentials.get()`: a new challenge, valid 5 minutes, and no
    credential named (the authenticator offers the passkeys it holds for this service).
    The body, `{}`, is not read."""
    options = login.options(RelyingParty.from_config(current_app.config))
    db.session.commit()
    return options


@bp.post("/passkeys/login")
@bp.response(200, TokenPairSchema)
@bp.errors(401, 403, 429, 503)
@bp.arguments(PasskeyLoginSchema)
@limit("RATELIMIT_PASSKEY")
def passkey_login(data):
    """Check the passkey's assertion for a challenge of /auth/passkeys/options and open a
    session: an access and a refresh token (or cookie mode, as at login)."""
    try:
        verified = login.verify(data["credential"], RelyingParty.from_config(current_app.config))
    except PasskeyLoginFailed as refused:
        db.session.commit()  # the challenge stays spent
        audit(
            "passkey_login_failure",
            user_id=refused.user_id,
            reason=refused.reason,
            detail=refused.detail,
        )
        raise
    user_id = verified.user.id  # read before the commit expires it
    try:
        pair = open_session(
            verified.user, verified.amr, "passkey_login_failure", PasskeyLoginFailed
        )
    except ServiceError:
        db.session.commit()  # refused (disabled, unverified): the challenge stays spent
        raise
    db.session.commit()
    audit(
        "passkey_login_success",
        user_id=user_id,
        session_id=pair.session_id,
        passkey_id=verified.passkey_id,
    )
    return cookies.token_response(pair, cookies.requested())
