"""A software WebAuthn authenticator, and the browser around it, for the passkey tests.

It does what `navigator.credentials.create()` and `.get()` do with a platform
authenticator, and answers in the JSON of `PublicKeyCredential.toJSON()`: it makes ES256
(P-256) keys with `cryptography`, builds the client data and the authenticator data,
an attestation object of format "none" with cbor2, and signs assertions. Every part a real
one gets right can be made wrong on request, to show the service refuses it: the origin,
the RP ID (its hash in the authenticator data), the user-verified flag, the signature, the
counter, the user handle, the challenge.
"""

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://localhost:5000"  # the testing PUBLIC_URL's origin, as the service expects
AAGUID = bytes(16)  # "none" attestation: an all-zero AAGUID is allowed

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_credential(credential: "Credential", **response: object) -> dict:
    """What `PublicKeyCredential.toJSON()` gives for `credential` and its `response`."""
    return {
        "id": b64url(credential.id),
        "rawId": b64url(credential.id),
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "response": response,
        "clientExtensionResults": {},
    }


@dataclass
class Credential:
    """A passkey the authenticator holds: its id, key, account and counter."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    synced: bool = False  # backup-eligible (and backed up), as a password manager's passkey

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


class Authenticator:
    """A platform authenticator with user verification, and the browser that calls it."""

    def __init__(self, *, synced: bool = False, counter_step: int = 1):
        self.credentials: list[Credential] = []
        self.synced = synced
        # A synced passkey keeps its counter at 0; a device-bound one counts its uses.
        self.counter_step = 0 if synced else counter_step

    def _flags(self, user_verified: bool, credential: Credential, attested: bool = False) -> int:
        flags = UP | (UV if user_verified else 0) | (AT if attested else 0)
        return flags | (BE | BS if credential.synced else 0)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(
        self,
        options: dict,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        user_verified: bool = True,
        challenge: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict:
        """Make a passkey for `options` (creation options JSON); the credential's JSON.
        `credential_id`: reuse that id (an authenticator ignoring excludeCredentials)."""
        rp_id = rp_id or options["rp"]["id"]
        credential = Credential(
            id=credential_id or secrets.token_bytes(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=unb64url(options["user"]["id"]),
            synced=self.synced,
        )
        self.credentials.append(credential)
        attested = AAGUID + struct.pack(">H", len(credential.id)) + credential.id
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(user_verified, credential, attested=True)])
            + struct.pack(">I", credential.sign_count)
            + attested
            + credential.cose_public_key()
        )
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return public_key_credential(
            credential,
            clientDataJSON=b64url(client_data),
            attestationObject=b64url(attestation),
            transports=["internal", "hybrid"],
        )

    def get(
        self,
        options: dict,
        credential: Credential | None = None,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        user_verified: bool = True,
        bad_signature: bool = False,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        challenge: str | None = None,
    ) -> dict:
        """Sign in with `credential` (the last one made by default) for `options` (request
        options JSON); the assertion's JSON. `sign_count` sends that counter instead of the
        next one."""
        credential = credential or self.credentials[-1]
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count
        auth_data = (
            hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
            + bytes([self._flags(user_verified, credential)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        if bad_signature:
            signature = credential.private_key.sign(b"something else", ec.ECDSA(hashes.SHA256()))
        return public_key_credential(
            credential,
            clientDataJSON=b64url(client_data),
            authenticatorData=b64url(auth_data),
            signature=b64url(signature),
            userHandle=b64url(credential.user_handle if user_handle is None else user_handle),
        )
