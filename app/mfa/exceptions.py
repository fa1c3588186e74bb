"""What the second factor refuses, in its own words; `app/errors.py` maps them to HTTP.

Raise a fresh instance every time, never a module-level one (a raised exception keeps its
traceback and the locals of its frames, a submitted code among them).
"""


class MfaError(Exception):
    """A refusal of the second factor."""


class InvalidMfaCode(MfaError):
    """The TOTP or recovery code is wrong, malformed or already used. On a login
    challenge, the failure has been counted: the caller commits before answering."""


class MfaAlreadyEnabled(MfaError):
    """The user already has a confirmed authenticator."""


class MfaNotEnabled(MfaError):
    """The user has no confirmed authenticator (or, to confirm, no pending one)."""


class InvalidMfaToken(MfaError):
    """The `mfaToken` is unknown, expired, spent, dead after too many wrong codes, or its
    user's credentials changed since the password was checked."""
