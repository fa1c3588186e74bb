"""marshmallow schemas for request bodies, and `load_body`, which every view uses to read one.

Unknown fields are dropped (a `role` in a registration body changes nothing). Strings must
be text that UTF-8 can carry: a lone surrogate from a JSON `\\ud800` escape is a 400 here,
not a crash in bcrypt or the database.
"""

import json
from functools import wraps
from typing import Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from flask import g, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app import passwords
from app.errors import APIError
from app.models import ROLES

MAX_TOKEN_LENGTH = 4096
INT32_MAX = 2**31 - 1  # ids and page numbers fit a 32-bit SQL integer
MAX_PER_PAGE = 100


# What Text enforces, as a JSON Schema pattern for the OpenAPI document.
NO_NUL_PATTERN = "^[^\\u0000]*$"


class Text(fields.String):
    """A string that is valid Unicode text without NUL characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("pattern", NO_NUL_PATTERN)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Must be valid Unicode text.") from None
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


def normalise_email(text: str) -> str:
    """The stored form of an address: validated, normalised, lower case; or ValueError."""
    if len(text) > 320:
        raise ValueError("too long")
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


class Email(Text):
    """An email address, normalised and lower-cased so that comparisons ignore case."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_email(text)
        except ValueError as exc:
            raise ValidationError(f"Not a valid email address: {exc}") from None


class StrictBoolean(fields.Boolean):
    """A JSON `true` or `false`; not 1, "yes" or "true" as marshmallow's Boolean allows."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class NewPassword(Text):
    """A password being set: it must meet the policy in `app.passwords`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(
            minLength=passwords.MIN_LENGTH,
            description="8+ characters, at most 72 bytes in UTF-8, not a common password, "
            "not the email address",
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        password = super()._deserialize(value, attr, data, **kwargs)
        errors = passwords.policy_errors(password)
        if errors:
            raise ValidationError(errors)
        return password


class CurrentPassword(Text):
    """A password to check against the stored hash: not empty, within bcrypt's 72 bytes."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        password = super()._deserialize(value, attr, data, **kwargs)
        if len(password.encode("utf-8")) > passwords.MAX_BYTES:
            raise ValidationError(f"Password must be at most {passwords.MAX_BYTES} bytes in UTF-8.")
        return password


class BodySchema(Schema):
    class Meta:
        unknown = EXCLUDE


def _token() -> Text:
    """An opaque emailed token (reset, verification)."""
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


class UserUpdateSchema(BodySchema):
    """What an admin may change on an account; nothing else is read."""

    role = Text(validate=validate.OneOf(ROLES))
    disabled = StrictBoolean()
    # Only `false`: an admin turns a user's second factor off; only the user turns it on.
    mfa_enabled = StrictBoolean(data_key="mfaEnabled", validate=validate.Equal(False))
    # `not_empty` in JSON Schema's words, for the OpenAPI document (app/openapi.py).
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


def load_query(schema: Schema) -> dict[str, Any]:
    """Validate the query string with `schema` (the first value of a repeated parameter)."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise APIError(
            400, "validation_error", "The query string is invalid.", exc.normalized_messages()
        ) from None


def check_password_for(email: str, password: str, field: str) -> None:
    """Refuse a new password that the policy forbids for the account of `email` (a 400
    `validation_error` naming `field`); what a field alone cannot know, like the email."""
    errors = passwords.policy_errors(password, email)
    if errors:
        raise ValidationError({field: errors})


# Response bodies. The views build these dicts themselves; the schemas describe them in the
# OpenAPI document, where the fuzz tests check every response against them.


class ErrorSchema(Schema):
    error = fields.String(required=True)
    code = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class UserCreatedSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)


class AccountSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    email_verified = fields.Boolean(required=True, data_key="emailVerified")
    mfa_enabled = fields.Boolean(required=True, data_key="mfaEnabled")
    created_at = fields.DateTime(required=True, data_key="createdAt")


class TokenPairSchema(Schema):
    access_token = fields.String(required=True, data_key="accessToken")
    refresh_token = fields.String(
        data_key="refreshToken", metadata={"description": "Absent in cookie mode"}
    )
    token_type = fields.String(required=True, data_key="tokenType")
    expires_in = fields.Integer(required=True, data_key="expiresIn")
    csrf_token = fields.String(
        data_key="csrfToken", metadata={"description": "Cookie mode only: send as X-CSRF-Token"}
    )


class SessionSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True, data_key="createdAt")
    last_used_at = fields.DateTime(required=True, data_key="lastUsedAt")
    user_agent = fields.String(required=True, allow_none=True, data_key="userAgent")
    ip = fields.String(required=True, allow_none=True)
    current = fields.Boolean(required=True)


class SessionListSchema(Schema):
    sessions = fields.List(fields.Nested(SessionSchema), required=True)


class AdminUserSchema(AccountSchema):
    disabled = fields.Boolean(required=True)


class UserPageSchema(Schema):
    users = fields.List(fields.Nested(AdminUserSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True, data_key="perPage")
    total = fields.Integer(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(HealthSchema):
    database = fields.String(required=True, validate=validate.OneOf(["ok"]))


class JwksSchema(Schema):
    keys = fields.List(
        fields.Dict(), required=True, metadata={"description": "Public JWKs (RFC 7517)"}
    )


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or an APIError (415 or 400 invalid_json)."""
    if not request.is_json:
        raise APIError(
            415,
            "unsupported_media_type",
            "The request body must be JSON (Content-Type: application/json).",
        )
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise APIError(400, "invalid_json", "The request body must be a JSON object.")
    return data


def load_body(schema: Schema) -> dict[str, Any]:
    """Parse the JSON object in the request body and validate it with `schema`."""
    return schema.load(json_body())


def body(schema: Schema):
    """Load the body with `schema` before the decorators below run; the view gets it first.

    For a view whose rate limit is keyed by what the body names (`ratelimit.account_key`,
    which reads `g.body`): a malformed or oversized body is answered before any limit is
    counted, and the key is read from a checked body, so it cannot fail.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.body = load_body(schema)
            return view(g.body, *args, **kwargs)

        return wrapper

    return decorate
