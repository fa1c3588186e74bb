"""Register, log in, refresh and log out."""

import sqlalchemy as sa
from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from app import passwords, sessions
from app.audit import audit
from app.errors import APIError
from app.extensions import db
from app.models import User
from app.ratelimit import account_key, failed_login, limit
from app.schemas import CredentialsSchema, RefreshTokenSchema, RegisterSchema, load_body

bp = Blueprint("auth", __name__)


def email_taken() -> APIError:
    return APIError(409, "email_taken", "An account with this email already exists.")


def invalid_credentials() -> APIError:
    """One answer for an unknown email and a wrong password: no account enumeration."""
    return APIError(401, "invalid_credentials", "Invalid email or password.")


@bp.post("/register")
@limit("RATELIMIT_REGISTER")
def register():
    """Create an account and return its id and email."""
    data = load_body(RegisterSchema())
    if db.session.scalar(sa.select(User.id).where(User.email == data["email"])) is not None:
        raise email_taken()
    user = User(email=data["email"])
    user.set_password(data["password"])
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent registration of the same email won
        db.session.rollback()
        raise email_taken() from None
    audit("register", user_id=user.id)
    return {"id": user.id, "email": user.email}, 201


@bp.post("/login")
@limit("RATELIMIT_LOGIN")
@limit("RATELIMIT_LOGIN_ACCOUNT", key_func=account_key, deduct_when=failed_login)
def login():
    """Check the credentials and open a session: an access and a refresh token."""
    data = load_body(CredentialsSchema())
    user = db.session.scalar(sa.select(User).where(User.email == data["email"]))
    if user is None:
        passwords.burn_check(data["password"])
        audit("login_failure", reason="unknown_email", email=data["email"])
        raise invalid_credentials()
    if not user.check_password(data["password"]):
        audit("login_failure", user_id=user.id, reason="wrong_password")
        raise invalid_credentials()
    if user.disabled:
        audit("login_failure", user_id=user.id, reason="account_disabled")
        raise APIError(403, "account_disabled", "This account is disabled.")
    pair = sessions.start_session(user)
    db.session.commit()
    audit("login_success", user_id=user.id, session_id=pair.session_id)
    return pair.as_json()


@bp.post("/refresh")
@limit("RATELIMIT_REFRESH")
def refresh():
    """Spend a refresh token and return the session's next token pair."""
    data = load_body(RefreshTokenSchema())
    return sessions.rotate(data["refresh_token"]).as_json()


@bp.post("/logout")
def logout():
    """End the session of a refresh token. Idempotent."""
    data = load_body(RefreshTokenSchema())
    sessions.logout(data["refresh_token"])
    return "", 204
