"""Email verification: a single-use link sent at registration and on request.

Tokens are `app.email_tokens` with the purpose "verify" (only their hash is stored). A
user may ask for a new link once per VERIFY_RESEND_INTERVAL seconds; the check and the new
token are made under a lock on the user's row, so simultaneous requests send one mail.
"""

import math

import sqlalchemy as sa
from flask import current_app

from app import email_tokens, outbox
from app.exceptions import InvalidVerificationToken, ResendTooSoon
from app.extensions import db
from app.locks import lock_user
from app.models import EmailToken, User, utcnow

PURPOSE = email_tokens.VERIFY


def issue(user: User) -> str:
    """Store a new verification token for `user` (the caller commits) and return it."""
    return email_tokens.issue(user.id, PURPOSE, current_app.config["VERIFY_TOKEN_TTL"])


def send(user: User, token: str) -> None:
    """Queue the verification mail (the outbox delivers it off the request path, retrying)."""
    config = current_app.config
    link = config["VERIFY_URL_TEMPLATE"].replace("{token}", token)
    ttl = config["VERIFY_TOKEN_TTL"]
    lifetime = f"{ttl // 3600} hours" if ttl >= 7200 else f"{max(ttl // 60, 1)} minute(s)"
    outbox.send_mail(
        user.email,
        "Confirm your email address",
        f"Welcome! Please confirm that this address belongs to you.\n\n"
        f"Open this link within {lifetime}:\n{link}\n\n"
        f"If you did not create an account, ignore this message.\n",
    )


def _wait_before_resend(user: User) -> int:
    """Seconds until `user` may be sent another link (0: now). Call after `lock_user`."""
    interval = current_app.config["VERIFY_RESEND_INTERVAL"]
    last = db.session.scalar(
        sa.select(EmailToken.created_at)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == PURPOSE)
        .order_by(EmailToken.created_at.desc())
        .limit(1)
    )
    if not interval or last is None:
        return 0
    return max(0, math.ceil(interval - (utcnow() - last).total_seconds()))


def reissue(user: User) -> str | None:
    """A new verification token for an unverified `user`, to `send` once committed.

    None when there is nothing to send: the address is verified, or the account disabled.
    ResendTooSoon when a link went out less than VERIFY_RESEND_INTERVAL seconds ago.
    """
    lock_user(user.id)
    db.session.refresh(user)
    # A disabled account gets no link: disabling spent its links, and must stay so.
    if user.email_verified or user.disabled:
        db.session.rollback()
        return None
    wait = _wait_before_resend(user)
    if wait:
        db.session.rollback()
        raise ResendTooSoon(wait)
    return issue(user)


def mark_verified(user_id: int) -> None:
    """Mark the user's address verified and spend their outstanding links (no commit)."""
    email_tokens.revoke_all(user_id, PURPOSE)
    db.session.execute(sa.update(User).where(User.id == user_id).values(email_verified=True))


def confirm(token: str) -> int:
    """Spend a verification token, mark its user's address verified, and return the user's
    id. InvalidVerificationToken when the token is unknown, used or expired."""
    user_id = email_tokens.spend(token, PURPOSE)
    if user_id is None:
        db.session.rollback()
        raise InvalidVerificationToken()
    mark_verified(user_id)
    return user_id
