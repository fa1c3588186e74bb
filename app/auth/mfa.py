"""The second step of a login with MFA (a view of `auth`): the `mfaToken` of the password
step and a code for the token pair.

Limited as login is: per address, and per account, the account being the user the
`mfaToken` was issued to (read before that limit counts, so that the key function reads
only `g`: a key function that raised would pass for a dead rate-limit store). A right
code gives its per-account attempt back, as the right password does at login.
"""

from functools import wraps

from flask import current_app, g

from app.audit import audit
from app.auth.routes import bp, open_session
from app.extensions import db
from app.mfa import challenges
from app.mfa.exceptions import InvalidMfaCode, InvalidMfaToken
from app.ratelimit import limit, refund_account_attempt
from app.schemas.mfa import MfaVerifySchema
from app.schemas.responses import TokenPairSchema
from app.web import cookies


def _find_challenge_owner(view):
    """Remember whose `mfaToken` the validated body holds (None: not one of ours)."""

    @wraps(view)
    def wrapper(data, *args, **kwargs):
        g.mfa_owner = challenges.owner(data["mfa_token"])
        return view(data, *args, **kwargs)

    return wrapper


def challenge_owner_key() -> str:
    """The per-account key of verification: the user the `mfaToken` was issued to."""
    owner = g.mfa_owner
    return f"user:{owner}" if owner is not None else "mfa-token:unknown"


@bp.post("/mfa/verify")
@bp.response(200, TokenPairSchema)
@bp.errors(401, 403, 429, 503)
@bp.arguments(MfaVerifySchema)
@limit("RATELIMIT_LOGIN")
@_find_challenge_owner
@limit("RATELIMIT_LOGIN_ACCOUNT", key_func=challenge_owner_key)
def verify_mfa(data):
    """Answer the `mfaToken` of a login with a TOTP `code` or a `recoveryCode`; open the
    session (an access and a refresh token, or cookie mode as at login).

    A wrong code is a 401 `invalid_mfa_code` and counts: after 5, the `mfaToken` is dead
    (401 `invalid_token`, as for an unknown, expired or used one).
    """
    try:
        login = challenges.verify(
            data["mfa_token"],
            code=data.get("code"),
            recovery_code=data.get("recovery_code"),
            keys=current_app.config["MFA_ENCRYPTION_KEY"],
        )
    except InvalidMfaCode as wrong:
        db.session.commit()  # the wrong code counts against the mfaToken
        audit("mfa_verify_failure", user_id=wrong.user_id, reason="wrong_code")
        raise
    except InvalidMfaToken:
        audit("mfa_verify_failure", user_id=g.mfa_owner, reason="invalid_token")
        raise
    refund_account_attempt(challenge_owner_key)
    user_id = login.user.id  # read before the commit expires it, which would cost a query
    pair = open_session(login.user, login.amr, "mfa_verify_failure", InvalidMfaToken)
    db.session.commit()
    if login.factor == "recovery_code":
        audit("mfa_recovery_code_used", user_id=user_id)
    audit("mfa_verify_success", user_id=user_id, session_id=pair.session_id, factor=login.factor)
    return cookies.token_response(pair, cookies.requested())
