"""TOTP secrets encrypted at rest: Fernet (AES-128-CBC with HMAC-SHA256, authenticated).

MFA_ENCRYPTION_KEY lists one or more keys; MultiFernet encrypts with the first and
decrypts with any, so a key is rotated by putting the new one first; the old one stays
listed while secrets encrypted under it remain: `rekey` encrypts one again under the first
key (`flask mfa rekey` does it for every secret), as does a new enrollment.
"""

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.mfa.exceptions import MfaSecretUnreadable


def _cipher(keys: Sequence[str]) -> MultiFernet:
    if not keys:
        raise RuntimeError("MFA_ENCRYPTION_KEY is not set: TOTP secrets cannot be stored")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(secret: str, keys: Sequence[str]) -> str:
    return _cipher(keys).encrypt(secret.encode()).decode()


def decrypt(token: str, keys: Sequence[str]) -> str:
    """The secret in clear; MfaSecretUnreadable if no key opens it."""
    try:
        return _cipher(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise MfaSecretUnreadable() from None


def rekey(token: str, keys: Sequence[str]) -> str:
    """The same secret encrypted under the first key; MfaSecretUnreadable if no key opens it."""
    try:
        return _cipher(keys).rotate(token.encode()).decode()
    except InvalidToken:
        raise MfaSecretUnreadable() from None
