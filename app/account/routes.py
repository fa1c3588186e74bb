"""The signed-in user's own account: profile, password, sessions, deletion."""

from app import email_tokens, sessions
from app.api import Blueprint
from app.errors import APIError
from app.extensions import db
from app.ratelimit import limit, user_key
from app.schemas.requests import ChangePasswordSchema, DeleteAccountSchema, check_password_for
from app.schemas.responses import AccountSchema, SessionListSchema, TokenPairSchema
from app.security import current_user, login_required
from app.web import cookies

bp = Blueprint("account", __name__, description="The caller's own account")

# 400, not 401: the access token is fine, and a client must not take this for "signed out".
WRONG_PASSWORD = APIError(400, "invalid_credentials", "The password is incorrect.")
NO_SUCH_SESSION = APIError(404, "not_found", "There is no such session.")


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
        raise WRONG_PASSWORD
    check_password_for(user.email, data["new_password"], "newPassword")
    user.set_password(data["new_password"])
    sessions.credentials_changed(user)
    email_tokens.revoke_all(user.id, email_tokens.RESET)
    # Cannot be None: this transaction holds the user's row since credentials_changed.
    pair = sessions.start_session(user)
    db.session.commit()
    return cookies.token_response(pair, cookies.requested())


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
    if not sessions.end_live_session(current_user().id, session_id):
        raise NO_SUCH_SESSION
    db.session.commit()
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
        raise WRONG_PASSWORD
    # Before the row goes: a login in flight then opens nothing, and the deletion's lock on
    # the row comes after those on the sessions (the order of app.locks).
    sessions.credentials_changed(user)
    db.session.delete(user)
    db.session.commit()
    return cookies.signed_out()
