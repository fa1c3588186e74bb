"""Accounts as operators manage them: create, find, list, change role or disabled, reset MFA.

Shared by the `admin` blueprint and the `flask users` commands, so both enforce the same
rules. The one that needs care is "never remove the last admin": two admins demoting each
other at the same moment must not both succeed, so every change that could remove an
admin first locks the enabled admins' rows (`locks.lock_users`) and only then counts them.
Functions here never commit; the caller does, once.
"""

from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import email_tokens, sessions
from app.exceptions import EmailTaken, LastAdmin, UserNotFound
from app.extensions import db
from app.locks import lock_users
from app.mfa import enrollment
from app.models import ADMIN, USER, User


class Change(NamedTuple):
    """What `change` did: the user as it now is, and which of its fields it changed."""

    user: User
    role_changed: bool
    disabled_changed: bool
    mfa_reset: bool  # a second factor was on, and is off


def _enabled_admin():
    return sa.and_(User.role == ADMIN, User.disabled.is_(False))


def create_user(email: str, password: str, *, role: str = USER, verified: bool = False) -> User:
    """Add an account (flushed, so it has an id); EmailTaken if the email is in use.

    `email` must already be normalised and `password` checked against the policy.
    """
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise EmailTaken()
    user = User(email=email, role=role, email_verified=verified)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent registration of the same email won
        db.session.rollback()
        raise EmailTaken() from None
    return user


def get_by_email(email: str) -> User:
    """The account with this (normalised) email; UserNotFound if there is none."""
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        raise UserNotFound(f"There is no user with the email {email}.")
    return user


def search(email_prefix: str | None, offset: int, limit: int) -> tuple[list[User], int]:
    """Accounts by id whose email starts with `email_prefix` (literally, any case); and how
    many match in all."""
    match = sa.true()
    if email_prefix:
        # autoescape: a `%` or `_` in the prefix matches itself, not any character.
        match = User.email.startswith(email_prefix.lower(), autoescape=True)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(match))
    found = db.session.scalars(
        sa.select(User).where(match).order_by(User.id).offset(offset).limit(limit)
    ).all()
    return list(found), total


def role_counts() -> dict[str, int]:
    """How many accounts hold each role, configured or not, by role name."""
    rows = db.session.execute(
        sa.select(User.role, sa.func.count()).group_by(User.role).order_by(User.role)
    )
    return {role: count for role, count in rows}


def change(
    user_id: int,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    reset_mfa: bool = False,
) -> Change:
    """Set a user's role and/or disabled flag, and/or turn their second factor off
    (`reset_mfa`: for a lost authenticator); UserNotFound, LastAdmin.

    Takes effect on the user's next request. A role change and disabling both end every
    session of the user (`sessions.credentials_changed`), logins in flight included: an
    old access token carries the old role and must never match again, were the role
    changed back; an enabled-again account must not get its old refresh tokens back.
    Disabling also spends the user's reset and verification links. Turning a second factor
    off ends every session too (nothing signed in with it outlives it); when none was on,
    it changes nothing.
    """
    lock_users(sa.or_(User.id == user_id, _enabled_admin()))
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None:
        raise UserNotFound()
    was_enabled_admin = user.role == ADMIN and not user.disabled
    role_changed = role is not None and role != user.role
    disabled_changed = disabled is not None and disabled != user.disabled
    if role is not None:
        user.role = role
    if disabled is not None:
        user.disabled = disabled
    if was_enabled_admin and not (user.role == ADMIN and not user.disabled):
        others = db.session.scalar(
            sa.select(sa.func.count()).select_from(User).where(_enabled_admin(), User.id != user_id)
        )
        if not others:
            db.session.rollback()
            raise LastAdmin()
    mfa_reset = reset_mfa and enrollment.reset(user_id)
    if role_changed or disabled or mfa_reset:
        sessions.credentials_changed(user)
    if disabled:
        email_tokens.revoke_all(user_id)
    return Change(user, role_changed, disabled_changed, mfa_reset)
