"""What passkeys refuse, in their own words: domain exceptions of the family of
`app/exceptions.py` (`ServiceError`), which `app/errors.py` maps to HTTP.

Every refusal of a credential has one message, whatever the reason (a wrong origin, RP ID,
challenge or signature, an unknown credential, a replay): the answer tells an attacker
nothing. The reason goes to the audit log only. Raise a fresh instance every time.
"""

from app.exceptions import ServiceError


class InvalidPasskey(ServiceError):
    """A registration the service refuses (400). `reason` names why, for the audit line."""

    message = "The passkey could not be verified."

    def __init__(
        self, reason: str = "refused", detail: str | None = None, user_id: int | None = None
    ):
        super().__init__()
        self.reason = reason
        self.detail = detail
        self.user_id = user_id


class PasskeyLoginFailed(InvalidPasskey):
    """A passkey login the service refuses (401): the same answer for every reason.
    `user_id`: whose credential it named, when it named a known one."""


class TooManyPasskeys(ServiceError):
    """The account holds MAX_PASSKEYS_PER_USER passkeys already: remove one first."""

    def __init__(self, limit: int):
        super().__init__(
            f"An account can have at most {limit} passkeys; remove one to add another."
        )


class PasskeyNotFound(ServiceError):
    """No passkey of the caller by that id: never existed, or someone else's."""

    message = "There is no such passkey."
