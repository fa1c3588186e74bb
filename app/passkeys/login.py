"""Signing in with a passkey: request options for anyone, then the check of an assertion.

Discoverable credentials: the options name no credential (`allowCredentials: []`) and no
email is asked; the assertion names its credential, and its `userHandle` the account,
which must be the credential's. Every refusal is `PasskeyLoginFailed`, one answer for all.
The checks an attacker without the private key cannot pass come before anything that
would tell them about the account (disabled, unverified: the view's `open_session`).
"""

import hmac
from dataclasses import dataclass
from datetime import datetime

from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers.structs import (
    AuthenticationCredential,
    CredentialDeviceType,
    PublicKeyCredentialRequestOptions,
    UserVerificationRequirement,
)

from app.models import User
from app.passkeys import (
    AMR_DEVICE_PASSKEY,
    AMR_SYNCED_PASSKEY,
    CHALLENGE_TTL_SECONDS,
    RelyingParty,
    challenges,
    credentials,
)
from app.passkeys.exceptions import PasskeyLoginFailed
from app.passkeys.verification import REFUSALS, refusal_detail


@dataclass(frozen=True)
class PasskeyLogin:
    """A verified assertion: whom to sign in, with what `amr`, by which passkey.

    `user` was read with its `credential_version`, so `sessions.start_session(user)` opens
    nothing if the account changed meanwhile, as for a password login."""

    user: User
    amr: tuple[str, ...]
    passkey_id: int


def options(rp: RelyingParty) -> PublicKeyCredentialRequestOptions:
    """Request options with a new login challenge, for whoever asks."""
    return generate_authentication_options(
        rp_id=rp.id,
        challenge=challenges.issue(challenges.LOGIN),
        timeout=CHALLENGE_TTL_SECONDS * 1000,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )


def verify(
    credential: AuthenticationCredential, rp: RelyingParty, *, now: datetime | None = None
) -> PasskeyLogin:
    """Check an assertion: a live login challenge (spent now, whatever follows), a known
    credential of the account its `userHandle` names, our RP ID and an origin of ours, a
    verified user, a valid signature and a counter that grew (or stays 0)."""
    challenge = challenges.take(
        credential.response.client_data_json, challenges.LOGIN, PasskeyLoginFailed, now=now
    )
    found = credentials.find(credential.raw_id)
    if found is None:
        raise PasskeyLoginFailed("unknown_credential")
    passkey, user = found
    handle = credential.response.user_handle
    if (
        not handle
        or user.webauthn_user_handle is None
        or not hmac.compare_digest(handle, user.webauthn_user_handle)
    ):
        raise PasskeyLoginFailed("user_handle_mismatch", user_id=user.id)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except REFUSALS as exc:
        raise PasskeyLoginFailed("rejected", refusal_detail(exc), user.id) from None
    if not credentials.record_use(
        passkey, verified.new_sign_count, verified.credential_backed_up, now
    ):
        raise PasskeyLoginFailed("counter_raced", user_id=user.id)
    synced = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    amr = AMR_SYNCED_PASSKEY if synced else AMR_DEVICE_PASSKEY
    return PasskeyLogin(user=user, amr=amr, passkey_id=passkey.id)
