"""Passkeys (WebAuthn Level 3 discoverable credentials), checked by py_webauthn.

- `challenges`: the challenges of the options, stored server side by their SHA-256,
  single use, 5 minutes, a registration's bound to its user.
- `credentials`: the stored passkeys: list, find, delete, record a use.
- `registration`: creation options for a signed-in user, and the check of what the
  authenticator made.
- `login`: request options for anyone (discoverable credentials: no email is asked), and
  the check of an assertion, which names the user.
- `exceptions`: what these refuse, without HTTP.

Who commits: as for `app.mfa`, these services never commit and never audit; the view
does both, and commits a refusal too, so that the challenge it spent stays spent. The
relying party (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS) comes in as an argument.
"""

from dataclasses import dataclass
from typing import Any

from webauthn.helpers.cose import COSEAlgorithmIdentifier

# How long the browser may take and the server keeps a challenge: the contract's 5 minutes.
CHALLENGE_TTL_SECONDS = 300
# EdDSA, ES256 and RS256, the algorithms py_webauthn verifies; authenticators pick the first
# they support.
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
# Passkeys one account may hold. Each is listed in every set of creation options (to
# exclude it) and is a way into the account: a bound keeps both small, and no person
# needs more (one per device, plus security keys).
MAX_PASSKEYS_PER_USER = 20
# RFC 8176 `amr` of a passkey login: a key that verified its user. "swk" (a software-secured
# key) for a backup-eligible, synced passkey; "hwk" for one bound to its device.
AMR_SYNCED_PASSKEY = ("swk", "user")
AMR_DEVICE_PASSKEY = ("hwk", "user")


@dataclass(frozen=True)
class RelyingParty:
    """This service as WebAuthn names it: its RP ID, the name authenticators show, and the
    origins of the pages that may use its passkeys."""

    id: str
    name: str
    origins: tuple[str, ...]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RelyingParty":
        return cls(
            config["WEBAUTHN_RP_ID"],
            config["WEBAUTHN_RP_NAME"],
            tuple(config["WEBAUTHN_ORIGINS"]),
        )
