"""What the service refuses, in its own words: no HTTP status, header or envelope here.

Services and the guard raise these; `app/errors.py` alone turns each into the contract's
answer, in one table (as flask-jwt-extended's `exceptions.py` and `default_callbacks.py`).
The CLI catches them and prints their message. Raise a fresh instance every time
(`raise EmailTaken()`), never a module-level one: a raised exception keeps its traceback,
and with it the locals of every frame it passed through, a submitted password included.
"""


class ServiceError(Exception):
    """A refusal by the service. `message` is meant for the person who asked."""

    message = "The request was refused."

    def __init__(self, message: str | None = None):
        self.message = message or self.message
        super().__init__(self.message)


class EmailTaken(ServiceError):
    message = "An account with this email already exists."


class LastAdmin(ServiceError):
    message = "This is the last enabled admin: promote another admin first."


class UserNotFound(ServiceError):
    message = "There is no such user."


class SessionNotFound(ServiceError):
    """No live session of the caller by that id: never existed, someone else's, or ended."""

    message = "There is no such session."


class InvalidCredentials(ServiceError):
    """A login with an unknown email or a wrong password: one error for both, so that
    the answer does not tell which accounts exist."""

    message = "Invalid email or password."


class WrongPassword(ServiceError):
    """The signed-in user's current password, asked again to confirm a change, is wrong."""

    message = "The password is incorrect."


class InvalidResetToken(ServiceError):
    message = "The reset token is invalid or has expired."


class InvalidVerificationToken(ServiceError):
    message = "The verification token is invalid, used or expired."


class InvalidEmailChangeToken(ServiceError):
    message = "The email change link is invalid, used or expired."


class ResendTooSoon(ServiceError):
    """A verification link went out moments ago; `retry_after` seconds until the next."""

    message = "A verification link was sent moments ago; wait before asking again."

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


class SignInRefused(ServiceError):
    """The account may not sign in or refresh. `reason` names why, for the audit log."""

    reason = "refused"


class AccountDisabled(SignInRefused):
    message = "This account is disabled."
    reason = "account_disabled"


class EmailNotVerified(SignInRefused):
    message = "Confirm your email address with the link we sent first."
    reason = "email_unverified"


class TokenError(ServiceError):
    """A token that must not be accepted. `code` names why: `invalid_token`,
    `token_expired` or `token_revoked` (the contract uses the same words)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class RefreshTokenReused(TokenError):
    """A refresh token presented again after its grace: taken for theft, so its session
    has been ended. The caller must commit that revocation, though the refresh fails."""

    def __init__(self, user_id: int, session_id: str):
        super().__init__("token_revoked", "The refresh token has been used already.")
        self.user_id = user_id
        self.session_id = session_id


class MissingAccessToken(ServiceError):
    message = "An access token is required."


class InvalidAccessToken(TokenError):
    """An access token the guard refuses (malformed, bad signature, expired, revoked)."""


class InsufficientRole(ServiceError):
    message = "This action requires a different role."

    def __init__(self, roles: tuple[str, ...]):
        super().__init__()
        self.roles = roles


class MfaRequired(ServiceError):
    """The access token has no second factor (its `amr`), and this action needs one: the
    route asks for it, or the user's role is listed in REQUIRE_MFA_ROLES."""

    message = "This action requires signing in with a second factor."


class InvalidClient(ServiceError):
    """A caller of token introspection without, or with wrong, client credentials."""

    message = "Client authentication failed."
