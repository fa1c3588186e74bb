"""The bodies and query strings the API accepts, as the views' `@blp.arguments` read them.

Unknown fields are dropped (a `role` in a registration body changes nothing). Strings must
be text that UTF-8 can carry: a lone surrogate from a JSON `\\ud800` escape is a 400 here,
not a crash in bcrypt or the database.
"""

from typing import ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app import passwords
from app.schemas.fields import CurrentPassword, Email, NewPassword, Role, StrictBoolean, Text

MAX_TOKEN_LENGTH = 4096
INT32_MAX = 2**31 - 1  # ids and page numbers fit a 32-bit SQL integer
MAX_PER_PAGE = 100


class BodySchema(Schema):
    class Meta:
        unknown = EXCLUDE


def _token() -> Text:
    """An opaque emailed token (reset, verification, email change)."""
    return Text(required=True, validate=validate.Length(min=1, max=MAX_TOKEN_LENGTH))


class CredentialsSchema(BodySchema):
    email = Email(required=True)
    password = CurrentPassword(required=True)


class RegisterSchema(BodySchema):
    email = Email(required=True)
    password = NewPassword(required=True)

    @validates_schema
    def password_differs_from_email(self, data, **kwargs):
        if "email" in data and "password" in data:
            check_password_for(data["email"], data["password"], "password")


class RefreshTokenSchema(BodySchema):
    refresh_token = Text(
        required=True,
        data_key="refreshToken",
        validate=validate.Length(min=1, max=MAX_TOKEN_LENGTH),
    )


class ChangePasswordSchema(BodySchema):
    current_password = CurrentPassword(required=True, data_key="currentPassword")
    new_password = NewPassword(required=True, data_key="newPassword")


class DeleteAccountSchema(BodySchema):
    password = CurrentPassword(required=True)


class ForgotPasswordSchema(BodySchema):
    email = Email(required=True)


class ResendVerificationSchema(ForgotPasswordSchema):
    """Without an access token, the account is named by its email."""


class ResetPasswordSchema(BodySchema):
    token = _token()
    password = NewPassword(required=True)


class VerifyEmailSchema(BodySchema):
    token = _token()


class ChangeEmailSchema(BodySchema):
    new_email = Email(required=True, data_key="newEmail")
    password = CurrentPassword(required=True)


class ConfirmEmailChangeSchema(VerifyEmailSchema):
    """The token of the link mailed to the new address."""


class UserUpdateSchema(BodySchema):
    """What an admin may change on an account; nothing else is read."""

    role = Role()
    disabled = StrictBoolean()
    # Only `false`: an admin turns a user's second factor off; only the user turns it on.
    mfa_enabled = StrictBoolean(data_key="mfaEnabled", validate=validate.Equal(False))
    # `not_empty` in JSON Schema's words, for the OpenAPI document (see create_app).
    json_schema_rules: ClassVar[dict] = {
        "anyOf": [{"required": ["role"]}, {"required": ["disabled"]}, {"required": ["mfaEnabled"]}]
    }

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one of role, disabled, mfaEnabled.", "_schema")


class UserListQuery(BodySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, INT32_MAX))
    per_page = fields.Integer(
        data_key="perPage", load_default=20, validate=validate.Range(1, MAX_PER_PAGE)
    )
    email = Text(load_default=None, validate=validate.Length(max=320))


def check_password_for(email: str, password: str, field: str) -> None:
    """Refuse a new password that the policy forbids for the account of `email` (a 400
    `validation_error` naming `field`); what a field alone cannot know, like the email."""
    errors = passwords.policy_errors(password, email)
    if errors:
        raise ValidationError({field: errors})


class IntrospectionRequestSchema(BodySchema):
    """RFC 7662's form: whatever the token is, a string is a question with an answer
    (`active: false` for anything not an access token we accept), never a 400."""

    token = fields.String(required=True)
    token_type_hint = fields.String(
        metadata={"description": "Ignored: only access tokens are ever active"}
    )
