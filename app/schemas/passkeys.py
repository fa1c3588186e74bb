"""The passkeys' bodies: WebAuthn Level 3 JSON in and out.

Options are dumped from py_webauthn's own structures into the JSON forms that
`PublicKeyCredential.parseCreationOptionsFromJSON` and `parseRequestOptionsFromJSON`
take: binary values as unpadded base64url, absent optional members left out (a browser
refuses a `null` where it expects a list). A credential is read from what
`PublicKeyCredential.toJSON()` gives, checked for its shape here (a malformed one is a 400
`validation_error`), and loaded into py_webauthn's structures, which the services check
for what it says (400 or 401 `invalid_passkey`).
"""

import base64
import binascii
from typing import ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_dump, post_load, validate
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorAssertionResponse,
    AuthenticatorAttestationResponse,
    AuthenticatorTransport,
    PublicKeyCredentialType,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.passkeys.credentials import TRANSPORTS
from app.schemas.fields import Text, Timestamp
from app.schemas.requests import BodySchema

BASE64URL_PATTERN = "^[A-Za-z0-9_-]*={0,2}$"
MAX_NAME_LENGTH = 64
# Bounds that no real credential reaches and keep every value well inside MAX_CONTENT_LENGTH.
MAX_CREDENTIAL_ID = 1023  # bytes, WebAuthn's own limit
MAX_BINARY = 16384


class Base64Url(Text):
    """Bytes as unpadded base64url text (RFC 4648 section 5), as WebAuthn's JSON has them."""

    def __init__(self, max_bytes: int = MAX_BINARY, **kwargs):
        metadata = kwargs.setdefault("metadata", {})
        metadata.update(
            pattern=BASE64URL_PATTERN, maxLength=(max_bytes * 4 + 2) // 3, format="base64url"
        )
        super().__init__(**kwargs)
        self.max_bytes = max_bytes

    def _serialize(self, value: bytes | None, attr, obj, **kwargs):
        if value is None:
            return None
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > (self.max_bytes * 4 + 2) // 3 + 2:
            raise ValidationError(f"Must be at most {self.max_bytes} bytes.")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Must be base64url.") from None


class WebAuthnJSON(Schema):
    """An options member: a value that is absent (None) is left out, not sent as null."""

    @post_dump
    def drop_absent(self, data, **kwargs):
        return {key: value for key, value in data.items() if value is not None}


# The options: py_webauthn's structures, dumped.


class RelyingPartySchema(WebAuthnJSON):
    id = fields.String(required=True)
    name = fields.String(required=True)


class UserEntitySchema(WebAuthnJSON):
    id = Base64Url(required=True, metadata={"description": "the account's WebAuthn user handle"})
    name = fields.String(required=True)
    display_name = fields.String(required=True, data_key="displayName")


class CredentialParametersSchema(WebAuthnJSON):
    type = fields.String(required=True)
    alg = fields.Integer(required=True, metadata={"description": "COSE algorithm: -8, -7, -257"})


class CredentialDescriptorSchema(WebAuthnJSON):
    id = Base64Url(required=True)
    type = fields.Enum(PublicKeyCredentialType, by_value=True, required=True)
    transports = fields.List(fields.Enum(AuthenticatorTransport, by_value=True))


class AuthenticatorSelectionSchema(WebAuthnJSON):
    resident_key = fields.Enum(ResidentKeyRequirement, by_value=True, data_key="residentKey")
    require_resident_key = fields.Boolean(data_key="requireResidentKey")
    user_verification = fields.Enum(
        UserVerificationRequirement, by_value=True, data_key="userVerification"
    )


class CreationOptionsSchema(WebAuthnJSON):
    """`PublicKeyCredentialCreationOptionsJSON`: give it to
    `PublicKeyCredential.parseCreationOptionsFromJSON`, then `navigator.credentials.create`."""

    rp = fields.Nested(RelyingPartySchema, required=True)
    user = fields.Nested(UserEntitySchema, required=True)
    challenge = Base64Url(required=True)
    pub_key_cred_params = fields.List(
        fields.Nested(CredentialParametersSchema), required=True, data_key="pubKeyCredParams"
    )
    timeout = fields.Integer(metadata={"description": "milliseconds"})
    exclude_credentials = fields.List(
        fields.Nested(CredentialDescriptorSchema), data_key="excludeCredentials"
    )
    authenticator_selection = fields.Nested(
        AuthenticatorSelectionSchema, data_key="authenticatorSelection"
    )
    attestation = fields.Enum(AttestationConveyancePreference, by_value=True)


