"""The asymmetric keys that sign access tokens (RS256/ES256), and the JWKS that publishes them.

`init_app` reads every configured key once, at start-up, so that a missing, unreadable or
wrong key is a ConfigError before the first request. JWT_PRIVATE_KEY_FILE signs; the files
of JWT_VERIFY_ONLY_KEY_FILES only verify. All of them are published, each under a `kid`
that is its RFC 7638 thumbprint, so the kid follows the key and not the file name. That
is the whole of key rotation: publish the new key, sign with it, retire the old one after
the longest access-token life (docs/keys.md, "Key rotation").
"""

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, current_app
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.config import ConfigError

MIN_RSA_BITS = 2048
EXTENSION = "jwt_keys"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class Key:
    """One configured key. `private_key` is None for a verify-only public key file."""

    kid: str
    algorithm: str
    path: str
    signs: bool
    public_key: PublicKey = field(repr=False)
    private_key: PrivateKey | None = field(repr=False)

    @property
    def role(self) -> str:
        return "signing" if self.signs else "verify-only"

    def public_jwk(self) -> dict[str, Any]:
        """The RFC 7517 JWK that publishes this key: public members only."""
        members = public_members(self.public_key)
        kty = members.pop("kty")
        return {"kty": kty, "use": "sig", "alg": self.algorithm, "kid": self.kid, **members}


@dataclass(frozen=True)
class KeySet:
    """The keys of one app: the signer first, then the verify-only keys."""

    algorithm: str
    keys: tuple[Key, ...]

    @property
    def signer(self) -> Key:
        return self.keys[0]

    def find(self, kid: Any) -> Key | None:
        """The key a token's `kid` header names; None when it is unknown or not a string."""
        if not isinstance(kid, str):
            return None
        return next((key for key in self.keys if key.kid == kid), None)

    @cached_property
    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    @cached_property
    def etag(self) -> str:
        return hashlib.sha256(_canonical_json(self.jwks)).hexdigest()[:32]


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def public_members(public_key: PublicKey) -> dict[str, str]:
    """The members RFC 7638 requires of a public JWK (`kty` and the key's numbers)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        names = ("kty", "n", "e")
    else:
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        names = ("kty", "crv", "x", "y")
    return {name: jwk[name] for name in names}


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638: base64url(SHA-256) of the required members, sorted, without whitespace."""
    digest = hashlib.sha256(_canonical_json(public_members(public_key))).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _check_type(public_key: Any, algorithm: str) -> str | None:
    """Why `public_key` cannot make good `algorithm` signatures; None when it can."""
    if algorithm == "RS256":
        if not isinstance(public_key, rsa.RSAPublicKey):
            return "is not an RSA key, which RS256 needs"
        if public_key.key_size < MIN_RSA_BITS:
            return f"is a {public_key.key_size}-bit RSA key; RS256 needs {MIN_RSA_BITS} or more"
        return None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return "is not a P-256 EC key, which ES256 needs"
    return None


def _parse_pem(pem: bytes) -> tuple[Any, Any]:
    """(private key or None, public key) of a PEM private or public key."""
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, UnsupportedAlgorithm):
        return None, serialization.load_pem_public_key(pem)
    return private_key, private_key.public_key()


def load_key(setting: str, path: str, algorithm: str) -> Key:
    """Read one PEM key file named by `setting`.

    The JWT_PRIVATE_KEY_FILE key signs and must be private; a verify-only key may be a
    public key (a retired key needs no private half).
    """
    signs = setting == "JWT_PRIVATE_KEY_FILE"
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        private_key, public_key = _parse_pem(pem)
    except TypeError:
        raise ConfigError(f"{setting}: {path} is encrypted; give an unencrypted PEM") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{setting}: {path} is not a PEM key") from None
    if signs and private_key is None:
        raise ConfigError(f"{setting}: {path} is a public key; the private key signs")
    problem = _check_type(public_key, algorithm)
    if problem:
        raise ConfigError(f"{setting}: {path} {problem}")
    return Key(thumbprint(public_key), algorithm, path, signs, public_key, private_key)


def load_keys(config: Mapping[str, Any]) -> KeySet | None:
    """The configured keys (signer first), or None when access tokens are HMAC-signed."""
    algorithm = config["JWT_ALGORITHM"]
    if algorithm == "HS256":
        return None
    signer = load_key("JWT_PRIVATE_KEY_FILE", config["JWT_PRIVATE_KEY_FILE"], algorithm)
    keys = {signer.kid: signer}
    for path in config["JWT_VERIFY_ONLY_KEY_FILES"]:
        key = load_key("JWT_VERIFY_ONLY_KEY_FILES", path, algorithm)
        keys.setdefault(key.kid, key)  # the same key listed twice is published once
    return KeySet(algorithm, tuple(keys.values()))


def init_app(app: Flask) -> None:
    keyset = load_keys(app.config)
    app.extensions[EXTENSION] = keyset
    for key in keyset.keys if keyset else ():
        if key.private_key is not None and os.stat(key.path).st_mode & 0o077:
            app.logger.warning(
                "private key file %s can be read or written by other users: chmod 600 it", key.path
            )


def current_keys() -> KeySet | None:
    """The current app's keys, read once by `init_app`; None with HS256."""
    return current_app.extensions[EXTENSION]


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)


def write_private_key(private_key: PrivateKey, path: str | os.PathLike) -> None:
    """Write an unencrypted PKCS#8 PEM that only its owner can read; never overwrite.

    The file is created with mode 0600 (O_EXCL, so neither an existing file nor a planted
    symlink is followed), rather than chmod-ed after the key is already on disk.
    """
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
