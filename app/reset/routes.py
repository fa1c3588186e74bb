"""Forgot and reset password: a single-use token sent by email."""

import sqlalchemy as sa
from flask import current_app

from app import email_tokens, outbox, passwords, sessions
from app.audit import audit
from app.errors import APIError
from app.exceptions import InvalidResetToken
from app.extensions import db
from app.locks import lock_user
from app.models import User
from app.ratelimit import account_key, limit
from app.schemas.requests import ForgotPasswordSchema, ResetPasswordSchema
from app.schemas.responses import MessageSchema
from app.web.api import Blueprint

bp = Blueprint("reset", __name__, description="Forgotten passwords")

FORGOT_MESSAGE = "If that account exists, a reset link was sent"


@bp.post("/forgot-password")
@bp.response(200, MessageSchema)
@bp.errors(429, 503)
@bp.arguments(ForgotPasswordSchema)
@limit("RATELIMIT_FORGOT_PASSWORD")
@limit("RATELIMIT_FORGOT_PASSWORD_ACCOUNT", key_func=account_key)
def forgot_password(data):
    """Email a reset link if the account exists; the answer is the same either way."""
    user_id = db.session.scalar(
        sa.select(User.id).where(User.email == data["email"], User.disabled.is_(False))
    )
    # The one indexed lookup costs the same for every address; issuing the token and
    # mailing it run in the background, so a known account does not answer more slowly.
    if user_id is not None:
        outbox.submit(send_reset_link, user_id)
    audit("password_reset_requested", user_id=user_id)
    return {"message": FORGOT_MESSAGE}


def send_reset_link(user_id: int) -> None:
    """Issue a reset token for the user and mail them the link."""
    lock_user(user_id)
    user = db.session.get(User, user_id)
    # Disabled since the request: disabling spent the user's links, and must stay so.
    if user is None or user.disabled:
        db.session.rollback()
        return
    config = current_app.config
    token = email_tokens.issue(user.id, email_tokens.RESET, config["RESET_TOKEN_TTL"])
    db.session.commit()
    link = config["RESET_URL_TEMPLATE"].replace("{token}", token)
    minutes = config["RESET_TOKEN_TTL"] // 60
    outbox.send_mail(
        user.email,
        "Reset your password",
        f"Someone asked to reset the password of this account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n{link}\n\n"
        f"If it was not you, ignore this message; your password stays the same.\n",
    )


@bp.post("/reset-password")
@bp.response(200, MessageSchema)
@bp.errors(429, 503)
@limit("RATELIMIT_RESET_PASSWORD")
@bp.arguments(ResetPasswordSchema)
def reset_password(data):
    """Set a new password with a reset token; every session of the user ends."""
    user_id = email_tokens.spend(data["token"], email_tokens.RESET)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        db.session.rollback()
        raise InvalidResetToken()
    errors = passwords.policy_errors(data["password"], user.email)
    if errors:
        db.session.rollback()
        raise APIError(
            400, "validation_error", "The request body is invalid.", {"password": errors}
        )
    user.set_password(data["password"])
    sessions.credentials_changed(user)
    db.session.commit()
    audit("password_reset", user_id=user.id)
    return {"message": "Password updated"}
