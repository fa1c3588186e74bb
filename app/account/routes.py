"""The signed-in user's own account: profile, password, sessions, deletion."""

from flask import Blueprint, g

from app import cookies, email_tokens, sessions
from app.errors import APIError
from app.extensions import db
from app.models import isoformat
from app.ratelimit import limit, user_key
from app.schemas import ChangePasswordSchema, DeleteAccountSchema, check_password_for, load_body
from app.security import current_user, login_required

bp = Blueprint("account", __name__)

# 400, not 401: the access token is fine, and a client must not take this for "signed out".
WRONG_PASSWORD = APIError(400, "invalid_credentials", "The password is incorrect.")
NO_SUCH_SESSION = APIError(404, "not_found", "There is no such session.")


@bp.get("")
@login_required
def me():
    """Return the caller's account."""
    return current_user().to_json()


@bp.post("/password")
@login_required
@limit("RATELIMIT_PASSWORD_CHECK")
@limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key)
def change_password():
    """Set a new password: every session ends, and the caller gets a fresh token pair."""
    data = load_body(ChangePasswordSchema())
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
@login_required
def list_sessions():
    """List the caller's live sessions, newest first, marking the one making this request."""
    return {
        "sessions": [
            {
                "id": session.id,
                "createdAt": isoformat(session.created_at),
                "lastUsedAt": isoformat(session.last_used_at),
                "userAgent": session.user_agent,
                "ip": session.ip,
                "current": session.id == g.session_id,
            }
            for session in sessions.live_sessions(current_user().id)
        ]
    }


@bp.delete("/sessions/<session_id>")
@login_required
def end_session(session_id: str):
    """End one of the caller's sessions: its refresh and access tokens stop working."""
    if not sessions.end_live_session(current_user().id, session_id):
        raise NO_SUCH_SESSION
    db.session.commit()
    return "", 204


@bp.delete("")
@login_required
@limit("RATELIMIT_PASSWORD_CHECK")
@limit("RATELIMIT_PASSWORD_CHECK_ACCOUNT", key_func=user_key)
def delete_account():
    """Delete the caller's account, with every session and token of it."""
    data = load_body(DeleteAccountSchema())
    user = current_user()
    if not user.check_password(data["password"]):
        raise WRONG_PASSWORD
    # Before the row goes: a login in flight then opens nothing, and the deletion's lock on
    # the row comes after those on the sessions (the order of app.locks).
    sessions.credentials_changed(user)
    db.session.delete(user)
    db.session.commit()
    return cookies.signed_out()
