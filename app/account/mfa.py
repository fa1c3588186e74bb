"""The caller's second factor (views of `account`): enroll an authenticator, confirm it,
turn it off, renew the recovery codes.

Every route that checks a code is limited like the password checks of `/me`, per address
and per account: six digits are few enough to guess with a stolen access token otherwise.
A wrong code here is a 400 `invalid_mfa_code` (`WrongMfaCode`), not a 401: the access
token is fine, and a client must not take the answer for "signed out".
"""

from flask import current_app

from app import sessions
from app.account.routes import bp
from app.audit import audit
from app.extensions import db
from app.mfa import enrollment, totp
from app.ratelimit import limit, user_key
from app.schemas.mfa import (
    RecoveryCodesSchema,
    SecondFactorSchema,
    TotpCodeSchema,
    TotpEnrollmentSchema,
)
from app.security import current_session_id, current_user, login_required


def code_checked(view):
    """A route that checks the caller's code: signed in, then limited as password checks
    (the guard first, so that no token is a 401 and never a 429)."""
    for decorate in reversed(
        (
            bp.bearer(409, 429),
            login_required,
            limit("RATELIMIT_PASSWORD_CHECK"),
            limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key),
        )
    ):
        view = decorate(view)
    return view


def _keys() -> tuple[str, ...]:
    return current_app.config["MFA_ENCRYPTION_KEY"]


@bp.post("/mfa/totp")
@bp.response(200, TotpEnrollmentSchema)
@bp.bearer(409)
@login_required
def start_totp():
    """Start (or start again) an enrollment: the secret, its otpauth URI and QR code.

    Nothing changes for the account until the enrollment is confirmed with a first code;
    starting again replaces the secret, so only the last QR code scanned will work.
    """
    user = current_user()
    pending = enrollment.start(user, issuer=current_app.config["MFA_ISSUER"], keys=_keys())
    user_id = user.id  # read before the commit expires it, which would cost a query
    db.session.commit()
    audit("mfa_enrollment_started", user_id=user_id)
    return pending


@bp.post("/mfa/totp/confirm")
@bp.response(200, RecoveryCodesSchema)
@code_checked
@bp.arguments(TotpCodeSchema)
def confirm_totp(data):
    """Turn MFA on with a first code from the authenticator; answer the 10 recovery codes
    (shown this once). Every other session of the user ends; the caller's goes on."""
    user = current_user()
    codes = enrollment.confirm(user.id, data["code"], keys=_keys())
    user_id = user.id
    sessions.credentials_changed(user, keep_session=current_session_id())
    db.session.commit()
    audit("mfa_enrolled", user_id=user_id, session_id=current_session_id())
    return {"recovery_codes": codes}


@bp.delete("/mfa/totp")
@bp.response(204)
@code_checked
@bp.arguments(SecondFactorSchema)
def disable_totp(data):
    """Turn MFA off with a current code or an unused recovery code; the authenticator's
    secret and the recovery codes are deleted."""
    user_id = current_user().id
    factor = enrollment.disable(user_id, data["code"], keys=_keys())
    db.session.commit()
    _audit_recovery_code_use(user_id, factor)
    audit("mfa_disabled", user_id=user_id, factor=factor)
    return "", 204


@bp.post("/mfa/recovery-codes")
@bp.response(200, RecoveryCodesSchema)
@code_checked
@bp.arguments(SecondFactorSchema)
def regenerate_recovery_codes(data):
    """A new set of 10 recovery codes for a current code or an unused recovery code; the
    old set stops working."""
    user_id = current_user().id
    codes = enrollment.regenerate_recovery_codes(user_id, data["code"], keys=_keys())
    db.session.commit()
    # The service took a TOTP code for what has its shape, a recovery code for the rest.
    factor = "otp" if totp.CODE.fullmatch(data["code"]) else "recovery_code"
    _audit_recovery_code_use(user_id, factor)
    audit("mfa_recovery_codes_regenerated", user_id=user_id, factor=factor)
    return {"recovery_codes": codes}


def _audit_recovery_code_use(user_id: int, factor: str) -> None:
    if factor == "recovery_code":
        audit("mfa_recovery_code_used", user_id=user_id)
