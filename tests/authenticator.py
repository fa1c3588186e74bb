"""A software WebAuthn authenticator, and the browser around it, for the passkey tests.

It does what `navigator.credentials.create()` and `.get()` do with a platform
authenticator, and answers in the JSON of `PublicKeyCredential.toJSON()`: it makes ES256
(P-256), RS256 or EdDSA (Ed25519) keys with `cryptography`, builds the client data, the
authenticator data and an attestation object of format "none" with cbor2, and signs
assertions. Every part a real
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

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


# The key types a passkey may have: COSE algorithm -7, -257 and -8.
ALGORITHMS = ("ES256", "RS256", "EdDSA")


def new_private_key(algorithm: str):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


@dataclass
class Credential:
    """A passkey the authenticator holds: its id, key, account and counter."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    synced: bool = False  # backup-eligible (and backed up), as a password manager's passkey

    def cose_public_key(self) -> bytes:
        """The public key as a COSE_Key (RFC 9053), as the attested credential data has it."""
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            # kty EC2, alg ES256, crv P-256, x, y
            key = {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        elif isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            # kty RSA, alg RS256, n, e
            key = {
                1: 3,
                3: -257,
                -1: numbers.n.to_bytes(256, "big"),
                -2: numbers.e.to_bytes(3, "big"),
            }
        else:
            # kty OKP, alg EdDSA, crv Ed25519, x
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            key = {1: 1, 3: -8, -1: 6, -2: raw}
        return cbor2.dumps(key)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.private_key.sign(data)


class Authenticator:
    """A platform authenticator with user verification, and the browser that calls it."""

    def __init__(self, *, synced: bool = False, counter_step: int = 1, algorithm: str = "ES256"):
        self.credentials: list[Credential] = []
        self.synced = synced
        self.algorithm = algorithm
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
            private_key=new_private_key(self.algorithm),
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
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.sign(b"something else" if bad_signature else signed)
        return public_key_credential(
            credential,
            clientDataJSON=b64url(client_data),
            authenticatorData=b64url(auth_data),
            signature=b64url(signature),
            userHandle=b64url(credential.user_handle if user_handle is None else user_handle),
        )
