"""What the second factor refuses, in its own words: domain exceptions of the family of
`app/exceptions.py` (`ServiceError`), which `app/errors.py` maps to HTTP.

Raise a fresh instance every time, never a module-level one (a raised exception keeps its
traceback and the locals of its frames, a submitted code among them).
"""

from app.exceptions import ServiceError


class MfaError(ServiceError):
    """A refusal of the second factor."""


class InvalidMfaCode(MfaError):
    """The TOTP or recovery code answering a login challenge is wrong, malformed or already
    used. The failure has been counted: the caller commits before answering (401).
    `user_id`: whose challenge it was, for the audit line."""

    message = "The code is invalid or has been used already."

    def __init__(self, user_id: int | None = None):
        super().__init__()
        self.user_id = user_id


class WrongMfaCode(InvalidMfaCode):
    """The signed-in user's code, asked to confirm, disable or renew, is wrong, malformed
    or already used. A 400, not a 401, as for `WrongPassword`: the access token is fine."""


class MfaAlreadyEnabled(MfaError):
    """The user already has a confirmed authenticator."""

    message = "A second factor is already enabled; disable it first."


class MfaNotEnabled(MfaError):
    """The user has no confirmed authenticator (or, to confirm, no pending one)."""

    message = "No second factor is enabled (or being enrolled)."


class InvalidMfaToken(MfaError):
    """The `mfaToken` is unknown, expired, spent, dead after too many wrong codes, or its
    user's credentials changed since the password was checked."""

    message = "The MFA token is invalid, used or expired; sign in again."


class MfaSecretUnreadable(MfaError):
    """No key of MFA_ENCRYPTION_KEY opens the user's TOTP secret: an operator dropped a key
    still needed (`flask mfa rekey` first). Not the user's fault, so not a wrong code."""

    message = "The second factor cannot be checked right now; try again later."
