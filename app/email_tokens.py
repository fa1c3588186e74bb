"""Single-use tokens sent by email. Only their SHA-256 is stored.

A token is 32 random bytes, so a plain (unsalted) SHA-256 is enough to make a stolen table
useless, and it lets the lookup be one indexed equality. A token is spent under its user's
row lock (the order of `app.locks`): spending it leads to writes of the user's row, and
disabling the user spends its tokens too.
"""

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.locks import lock_user
from app.models import EmailToken, utcnow

# Purposes: a token is only ever spent for the purpose it was issued for.
RESET = "reset"
VERIFY = "verify"
EMAIL_CHANGE = "email_change"  # the row also holds the new address (`new_email`)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user_id: int, purpose: str, ttl_seconds: int, *, new_email: str | None = None) -> str:
    """Store a new token for `user_id` and return it in clear, to be emailed. `new_email`:
    the address an email-change token confirms."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        EmailToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            new_email=new_email,
        )
    )
    return token


def spend(token: str, purpose: str) -> int | None:
    """Spend a live token and every other token of its user for the same purpose.

    Returns the user id, or None when the token is unknown, used or expired.
    """
    spent = spend_row(token, purpose)
    return spent.user_id if spent is not None else None


def spend_row(token: str, purpose: str) -> sa.Row | None:
    """`spend`, returning the token's `user_id` and `new_email`. The conditional UPDATE
    makes two concurrent spends of one token give one winner."""
    digest = _digest(token)
    known = sa.select(EmailToken.user_id).where(EmailToken.token_hash == digest)
    user_id = db.session.scalar(known)
    if user_id is None:
        return None
    lock_user(user_id)  # before any token row: the lock order of app.locks
    now = utcnow()
    spent = db.session.execute(
        sa.update(EmailToken)
        .where(
            EmailToken.token_hash == digest,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(EmailToken.user_id, EmailToken.new_email)
    ).one_or_none()
    if spent is not None:
        revoke_all(user_id, purpose)
    return spent


def revoke_all(user_id: int, purpose: str | None = None) -> None:
    """Make every outstanding token of `user_id` for `purpose` (None: any) unusable."""
    match = EmailToken.purpose == purpose if purpose is not None else sa.true()
    db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.user_id == user_id, match, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
