"""The signed-in user's own account: profile, password, sessions, deletion."""

from flask import Blueprint

from app import cookies, email_tokens, sessions
from app.audit import audit
from app.exceptions import WrongPassword
from app.extensions import db
from app.models import isoformat
from app.proxies import client_info
from app.ratelimit import limit, user_key
from app.schemas import ChangePasswordSchema, DeleteAccountSchema, check_password_for, load_body
from app.security import current_amr, current_session_id, current_user, login_required

bp = Blueprint("account", __name__)


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
                "current": session.id == current_session_id(),
            }
            for session in sessions.live_sessions(current_user().id)
        ]
    }


@bp.delete("/sessions/<session_id>")
@login_required
def end_session(session_id: str):
    """End one of the caller's sessions: its refresh and access tokens stop working."""
    user_id = current_user().id
    sessions.end_live_session(user_id, session_id)
    db.session.commit()
    audit("session_ended", user_id=user_id, session_id=session_id)
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
        raise WrongPassword()
    # Before the row goes: a login in flight then opens nothing, and the deletion's lock on
    # the row comes after those on the sessions (the order of app.locks).
    user_id = user.id
    sessions.credentials_changed(user)
    db.session.delete(user)
    db.session.commit()
    audit("account_deleted", user_id=user_id)
    return cookies.signed_out()
