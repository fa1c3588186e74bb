"""WebAuthn challenges: made for the options, answered inside the client data.

A challenge is 32 random bytes that the browser signs over (in `clientDataJSON`). Only its
SHA-256 is stored, with its purpose ("registration", bound to the user who asked, or
"login") and an expiry 5 minutes on. The answer names its challenge itself: `challenge_of`
reads it from the client data, and `consume` spends it with one DELETE ... RETURNING,
atomic on SQLite and PostgreSQL, so that of two requests answering the same challenge at
once exactly one gets it. py_webauthn then checks the client data against it again.
"""

import base64
import binascii
import hashlib
import json
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import PasskeyChallenge, utcnow
from app.passkeys import CHALLENGE_TTL_SECONDS
from app.passkeys.exceptions import InvalidPasskey

REGISTRATION = "registration"
LOGIN = "login"
CHALLENGE_BYTES = 32


def _digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def issue(purpose: str, user_id: int | None = None, *, now: datetime | None = None) -> bytes:
    """A new challenge for `purpose` (and, for a registration, `user_id`); returned once."""
    now = now or utcnow()
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    db.session.add(
        PasskeyChallenge(
            challenge_hash=_digest(challenge),
            purpose=purpose,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_TTL_SECONDS),
        )
    )
    db.session.flush()
    return challenge


def challenge_of(client_data_json: bytes) -> bytes | None:
    """The challenge the client data answers (base64url in its `challenge`); None if the
    client data is not the JSON object a browser makes."""
    try:
        client_data = json.loads(client_data_json)
        encoded = client_data["challenge"]
        if not isinstance(encoded, str):
            return None
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None


def consume(
    challenge: bytes, purpose: str, user_id: int | None = None, *, now: datetime | None = None
) -> bool:
    """Spend `challenge` if it is live, of `purpose` and (for a registration) of `user_id`;
    whether it was. A challenge made for another user stays where it is, unspent."""
    now = now or utcnow()
    owner = (
        PasskeyChallenge.user_id.is_(None)
        if user_id is None
        else PasskeyChallenge.user_id == user_id
    )
    spent = db.session.execute(
        sa.delete(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge_hash == _digest(challenge),
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.expires_at > now,
            owner,
        )
        .returning(PasskeyChallenge.challenge_hash)
        .execution_options(synchronize_session=False)
    ).first()
    return spent is not None


def take(
    client_data_json: bytes,
    purpose: str,
    refusal: type[InvalidPasskey],
    user_id: int | None = None,
    *,
    now: datetime | None = None,
) -> bytes:
    """The challenge the client data answers, spent now (`consume`); `refusal` with the
    reason "malformed" or "unknown_challenge" if there is none to spend."""
    challenge = challenge_of(client_data_json)
    if challenge is None:
        raise refusal("malformed", user_id=user_id)
    if not consume(challenge, purpose, user_id, now=now):
        raise refusal("unknown_challenge", user_id=user_id)
    return challenge
