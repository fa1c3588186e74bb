"""Register, log in, refresh and log out."""

import sqlalchemy as sa
from flask import Blueprint

from app import passwords, sessions, users, verification
from app.errors import APIError
from app.extensions import db
from app.models import User
from app.schemas import CredentialsSchema, RefreshTokenSchema, RegisterSchema, load_body

bp = Blueprint("auth", __name__)


@bp.post("/register")
def register():
    """Create an account, email it a verification link, and return its id and email."""
    data = load_body(RegisterSchema())
    user = users.create_user(data["email"], data["password"])
    token = verification.issue(user)
    db.session.commit()
    verification.send(user, token)
    return {"id": user.id, "email": user.email}, 201


@bp.post("/login")
def login():
    """Check the credentials and open a session: an access and a refresh token."""
    data = load_body(CredentialsSchema())
    user = db.session.scalar(sa.select(User).where(User.email == data["email"]))
    if user is None:
        passwords.burn_check(data["password"])
        raise APIError(401, "invalid_credentials", "Invalid email or password.")
    if not user.check_password(data["password"]):
        raise APIError(401, "invalid_credentials", "Invalid email or password.")
    sessions.check_may_sign_in(user)
    pair = sessions.start_session(user)
    db.session.commit()
    return pair.as_json()


@bp.post("/refresh")
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
