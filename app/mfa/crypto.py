"""TOTP secrets encrypted at rest: Fernet (AES-128-CBC with HMAC-SHA256, authenticated).

MFA_ENCRYPTION_KEY lists one or more keys; MultiFernet encrypts with the first and
decrypts with any, so a key is rotated by putting the new one first; the old one stays
listed while secrets encrypted under it remain (each is encrypted again under the first
key whenever it is written: a new enrollment).
"""

from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet


def _cipher(keys: Sequence[str]) -> MultiFernet:
    if not keys:
        raise RuntimeError("MFA_ENCRYPTION_KEY is not set: TOTP secrets cannot be stored")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(secret: str, keys: Sequence[str]) -> str:
    return _cipher(keys).encrypt(secret.encode()).decode()


def decrypt(token: str, keys: Sequence[str]) -> str:
    """The secret in clear; `cryptography.fernet.InvalidToken` if no key opens it."""
    return _cipher(keys).decrypt(token.encode()).decode()
