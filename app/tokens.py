"""The only place that signs or verifies a JWT.

Access and refresh tokens are signed with different keys and carry different `typ` headers
(RFC 9068 `at+jwt` for access), and every decode pins the algorithm, the type, the issuer
and the audience, so neither can stand in for the other.

With JWT_ALGORITHM=RS256 or ES256, access tokens are signed by the signing key of
`app/keys.py` and carry its `kid`; they are verified by the configured key the `kid` names
and by no other (no `kid`, or one we do not have, is refused; `jku`, `x5u` and `jwk`
headers are never read), with the configured algorithm only, so an HS256 token made with
our public key as the secret is refused. Refresh tokens stay HS256 with
JWT_REFRESH_SECRET: only this service ever reads them.

The guard verifies the same access token on every request a client makes during the
token's life, so each app keeps the claims of the access tokens it has verified (see
`init_app`); only expiry needs checking again.
"""

import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
from flask import Flask, current_app

from app.exceptions import TokenError
from app.keys import KeySet, current_keys

ACCESS_TYP = "at+jwt"
REFRESH_TYP = "refresh+jwt"
HMAC_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]
VERIFIED_ACCESS_TOKENS = "verified_access_tokens"
# Enough for the tokens in use at once on one worker; a miss only costs a verification.
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    role: str
    jti: str
    expires: int  # `exp`, seconds since the epoch
    amr: tuple[str, ...]  # RFC 8176: how the session signed in, e.g. ("pwd", "otp")
    issued: int  # `iat`
    email: str


@dataclass(frozen=True)
class RefreshClaims:
    user_id: int
    session_id: str
    jti: str


def _secret(kind: str) -> str:
    return current_app.config["JWT_ACCESS_SECRET" if kind == "access" else "JWT_REFRESH_SECRET"]


def _keyset(kind: str) -> KeySet | None:
    """The asymmetric keys that sign tokens of `kind`; None when an HMAC secret does."""
    return current_keys() if kind == "access" else None


def _encode(kind: str, typ: str, claims: dict[str, Any]) -> str:
    config = current_app.config
    payload = {"iss": config["JWT_ISSUER"], "aud": config["JWT_AUDIENCE"], **claims}
    keyset = _keyset(kind)
    if keyset is None:
        return jwt.encode(payload, _secret(kind), algorithm=HMAC_ALGORITHM, headers={"typ": typ})
    signer = keyset.signer
    headers = {"typ": typ, "kid": signer.kid}
    return jwt.encode(payload, signer.private_key, algorithm=keyset.algorithm, headers=headers)


def _verification_key(kind: str, token: str) -> tuple[Any, str]:
    """The key that must have signed `token`, and the one algorithm accepted."""
    keyset = _keyset(kind)
    if keyset is None:
        return _secret(kind), HMAC_ALGORITHM
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise TokenError("invalid_token", "The token is invalid.") from None
    key = keyset.find(kid)
    if key is None:
        raise TokenError("invalid_token", "The token is not signed by a key of ours.")
    return key.public_key, keyset.algorithm


def _timestamps(issued_at: datetime, expires_at: datetime) -> dict[str, int]:
    iat = int(issued_at.timestamp())
    return {"iat": iat, "nbf": iat, "exp": int(expires_at.timestamp())}


def encode_access_token(
    *,
    user_id: int,
    email: str,
    role: str,
    session_id: str,
    amr: tuple[str, ...],
    jti: str,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    claims = {
        "sub": str(user_id),
        "jti": jti,
        **_timestamps(issued_at, expires_at),
        "email": email,
        "role": role,
        "sid": session_id,
        "amr": list(amr),
    }
    return _encode("access", ACCESS_TYP, claims)


def encode_refresh_token(
    *, user_id: int, session_id: str, jti: str, issued_at: datetime, expires_at: datetime
) -> str:
    """Encode a refresh token. Deterministic: the same row always gives the same string."""
    claims = {
        "sub": str(user_id),
        "jti": jti,
        **_timestamps(issued_at, expires_at),
        "sid": session_id,
    }
    return _encode("refresh", REFRESH_TYP, claims)


def _decode(kind: str, typ: str, token: str, *, verify_exp: bool = True) -> dict[str, Any]:
    config = current_app.config
    key, algorithm = _verification_key(kind, token)
    try:
        decoded = jwt.api_jwt.decode_complete(
            token,
            key,
            algorithms=[algorithm],
            audience=config["JWT_AUDIENCE"],
            issuer=config["JWT_ISSUER"],
            leeway=config["JWT_LEEWAY"],
            options={"require": REQUIRED_CLAIMS, "verify_exp": verify_exp},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "The token has expired.") from None
    except jwt.PyJWTError:
        raise TokenError("invalid_token", "The token is invalid.") from None
    if decoded["header"].get("typ") != typ:
        raise TokenError("invalid_token", "The token is not of the expected type.")
    claims = decoded["payload"]
    if not isinstance(claims.get("sid"), str) or not isinstance(claims["jti"], str):
        raise TokenError("invalid_token", "The token is invalid.")
    try:
        claims["sub"] = int(claims["sub"])
    except (TypeError, ValueError):
        raise TokenError("invalid_token", "The token is invalid.") from None
    return claims


def init_app(app: Flask) -> None:
    """Give the app its cache of verified access tokens.

    Verifying a token is the guard's largest cost after its one query: the signature, the
    base64 and JSON decoding and the claim checks take about 50 µs. The cache is keyed by
    the whole token string, signature included, so only a byte-for-byte copy of a token
    this app verified can hit an entry; a token that fails verification is never kept. It
    belongs to one app, whose keys and settings are fixed at start-up, and is bounded
    (least recently used entries go first).
    """
    app.extensions[VERIFIED_ACCESS_TOKENS] = lru_cache(maxsize=VERIFIED_CACHE_SIZE)(_verify_access)


def _verify_access(token: str) -> AccessClaims:
    claims = _decode("access", ACCESS_TYP, token)
    # Tokens issued before `amr` existed are password sign-ins; they expire within minutes.
    amr = claims.get("amr", ["pwd"])
    if not all(isinstance(claims.get(name), str) for name in ("role", "email")) or not _strings(
        amr
    ):
        raise TokenError("invalid_token", "The token is invalid.")
    return AccessClaims(
        user_id=claims["sub"],
        session_id=claims["sid"],
        role=claims["role"],
        jti=claims["jti"],
        expires=int(claims["exp"]),
        amr=tuple(amr),
        issued=int(claims["iat"]),
        email=claims["email"],
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def decode_access_token(token: str) -> AccessClaims:
    """Verify an access token (or find it verified already) and check that it is unexpired."""
    claims = current_app.extensions[VERIFIED_ACCESS_TOKENS](token)
    # The same test as PyJWT's at verification: expired once exp + leeway is in the past.
    if claims.expires <= time.time() - current_app.config["JWT_LEEWAY"]:
        raise TokenError("token_expired", "The token has expired.")
    return claims


def decode_refresh_token(token: str, *, verify_exp: bool = True) -> RefreshClaims:
    claims = _decode("refresh", REFRESH_TYP, token, verify_exp=verify_exp)
    return RefreshClaims(claims["sub"], claims["sid"], claims["jti"])