class RequestOptionsSchema(WebAuthnJSON):
    """`PublicKeyCredentialRequestOptionsJSON`: give it to
    `PublicKeyCredential.parseRequestOptionsFromJSON`, then `navigator.credentials.get`."""

    challenge = Base64Url(required=True)
    timeout = fields.Integer(metadata={"description": "milliseconds"})
    rp_id = fields.String(required=True, data_key="rpId")
    allow_credentials = fields.List(
        fields.Nested(CredentialDescriptorSchema), required=True, data_key="allowCredentials"
    )
    user_verification = fields.Enum(
        UserVerificationRequirement, by_value=True, data_key="userVerification"
    )


# The credentials: `PublicKeyCredential.toJSON()`, loaded into py_webauthn's structures.


class CredentialJSON(Schema):
    """The members every credential has, loaded into py_webauthn's `credential_struct`;
    others (`clientExtensionResults`, `authenticatorAttachment`...) are dropped."""

    class Meta:
        unknown = EXCLUDE

    credential_struct: ClassVar[type]
    id = Text(required=True, validate=validate.Length(min=1, max=2 * MAX_CREDENTIAL_ID))
    raw_id = Base64Url(MAX_CREDENTIAL_ID, required=True, data_key="rawId")
    type = Text(required=True, validate=validate.Equal(PublicKeyCredentialType.PUBLIC_KEY.value))

    @post_load
    def to_struct(self, data, **kwargs):
        return self.credential_struct(
            id=data["id"], raw_id=data["raw_id"], response=data["response"]
        )


class AttestationResponseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    client_data_json = Base64Url(required=True, data_key="clientDataJSON")
    attestation_object = Base64Url(required=True, data_key="attestationObject")
    transports = fields.List(
        Text(validate=validate.Length(max=32)), validate=validate.Length(max=16)
    )

    @post_load
    def to_struct(self, data, **kwargs) -> AuthenticatorAttestationResponse:
        # Transports this code does not know (a newer browser's) are left out, not refused.
        known = [TRANSPORTS[name] for name in data.pop("transports", ()) if name in TRANSPORTS]
        return AuthenticatorAttestationResponse(**data, transports=known)


class RegistrationCredentialSchema(CredentialJSON):
    """What `navigator.credentials.create()` made, as `toJSON()` gives it."""

    credential_struct = RegistrationCredential
    response = fields.Nested(AttestationResponseSchema, required=True)


class AssertionResponseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    client_data_json = Base64Url(required=True, data_key="clientDataJSON")
    authenticator_data = Base64Url(required=True, data_key="authenticatorData")
    signature = Base64Url(required=True)
    user_handle = Base64Url(64, allow_none=True, data_key="userHandle")

    @post_load
    def to_struct(self, data, **kwargs) -> AuthenticatorAssertionResponse:
        return AuthenticatorAssertionResponse(**data)


class AuthenticationCredentialSchema(CredentialJSON):
    """What `navigator.credentials.get()` gave, as `toJSON()` gives it."""

    credential_struct = AuthenticationCredential
    response = fields.Nested(AssertionResponseSchema, required=True)


class PasskeyRegistrationSchema(BodySchema):
    credential = fields.Nested(RegistrationCredentialSchema, required=True)
    name = Text(
        validate=validate.Length(min=1, max=MAX_NAME_LENGTH),
        metadata={"description": 'what the passkey is called in lists; default "Passkey"'},
    )


class PasskeyLoginSchema(BodySchema):
    credential = fields.Nested(AuthenticationCredentialSchema, required=True)


# The stored passkeys, as their owner sees them.


class PasskeySchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    created_at = Timestamp(required=True, data_key="createdAt")
    last_used_at = Timestamp(required=True, allow_none=True, data_key="lastUsedAt")


class PasskeyListSchema(Schema):
    passkeys = fields.List(fields.Nested(PasskeySchema), required=True)
