"""The login challenge: a password login of a user with MFA gets an `mfaToken` instead of
a token pair, and trades it with a code for the pair.

The token is opaque, not a JWT: `mfa_` and 43 url-safe characters (256 random bits), so it
can never pass for an access or refresh token (app/tokens.py decodes JWTs only), nor they
for it (no JWT starts with `mfa_`). Only its SHA-256 is stored, as for emailed tokens.

Verification reads the challenge, checks the code (spending its TOTP step or recovery
code), then spends the challenge with one conditional UPDATE: of two concurrent verifies
exactly one gets the session. A wrong code adds to `failures` with one UPDATE too; after
MAX_FAILURES the challenge is dead.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.mfa import AMR_PASSWORD_OTP, recovery_codes
from app.mfa.enrollment import accept_totp
from app.mfa.exceptions import InvalidMfaCode, InvalidMfaToken
from app.models import MfaChallenge, TotpEnrollment, User, utcnow

PREFIX = "mfa_"
TTL_SECONDS = 300
MAX_FAILURES = 5


@dataclass(frozen=True)
class MfaLogin:
    """A completed second factor: whom to sign in, with what `amr`, by which factor.

    `user` was read with the `credential_version` the password was checked under, so
    `sessions.start_session(user)` opens nothing if the credentials changed meanwhile.
    """

    user: User
    amr: tuple[str, ...]
    factor: str  # "otp" or "recovery_code", for the audit line


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, *, now: datetime | None = None) -> str:
    """A new `mfaToken` for `user`, whose password was just checked; returned once in clear.

    It carries `user.credential_version` as read by that check, so a password change or
    reset before the code arrives kills it. It lives TTL_SECONDS.
    """
    now = now or utcnow()
    token = PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        MfaChallenge(
            token_hash=_digest(token),
            user_id=user.id,
            credential_version=user.credential_version,
            created_at=now,
            expires_at=now + timedelta(seconds=TTL_SECONDS),
        )
    )
    db.session.flush()
    return token


def owner(token: str) -> int | None:
    """The id of the user `token` was issued to, whatever its state; None for a token that
    is not one of ours. For a per-account rate limit of verification: one indexed read."""
    if not token.startswith(PREFIX):
        return None
    return db.session.scalar(
        sa.select(MfaChallenge.user_id).where(MfaChallenge.token_hash == _digest(token))
    )


def _live(digest: str, now: datetime):
    """The challenge's user and enrollment if the challenge can still be answered."""
    row = db.session.execute(
        sa.select(User, TotpEnrollment)
        .join(MfaChallenge, MfaChallenge.user_id == User.id)
        .join(TotpEnrollment, TotpEnrollment.user_id == User.id)
        .where(
            MfaChallenge.token_hash == digest,
            MfaChallenge.spent_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failures < MAX_FAILURES,
            MfaChallenge.credential_version == User.credential_version,
            TotpEnrollment.confirmed_at.is_not(None),
        )
    ).one_or_none()
    if row is None:
        raise InvalidMfaToken()
    return row


def verify(
    token: str,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
    keys: tuple[str, ...],
    now: datetime | None = None,
) -> MfaLogin:
    """Answer the challenge `token` with a TOTP `code` or a `recovery_code` (exactly one).

    InvalidMfaToken for a token that is unknown, expired, spent, dead or whose user's
    credentials changed (or whose MFA was turned off); InvalidMfaCode for a wrong code,
    counted: the caller commits before answering. On success the challenge is spent.
    """
    if (code is None) == (recovery_code is None):
        raise ValueError("give a code or a recovery code, not both or neither")
    now = now or utcnow()
    if not token.startswith(PREFIX):
        raise InvalidMfaToken()
    digest = _digest(token)
    user, enrollment = _live(digest, now)
    if code is not None:
        accepted, factor = accept_totp(enrollment, code, keys, now), "otp"
    else:
        accepted = recovery_codes.spend(user.id, recovery_code, now)
        factor = "recovery_code"
    if not accepted:
        db.session.execute(
            sa.update(MfaChallenge)
            .where(MfaChallenge.token_hash == digest, MfaChallenge.spent_at.is_(None))
            .values(failures=MfaChallenge.failures + 1)
            .execution_options(synchronize_session=False)
        )
        raise InvalidMfaCode(user.id)
    spent = db.session.execute(
        sa.update(MfaChallenge)
        .where(
            MfaChallenge.token_hash == digest,
            MfaChallenge.spent_at.is_(None),
            MfaChallenge.expires_at > now,
            MfaChallenge.failures < MAX_FAILURES,
        )
        .values(spent_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise InvalidMfaToken()
    return MfaLogin(user=user, amr=AMR_PASSWORD_OTP, factor=factor)
