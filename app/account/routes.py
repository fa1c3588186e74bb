"""The signed-in user's own account: profile, password, email, sessions, deletion."""

from marshmallow import ValidationError

from app import email_change, email_tokens, sessions
from app.audit import audit
from app.exceptions import WrongPassword
from app.extensions import db
from app.proxies import client_info
from app.ratelimit import limit, user_key
from app.schemas.requests import (
    ChangeEmailSchema,
    ChangePasswordSchema,
    DeleteAccountSchema,
    check_password_for,
)
from app.schemas.responses import (
    AccountSchema,
    MessageSchema,
    SessionListSchema,
    TokenPairSchema,
)
from app.security import current_amr, current_user, login_required
from app.web import cookies
from app.web.api import Blueprint

bp = Blueprint("account", __name__, description="The caller's own account")


@bp.get("")
@bp.response(200, AccountSchema)
@bp.bearer()
@login_required
def me():
    """Return the caller's account."""
    return current_user()


@bp.post("/password")
@bp.response(200, TokenPairSchema)
@bp.bearer(429)
@login_required
@limit("RATELIMIT_PASSWORD_CHECK")
@limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key)
@bp.arguments(ChangePasswordSchema)
def change_password(data):
    """Set a new password: every session ends, and the caller gets a fresh token pair."""
    user = current_user()
    if not user.check_password(data["current_password"]):
        raise WrongPassword()
    check_password_for(user.email, data["new_password"], "newPassword")
    user.set_password(data["new_password"])
    sessions.credentials_changed(user)
    email_tokens.revoke_all(user.id, email_tokens.RESET)
    user_id = user.id  # read before the commit expires it, which would cost a query
    # Cannot be None: this transaction holds the user's row since credentials_changed.
    # The new session signed in as the one that asked: the password was proved again, the
    # second factor, if any, was not, and is not asked again.
    pair = sessions.start_session(user, client_info(), current_amr())
    db.session.commit()
    audit("password_changed", user_id=user_id, session_id=pair.session_id)
    return cookies.token_response(pair, cookies.requested())


@bp.post("/email")
@bp.response(202, MessageSchema)
@bp.bearer(409, 429)
@login_required
@limit("RATELIMIT_PASSWORD_CHECK")
@limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key)
@bp.arguments(ChangeEmailSchema)
def change_email(data):
    """Mail a confirmation link to `newEmail` (and a notice to the current address); the
    address changes when the link is followed."""
    user = current_user()
    if not user.check_password(data["password"]):
        raise WrongPassword()
    new_email = data["new_email"]
    if new_email == user.email:
        raise ValidationError({"newEmail": ["This is already the account's address."]})
    token = email_change.request_change(user, new_email)
    user_id, old_email = user.id, user.email  # read before the commit expires them
    db.session.commit()
    audit("email_change_requested", user_id=user_id)
    email_change.send(old_email, new_email, token)
    return {"message": "A confirmation link was sent to the new address."}, 202


@bp.get("/sessions")
@bp.response(200, SessionListSchema)
@bp.bearer()
@login_required
def list_sessions():
    """List the caller's live sessions, newest first, marking the one making this request."""
    return {"sessions": sessions.live_sessions(current_user().id)}


@bp.delete("/sessions/<session_id>")
@bp.response(204)
@bp.bearer(404)
@login_required
def end_session(session_id: str):
    """End one of the caller's sessions: its refresh and access tokens stop working."""
    user_id = current_user().id
    sessions.end_live_session(user_id, session_id)
    db.session.commit()
    audit("session_ended", user_id=user_id, session_id=session_id)
    return "", 204


@bp.delete("")
@bp.response(204)
@bp.bearer(429)
@login_required
@limit("RATELIMIT_PASSWORD_CHECK")
@limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key)
@bp.arguments(DeleteAccountSchema)
def delete_account(data):
    """Delete the caller's account, with every session and token of it."""
    user = current_user()
    if not user.check_password(data["password"]):
        raise WrongPassword()
    # Before the row goes: a login in flight then opens nothing, and the deletion's lock on
    # the row comes after those on the sessions (the order of app.locks).
    user_id = user.id
    sessions.credentials_changed(user)
    db.session.delete(user)
    db.session.commit()
    audit("account_deleted", user_id=user_id)
    return cookies.signed_out()
