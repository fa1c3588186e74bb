"""What the second-factor tests share: a user, an authenticator that computes codes from
the secret the service handed out, and a fixed clock."""

from datetime import UTC, datetime, timedelta

import pyotp

from app.extensions import db
from app.mfa import enrollment
from app.models import User

# Mid-step (15 s into a 30 s step), so that a code for "one step later" is unambiguous.
NOW = datetime(2026, 12, 2, 12, 0, 15, tzinfo=UTC)


def code(secret: str, steps: int = 0, now: datetime = NOW) -> str:
    """The authenticator's code `steps` steps after `now`."""
    return pyotp.TOTP(secret).at(now + timedelta(seconds=30 * steps))


def keys(app) -> tuple[str, ...]:
    return app.config["MFA_ENCRYPTION_KEY"]


def add_user(email: str = "mfa@example.com") -> User:
    user = User(email=email, password_hash="not-a-hash")
    db.session.add(user)
    db.session.commit()
    return user


def enrolled(app, user: User) -> tuple[str, list[str]]:
    """Turn MFA on for `user` (committed); return the secret and the recovery codes."""
    pending = enrollment.start(user, issuer=app.config["MFA_ISSUER"], keys=keys(app))
    codes = enrollment.confirm(user.id, code(pending.secret), keys=keys(app), now=NOW)
    db.session.commit()
    return pending.secret, codes
