"""Making a passkey for a signed-in user: the creation options, then the check of what the
authenticator made (`verify`).

The options ask for a discoverable credential (`residentKey: required`) whose authenticator
verifies its user (`userVerification: required`), without attestation. `user.id` in them
is the account's WebAuthn user handle: 32 random bytes made at its first registration,
never the numeric id or the email, which authenticators store and may show.
"""

import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialCreationOptions,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.extensions import db
from app.locks import lock_user
from app.models import Passkey, User, utcnow
from app.passkeys import (
    ALGORITHMS,
    CHALLENGE_TTL_SECONDS,
    MAX_PASSKEYS_PER_USER,
    RelyingParty,
    challenges,
    credentials,
)
from app.passkeys.exceptions import InvalidPasskey, TooManyPasskeys
from app.passkeys.verification import REFUSALS, refusal_detail

USER_HANDLE_BYTES = 32
DEFAULT_NAME = "Passkey"


def user_handle(user_id: int) -> bytes:
    """The user's WebAuthn user handle, made now if they have none. Two first registrations
    at once agree on one: the handle is set only where none is, then read back."""
    db.session.execute(
        sa.update(User)
        .where(User.id == user_id, User.webauthn_user_handle.is_(None))
        .values(webauthn_user_handle=secrets.token_bytes(USER_HANDLE_BYTES))
        .execution_options(synchronize_session=False)
    )
    return db.session.scalar(sa.select(User.webauthn_user_handle).where(User.id == user_id))


def options(user_id: int, email: str, rp: RelyingParty) -> PublicKeyCredentialCreationOptions:
    """Creation options for a new passkey of the user, with a new challenge bound to them;
    TooManyPasskeys if they hold as many as they may."""
    existing = credentials.descriptors(user_id)
    if len(existing) >= MAX_PASSKEYS_PER_USER:
        raise TooManyPasskeys(MAX_PASSKEYS_PER_USER)
    return generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(user_id),
        user_name=email,
        user_display_name=email,
        challenge=challenges.issue(challenges.REGISTRATION, user_id),
        timeout=CHALLENGE_TTL_SECONDS * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=existing,
        supported_pub_key_algs=ALGORITHMS,
    )


def verify(
    user_id: int, credential: RegistrationCredential, name: str | None, rp: RelyingParty
) -> Passkey:
    """Store the passkey `credential` holds, made for a live registration challenge of
    `user_id` on one of our origins for our RP ID, by an authenticator that verified its
    user. InvalidPasskey (with the reason) for anything else, a credential registered
    already (by anyone) included; the challenge is spent either way. TooManyPasskeys if
    the user holds as many as they may: counted under their row lock, taken before the
    challenge's (the order of app/locks.py), so registrations at once cannot pass the
    bound together."""
    lock_user(user_id)
    challenge = challenges.take(
        credential.response.client_data_json, challenges.REGISTRATION, InvalidPasskey, user_id
    )
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except REFUSALS as exc:
        raise InvalidPasskey("rejected", refusal_detail(exc), user_id) from None
    if credentials.registered(verified.credential_id):
        raise InvalidPasskey("already_registered", user_id=user_id)
    if credentials.count(user_id) >= MAX_PASSKEYS_PER_USER:
        raise TooManyPasskeys(MAX_PASSKEYS_PER_USER)
    passkey = Passkey(
        user_id=user_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=credentials.transports_column(credential.response.transports),
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        name=name or DEFAULT_NAME,
        created_at=utcnow(),
    )
    db.session.add(passkey)
    try:
        db.session.flush()
    except IntegrityError:  # the same credential, registered at this very moment
        db.session.rollback()
        raise InvalidPasskey("already_registered", user_id=user_id) from None
    return passkey
