"""The store: users, their sign-in sessions, refresh tokens by jti, and emailed tokens.

A `LoginSession` is one sign-in on one client. Every refresh token of a rotation chain
belongs to one session, and every access token names its session in the `sid` claim, so
ending a session (logout, reuse detection, password change) stops both at once.
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import passwords
from app.extensions import db

# The roles the code itself relies on: new accounts get USER, the admin API needs ADMIN.
# The roles an account may have are configuration (ROLES, app/roles.py); both are in it.
USER = "user"
ADMIN = "admin"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetimes are not stored")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class User(db.Model):
    __tablename__ = "users"
    # SQLite would otherwise hand a deleted account's id to the next one (max(id) + 1);
    # an id outlives its account in logs, audit lines and other services' records.
    # PostgreSQL's sequence never goes back anyway.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored normalised (lower case), so the unique index makes emails case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(32), default=USER, server_default=USER)
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    disabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Bumped by every change that ends all the user's sessions (`sessions.credentials_changed`):
    # a login opens its session only if this is still the version it checked the password
    # against, so no login in flight outlives such a change.
    credential_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Whether a confirmed TOTP authenticator guards the account (`app.mfa.enrollment` keeps
    # it in step with `mfa_totp`): on the user's row, so that the guard's one query already
    # tells `/me` and a login reads it with the password hash.
    mfa_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The WebAuthn user handle (`user.id` of the creation options, `userHandle` of an
    # assertion): 32 random bytes made at the first passkey registration, never the numeric
    # id or the email, which an authenticator would then show or leak (app/passkeys/).
    webauthn_user_handle: Mapped[bytes | None] = mapped_column(
        sa.LargeBinary(64), unique=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sessions: Mapped[list["LoginSession"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def set_password(self, password: str) -> None:
        self.password_hash = passwords.hash_password(password)

    def check_password(self, password: str) -> bool:
        return passwords.check_password(password, self.password_hash)

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class LoginSession(db.Model):
    """One sign-in: created at login, extended by refreshes, never past `expires_at`."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Absolute end (JWT_SESSION_MAX_AGE after login); rotation never extends it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    # How the user signed in (RFC 8176 values, space-separated: "pwd" or "pwd otp"), so
    # that every access token of the session, refreshed ones too, carries the same `amr`.
    amr: Mapped[str] = mapped_column(sa.String(64), default="pwd", server_default="pwd")

    user: Mapped[User] = relationship(back_populates="sessions")
    refresh_tokens: Mapped[list["RefreshToken"]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


class RefreshToken(db.Model):
    """A refresh token by jti. `used_at` spends it; `replaced_by` names its successor."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))

    session: Mapped[LoginSession] = relationship(back_populates="refresh_tokens")


class EmailToken(db.Model):
    """A single-use token sent by email: `purpose` is "reset", "verify" or "email_change".

    Only the SHA-256 of the token is stored: a leaked table cannot reset a password.
    """

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An email-change token's address, which following the link makes the account's.
    new_email: Mapped[str | None] = mapped_column(sa.String(320))


class TotpEnrollment(db.Model):
    """A user's TOTP authenticator: pending until a first code confirms it, then MFA is on.

    The secret is stored encrypted (app/mfa/crypto.py). `last_step` is the last 30-second
    step whose code was accepted: a code is accepted only for a later step, so none is
    accepted twice.
    """

    __tablename__ = "mfa_totp"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(sa.String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)


class RecoveryCode(db.Model):
    """One single-use recovery code; only its SHA-256 is stored (app/mfa/recovery_codes.py)."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MfaChallenge(db.Model):
    """A password login waiting for its second factor: the `mfaToken`, by its SHA-256.

    It holds the user's `credential_version` of the password check, so a password change
    or reset in the meantime kills it, like a login in flight (app/sessions.py).
    """

    __tablename__ = "mfa_challenges"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(db.Model):
    """A WebAuthn credential (a passkey) of a user: its id and public key, as registered.

    `sign_count` is the authenticator's signature counter, which must grow at each login
    unless it stays 0 (synced passkeys); `backup_eligible` and `backed_up` are the BE and
    BS flags: a backup-eligible credential is a synced one ("swk"), others "hwk".
    """

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # At most 1023 bytes (WebAuthn Level 3, credential ID).
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary(1023), unique=True, index=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # Space-separated AuthenticatorTransport values ("internal hybrid"), for excludeCredentials.
    transports: Mapped[str] = mapped_column(sa.String(255), default="", server_default="")
    aaguid: Mapped[str | None] = mapped_column(sa.String(36))
    backup_eligible: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    backed_up: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasskeyChallenge(db.Model):
    """A WebAuthn challenge waiting for its answer, by the SHA-256 of its value.

    `purpose` is "registration" (then `user_id` is whom it was made for) or "login".
    Consumed once by a DELETE ... RETURNING (app/passkeys/challenges.py).
    """

    __tablename__ = "passkey_challenges"

    challenge_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
