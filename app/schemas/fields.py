"""Field types of the API: what a string, an email, a password or a time means here.

Each field validates (or formats) and tells the OpenAPI document what it enforces, so
that the document and the service agree (tests/test_openapi.py, tests/test_fuzz.py).
"""

from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from marshmallow import ValidationError, fields, validate

from app import passwords
from app.config import ROLE_NAME_PATTERN

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


class Role(Text):
    """One of the app's configured ROLES, read when a request is validated: the set is
    configuration, so the document gives the names' pattern, not a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).update(
            pattern=ROLE_NAME_PATTERN,
            description="one of the roles in the service's ROLES setting (by default user, admin)",
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        role = super()._deserialize(value, attr, data, **kwargs)
        roles = current_app.config["ROLES"]
        if role not in roles:
            raise ValidationError(f"Must be one of: {', '.join(roles)}.")
        return role


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


class Timestamp(fields.DateTime):
    """A stored UTC time as the API shows it: ISO 8601 with a `Z`."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.isoformat().replace("+00:00", "Z")
