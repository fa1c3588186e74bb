"""The second factor's bodies: codes in, secrets and recovery codes out.

Each code field checks its format before any service sees it, and states that format as
the pattern of the OpenAPI document: a TOTP code is six ASCII digits (not `١٢٣٤٥٦`, which
Python's `\\d` would take), a recovery code sixteen base32 characters, as handed out in
groups of four, with or without the dashes. Python's `fullmatch` is used, so that a final
newline does not slip past a `$`.
"""

import re
from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.mfa import recovery_codes
from app.schemas.fields import Text
from app.schemas.requests import MAX_TOKEN_LENGTH, BodySchema

TOTP_CODE = "[0-9]{6}"
RECOVERY_CODE = "(?:[A-Za-z2-7]{4}[ -]?){3}[A-Za-z2-7]{4}"
RECOVERY_CODE_MAX_LENGTH = 19  # four groups of four, with three separators


class Code(Text):
    """A string that must match `pattern` as a whole; the pattern is documented too."""

    def __init__(self, pattern: str, message: str, max_length: int, **kwargs):
        kwargs.setdefault("metadata", {}).update(pattern=f"^(?:{pattern})$", maxLength=max_length)
        super().__init__(**kwargs)
        self.regex = re.compile(pattern)
        self.message = message

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not self.regex.fullmatch(text):
            raise ValidationError(self.message)
        return text


def totp_code(**kwargs) -> Code:
    return Code(TOTP_CODE, "Must be 6 digits.", 6, **kwargs)


def recovery_code(**kwargs) -> Code:
    return Code(
        RECOVERY_CODE,
        f"Must be a recovery code ({recovery_codes.LENGTH} letters and digits 2-7).",
        RECOVERY_CODE_MAX_LENGTH,
        **kwargs,
    )


def second_factor(**kwargs) -> Code:
    """A current TOTP code or an unused recovery code, in one field."""
    return Code(
        f"{TOTP_CODE}|{RECOVERY_CODE}",
        "Must be 6 digits or a recovery code.",
        RECOVERY_CODE_MAX_LENGTH,
        **kwargs,
    )


class TotpCodeSchema(BodySchema):
    """Confirming an enrollment: a code of the new authenticator."""

    code = totp_code(required=True)


class SecondFactorSchema(BodySchema):
    """Turning MFA off or renewing the recovery codes: proof of the second factor."""

    code = second_factor(required=True)


class MfaVerifySchema(BodySchema):
    """The second step of a login: the `mfaToken` and exactly one of the two codes."""

    # Bounded as the other tokens are: a JWT given here is a 401 `invalid_token`, not a 400.
    mfa_token = Text(
        required=True,
        data_key="mfaToken",
        validate=validate.Length(min=1, max=MAX_TOKEN_LENGTH),
    )
    code = totp_code()
    recovery_code = recovery_code(data_key="recoveryCode")
    # `exactly_one` in JSON Schema's words, for the OpenAPI document (app/web/openapi.py).
    json_schema_rules: ClassVar[dict] = {
        "oneOf": [{"required": ["code"]}, {"required": ["recoveryCode"]}]
    }

    @validates_schema
    def exactly_one(self, data, **kwargs):
        if ("code" in data) == ("recovery_code" in data):
            raise ValidationError("Give either code or recoveryCode.", "_schema")


class TotpEnrollmentSchema(Schema):
    """What goes into the authenticator app; shown once."""

    secret = fields.String(required=True, metadata={"description": "base32"})
    otpauth_uri = fields.String(required=True, data_key="otpauthUri")
    qr_svg = fields.String(
        required=True, data_key="qrSvg", metadata={"description": "an SVG document"}
    )


class RecoveryCodesSchema(Schema):
    """A new set of recovery codes, each usable once; shown only in this answer."""

    recovery_codes = fields.List(
        fields.String(),
        required=True,
        data_key="recoveryCodes",
        validate=validate.Length(equal=recovery_codes.COUNT),
    )
