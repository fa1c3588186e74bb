"""The services allowed to introspect our tokens (RFC 7662), and how they are recognised.

INTROSPECTION_CLIENTS names each with a shared secret; a caller proves it knows one with
HTTP Basic authentication. The comparison takes the same time whether the name is unknown,
the secret wrong in its first byte or its last: both sides are hashed to equal lengths and
compared with `hmac.compare_digest`, so timing reveals neither names nor secrets.
"""

import hashlib
import hmac
from collections.abc import Mapping

from app.exceptions import InvalidClient


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def authenticate_client(name: str, secret: str, clients: Mapping[str, str]) -> str:
    """`name` if `clients` gives it `secret`; raise InvalidClient otherwise."""
    expected = clients.get(name)
    # An unknown name is compared too, against nothing it could match, in the same time.
    matches = hmac.compare_digest(_digest(secret), _digest(expected or ""))
    if expected is None or not matches:
        raise InvalidClient()
    return name
