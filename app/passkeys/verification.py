"""What py_webauthn raises when it refuses a credential, caught in one place.

It raises its own `WebAuthnException`s for what it checks, and lets a few errors of the
parsers under it through for malformed input (CBOR, base64, COSE keys): `ValueError`
(cbor2's decode error is one), `TypeError`, `KeyError`, `IndexError`. Each is a refused
credential, never a 500.
"""

from webauthn.helpers.exceptions import WebAuthnException

REFUSALS = (WebAuthnException, ValueError, TypeError, KeyError, IndexError)


def refusal_detail(exc: Exception) -> str:
    """Why py_webauthn refused, for the audit line only: its message, short."""
    return f"{type(exc).__name__}: {exc}"[:200]
