"""Deleting what the store no longer needs: old refresh tokens, dead sessions, spent emails
and login challenges.

Safe while the service serves. Each kind of row is deleted in batches, each batch its own
short transaction, by primary keys chosen in a subquery with LIMIT (PostgreSQL has no
`DELETE ... LIMIT`). On PostgreSQL that subquery takes its rows `FOR UPDATE SKIP LOCKED`, so
a purge never waits on a row a request holds and cannot deadlock with one; on SQLite each
batch holds the write lock only briefly. Only rows no request can use are touched:

- refresh tokens that expired, or were revoked, before the cutoff. A spent token is kept
  until it expires, so presenting it again is still caught as reuse;
- sessions without a refresh token left and unused since the cutoff (a session always has
  its latest token until that token expires or is revoked, so such a session is over);
- emailed tokens used or expired before the cutoff;
- MFA login challenges (`mfaToken`s) spent or expired before the cutoff;
- passkey challenges expired before the cutoff (a spent one is deleted as it is spent).

Access tokens of a purged session are refused like those of an ended one: the guard no
longer finds their session.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    EmailToken,
    LoginSession,
    MfaChallenge,
    PasskeyChallenge,
    RefreshToken,
    utcnow,
)


@dataclass(frozen=True)
class Purged:
    refresh_tokens: int
    sessions: int
    email_tokens: int
    mfa_challenges: int
    passkey_challenges: int


def _delete_in_batches(model, key, condition, batch_size: int) -> int:
    total = 0
    while True:
        keys = sa.select(key).where(condition).limit(batch_size).with_for_update(skip_locked=True)
        deleted = db.session.execute(
            sa.delete(model).where(key.in_(keys)).execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        total += deleted
        # Fewer than a batch: nothing is left, or only rows a request holds right now,
        # which the next run will take.
        if deleted < batch_size:
            return total


def purge(older_than: timedelta, batch_size: int = 1000) -> Purged:
    """Delete the rows that ended more than `older_than` ago; return how many of each."""
    cutoff = utcnow() - older_than
    refresh_tokens = _delete_in_batches(
        RefreshToken,
        RefreshToken.jti,
        sa.or_(RefreshToken.expires_at < cutoff, RefreshToken.revoked_at < cutoff),
        batch_size,
    )
    sessions = _delete_in_batches(
        LoginSession,
        LoginSession.id,
        sa.and_(
            LoginSession.last_used_at < cutoff,
            ~sa.exists().where(RefreshToken.session_id == LoginSession.id),
        ),
        batch_size,
    )
    email_tokens = _delete_in_batches(
        EmailToken,
        EmailToken.id,
        sa.or_(EmailToken.expires_at < cutoff, EmailToken.used_at < cutoff),
        batch_size,
    )
    mfa_challenges = _delete_in_batches(
        MfaChallenge,
        MfaChallenge.token_hash,
        sa.or_(MfaChallenge.expires_at < cutoff, MfaChallenge.spent_at < cutoff),
        batch_size,
    )
    passkey_challenges = _delete_in_batches(
        PasskeyChallenge,
        PasskeyChallenge.challenge_hash,
        PasskeyChallenge.expires_at < cutoff,
        batch_size,
    )
    return Purged(refresh_tokens, sessions, email_tokens, mfa_challenges, passkey_challenges)
