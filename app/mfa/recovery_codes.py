"""Recovery codes: 10 per user, each usable once, shown in clear only when made.

A code is 16 random base32 characters (80 bits), shown in groups of four. At that entropy
an unsalted SHA-256 is enough to make a stolen table useless (as for the emailed tokens of
app/email_tokens.py) and lets a code be found by one indexed equality; a slow password
hash would only buy time that 80 bits already make out of reach.
"""

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import RecoveryCode

COUNT = 10
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32, lower case: no 0/O or 1/l confusion
LENGTH = 16


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def _digest(code: str) -> str:
    """The hash of a code as typed: case, spaces and dashes do not matter."""
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def replace_all(user_id: int, now: datetime) -> list[str]:
    """Give `user_id` a new set of codes, ending the old set; return them in clear."""
    delete_all(user_id)
    codes = [_new_code() for _ in range(COUNT)]
    db.session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_digest(code), created_at=now) for code in codes
    )
    db.session.flush()
    return codes


def spend(user_id: int, code: str, now: datetime) -> bool:
    """Use an unused code of `user_id`; False if it is not one. One conditional UPDATE, so
    of two concurrent uses of one code exactly one succeeds."""
    result = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def delete_all(user_id: int) -> None:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
