"""The caller's passkeys (views of `account`): make one, list them, remove one.

An account with a second factor (TOTP) on adds a passkey only from a session that used it:
a passkey signs in alone, so a password-only session (a stolen password) must not be able
to add one (403 `mfa_required`). The owner is mailed a notice, without a link, when a
passkey is added or removed.
"""

from flask import current_app

from app.account.routes import bp
from app.audit import audit
from app.exceptions import MfaRequired
from app.extensions import db
from app.mfa import has_second_factor
from app.models import User
from app.passkeys import RelyingParty, credentials, notices, registration
from app.passkeys.exceptions import InvalidPasskey
from app.schemas.passkeys import (
    CreationOptionsSchema,
    PasskeyListSchema,
    PasskeyRegistrationSchema,
    PasskeySchema,
)
from app.security import current_amr, current_user, login_required


def _may_add_passkey() -> User:
    """The caller, if their session may add a passkey (see the module's docstring)."""
    user = current_user()
    if user.mfa_enabled and not has_second_factor(current_amr()):
        raise MfaRequired()
    return user


def _relying_party() -> RelyingParty:
    return RelyingParty.from_config(current_app.config)


@bp.post("/passkeys/options")
@bp.response(200, CreationOptionsSchema)
@bp.bearer(409)
@login_required
def passkey_creation_options():
    """Options for `navigator.credentials.create()`: a new challenge, valid 5 minutes for
    the caller only, and the caller's passkeys to exclude (409 `too_many_passkeys` when
    they hold as many as an account may)."""
    user = _may_add_passkey()
    options = registration.options(user.id, user.email, _relying_party())
    db.session.commit()
    return options


@bp.post("/passkeys")
@bp.response(201, PasskeySchema)
@bp.bearer(409)
@login_required
@bp.arguments(PasskeyRegistrationSchema)
def register_passkey(data):
    """Store the passkey the authenticator made for the caller's options (400
    `invalid_passkey` if it does not verify); mail the owner a notice."""
    user = _may_add_passkey()
    user_id, email = user.id, user.email  # read before a commit expires them
    try:
        passkey = registration.verify(
            user_id, data["credential"], data.get("name"), _relying_party()
        )
    except InvalidPasskey as refused:
        db.session.commit()  # the challenge stays spent
        audit(
            "passkey_registration_failure",
            user_id=user_id,
            reason=refused.reason,
            detail=refused.detail,
        )
        raise
    db.session.commit()
    audit("passkey_registered", user_id=user_id, passkey_id=passkey.id)
    notices.added(email, passkey.name)
    return passkey


@bp.get("/passkeys")
@bp.response(200, PasskeyListSchema)
@bp.bearer()
@login_required
def list_passkeys():
    """List the caller's passkeys, oldest first."""
    return {"passkeys": credentials.of_user(current_user().id)}


@bp.delete("/passkeys/<int:passkey_id>")
@bp.response(204)
@bp.bearer(404)
@login_required
def remove_passkey(passkey_id: int):
    """Remove one of the caller's passkeys: it no longer signs in. Mail the owner a notice."""
    user = current_user()
    user_id, email = user.id, user.email
    passkey = credentials.delete(user_id, passkey_id)
    name = passkey.name
    db.session.commit()
    audit("passkey_removed", user_id=user_id, passkey_id=passkey_id)
    notices.removed(email, name)
    return "", 204
