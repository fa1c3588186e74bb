"""Turning the second factor on and off for a user, new recovery codes, the admin reset.

Each operation first takes the user's row lock (`app.locks.lock_user`), so two enrollments,
or an enrollment and its confirmation, of one user never interleave.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.locks import lock_user
from app.mfa import crypto, recovery_codes, totp
from app.mfa.exceptions import (
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSecretUnreadable,
    WrongMfaCode,
)
from app.models import MfaChallenge, TotpEnrollment, User, utcnow


@dataclass(frozen=True)
class PendingEnrollment:
    """What the user puts into an authenticator app: shown once, never stored in clear."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def is_enabled(user_id: int) -> bool:
    """Whether the user has a confirmed authenticator (`mfaEnabled` of `/me`)."""
    return bool(db.session.scalar(sa.select(User.mfa_enabled).where(User.id == user_id)))


def _set_enabled(user_id: int, enabled: bool) -> None:
    """Keep `users.mfa_enabled` in step with the confirmed enrollment."""
    db.session.execute(sa.update(User).where(User.id == user_id).values(mfa_enabled=enabled))


def _enrollment(user_id: int) -> TotpEnrollment | None:
    return db.session.get(TotpEnrollment, user_id, populate_existing=True)


def start(user: User, *, issuer: str, keys: tuple[str, ...]) -> PendingEnrollment:
    """Start an enrollment, or start it again with a new secret; MfaAlreadyEnabled if on."""
    lock_user(user.id)
    enrollment = _enrollment(user.id)
    if enrollment is not None and enrollment.confirmed_at is not None:
        raise MfaAlreadyEnabled()
    secret = totp.new_secret()
    if enrollment is None:
        enrollment = TotpEnrollment(user_id=user.id)
        db.session.add(enrollment)
    enrollment.secret_encrypted = crypto.encrypt(secret, keys)
    enrollment.created_at = utcnow()
    enrollment.last_step = None
    db.session.flush()
    uri = totp.otpauth_uri(secret, user.email, issuer)
    return PendingEnrollment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def accept_totp(
    enrollment: TotpEnrollment, code: str, keys: tuple[str, ...], now: datetime
) -> bool:
    """Whether `code` is the user's current code, spending its step if it is."""
    step = totp.matching_step(crypto.decrypt(enrollment.secret_encrypted, keys), code, now)
    return step is not None and totp.spend_step(enrollment.user_id, step)


def confirm(
    user_id: int, code: str, *, keys: tuple[str, ...], now: datetime | None = None
) -> list[str]:
    """Turn MFA on with a first code of the pending enrollment; return the 10 recovery codes.

    MfaAlreadyEnabled if it is on, MfaNotEnabled without a pending enrollment,
    WrongMfaCode for a wrong code. The caller ends the user's other sessions.
    """
    now = now or utcnow()
    lock_user(user_id)
    enrollment = _enrollment(user_id)
    if enrollment is None:
        raise MfaNotEnabled()
    if enrollment.confirmed_at is not None:
        raise MfaAlreadyEnabled()
    if not accept_totp(enrollment, code, keys, now):
        raise WrongMfaCode()
    enrollment.confirmed_at = now
    _set_enabled(user_id, True)
    return recovery_codes.replace_all(user_id, now)


def _confirmed_enrollment(user_id: int) -> TotpEnrollment:
    lock_user(user_id)
    enrollment = _enrollment(user_id)
    if enrollment is None or enrollment.confirmed_at is None:
        raise MfaNotEnabled()
    return enrollment


def check_second_factor(
    enrollment: TotpEnrollment, code: str, keys: tuple[str, ...], now: datetime
) -> str:
    """Accept a TOTP code (6 digits) or an unused recovery code (anything else), spending
    it; return which ("otp" or "recovery_code") for the audit line. WrongMfaCode if
    neither."""
    if totp.CODE.fullmatch(code):
        if accept_totp(enrollment, code, keys, now):
            return "otp"
    elif recovery_codes.spend(enrollment.user_id, code, now):
        return "recovery_code"
    raise WrongMfaCode()


def disable(user_id: int, code: str, *, keys: tuple[str, ...], now: datetime | None = None) -> str:
    """Turn MFA off with a current TOTP code or an unused recovery code: the secret and the
    codes go. MfaNotEnabled if it is off. Returns the factor used."""
    now = now or utcnow()
    enrollment = _confirmed_enrollment(user_id)
    factor = check_second_factor(enrollment, code, keys, now)
    _remove(user_id)
    return factor


def regenerate_recovery_codes(
    user_id: int, code: str, *, keys: tuple[str, ...], now: datetime | None = None
) -> list[str]:
    """A new set of recovery codes for a current TOTP code or an unused recovery code; the
    old set stops working. MfaNotEnabled if MFA is off."""
    now = now or utcnow()
    enrollment = _confirmed_enrollment(user_id)
    check_second_factor(enrollment, code, keys, now)
    return recovery_codes.replace_all(user_id, now)


@dataclass(frozen=True)
class Rekeyed:
    rekeyed: int
    unreadable: list[int]  # the user ids whose secret no key opens


def rekey_all(keys: tuple[str, ...], batch: int = 500) -> Rekeyed:
    """Encrypt every TOTP secret again under the first key, so that the others can be
    dropped from MFA_ENCRYPTION_KEY. Flushes each batch; the caller commits."""
    rekeyed, unreadable, after = 0, [], 0
    while rows := db.session.scalars(
        sa.select(TotpEnrollment)
        .where(TotpEnrollment.user_id > after)
        .order_by(TotpEnrollment.user_id)
        .limit(batch)
    ).all():
        for enrollment in rows:
            try:
                enrollment.secret_encrypted = crypto.rekey(enrollment.secret_encrypted, keys)
                rekeyed += 1
            except MfaSecretUnreadable:
                unreadable.append(enrollment.user_id)
        after = rows[-1].user_id
        db.session.flush()
    return Rekeyed(rekeyed, unreadable)


def reset(user_id: int) -> bool:
    """The admin switch: MFA off without a code. Returns whether it was on (pending or
    confirmed enrollments both go). The caller ends the user's sessions."""
    lock_user(user_id)
    was_on = is_enabled(user_id)
    _remove(user_id)
    return was_on


def _remove(user_id: int) -> None:
    """Delete the authenticator, the recovery codes and pending login challenges."""
    db.session.execute(sa.delete(TotpEnrollment).where(TotpEnrollment.user_id == user_id))
    db.session.execute(sa.delete(MfaChallenge).where(MfaChallenge.user_id == user_id))
    recovery_codes.delete_all(user_id)
    _set_enabled(user_id, False)
    db.session.flush()
