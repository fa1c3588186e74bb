"""Verify an email address, ask for a new verification link, confirm an email change
(views of `auth`)."""

import sqlalchemy as sa
from flask import request

from app import email_change, outbox, verification
from app.audit import audit
from app.auth.routes import bp
from app.exceptions import ResendTooSoon
from app.extensions import db
from app.models import User
from app.ratelimit import limit
from app.schemas.requests import (
    ConfirmEmailChangeSchema,
    ResendVerificationSchema,
    VerifyEmailSchema,
)
from app.schemas.responses import MessageSchema
from app.security import authenticate
from app.web.request_body import load_body

SENT = "A new verification link has been sent."
ALREADY = "This email address is already verified."
MAYBE_SENT = "If that account exists and is not verified yet, a verification link has been sent."


@bp.post("/verify-email")
@bp.response(200, MessageSchema)
@bp.errors(503)
@bp.arguments(VerifyEmailSchema)
def verify_email(data):
    """Spend a verification token: the address it was sent to is now verified."""
    user_id = verification.confirm(data["token"])
    db.session.commit()
    audit("email_verified", user_id=user_id)
    return {"message": "Email address verified."}


@bp.post("/confirm-email-change")
@bp.response(200, MessageSchema)
@bp.errors(409, 503)
@bp.arguments(ConfirmEmailChangeSchema)
def confirm_email_change(data):
    """Spend an email-change token: the account's address is now the new one, verified,
    and every session of it has ended (sign in again with the new address)."""
    changed = email_change.confirm(data["token"])
    db.session.commit()
    audit("email_changed", user_id=changed.user_id)
    return {"message": "Email address changed. Sign in with the new address."}


@bp.post("/resend-verification")
@bp.response(202, MessageSchema)
@bp.bearer(429, optional=True)
@bp.optional_body(ResendVerificationSchema)
@limit("RATELIMIT_RESEND_VERIFICATION")
def resend_verification():
    """Send a new verification link: to the caller (access token) or to `email`.

    Without a token the answer is the same whether or not the account exists, so that
    an unverified user who may not log in (REQUIRE_EMAIL_VERIFICATION) can still ask.
    """
    if "Authorization" not in request.headers:
        data = load_body(ResendVerificationSchema())
        user_id = db.session.scalar(
            sa.select(User.id).where(User.email == data["email"], User.disabled.is_(False))
        )
        # As for forgot-password: one lookup for every address, the rest in the background,
        # so that a known account does not answer more slowly. Too soon: silently nothing.
        if user_id is not None:
            outbox.submit(resend_quietly, user_id)
        return {"message": MAYBE_SENT}, 202
    user = authenticate()
    if user.email_verified:
        return {"message": ALREADY}, 202
    send_new_link(user)
    return {"message": SENT}, 202


def send_new_link(user: User) -> None:
    """Commit a new link for `user`, then mail it (nothing for a verified or disabled
    account); ResendTooSoon if one went out too recently."""
    token = verification.reissue(user)
    if token is not None:
        db.session.commit()
        verification.send(user, token)


def resend_quietly(user_id: int) -> None:
    """Background job of the anonymous resend: a new link unless one went out too recently."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    try:
        send_new_link(user)
    except ResendTooSoon:
        return  # silently: the anonymous answer is the same either way
