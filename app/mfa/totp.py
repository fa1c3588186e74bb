"""TOTP per RFC 6238 with the authenticator-app defaults: SHA-1, 6 digits, 30-second steps.

A code is accepted for the current step or one step either side (clock skew), and each
step at most once per user: `spend_step` moves the user's `last_step` forward with one
conditional UPDATE, so of two requests with the same code exactly one wins, on PostgreSQL
(the second UPDATE waits for the first's row lock, then finds its condition false) and on
SQLite (the second waits for the database's write lock).
"""

import io
import re
from datetime import datetime
from urllib.parse import quote

import pyotp
import segno
import sqlalchemy as sa

from app.extensions import db
from app.models import TotpEnrollment

STEP_SECONDS = 30
SKEW_STEPS = 1
CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A random base32 secret of 160 bits (the RFC 4226 recommendation)."""
    return pyotp.random_base32(length=32)


def otpauth_uri(secret: str, email: str, issuer: str) -> str:
    """`otpauth://totp/<issuer>:<email>?secret=...&issuer=...` (Google's Key URI format)."""
    label = f"{quote(issuer, safe='')}:{quote(email, safe='@')}"
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"


def qr_svg(uri: str) -> str:
    """The URI as a QR code: an SVG document (with its namespace, without an XML
    declaration, so it also embeds in HTML as it is), drawn locally."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=4, xmldecl=False)
    return out.getvalue().decode()


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The step, within one of `now`'s either way, whose code is `code`; None if none is."""
    if not CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = step_at(now)
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def spend_step(user_id: int, step: int) -> bool:
    """Record `step` as used by `user_id` if no later or equal step was; True if it was not."""
    result = db.session.execute(
        sa.update(TotpEnrollment)
        .where(
            TotpEnrollment.user_id == user_id,
            sa.or_(TotpEnrollment.last_step.is_(None), TotpEnrollment.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
