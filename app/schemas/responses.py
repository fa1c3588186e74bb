"""The bodies the API answers with: each view's `@blp.response` dumps its object with one
of these, and the same schema describes the answer in the OpenAPI document.

Keys are camelCase (`data_key`), times are ISO 8601 UTC with a `Z` (`Timestamp`), and an
absent optional value (a session's `userAgent`) is `null`.
"""

from marshmallow import Schema, fields, validate

from app.schemas.fields import Timestamp
from app.security import current_session_id


class ErrorSchema(Schema):
    """The contract's error envelope (app/errors.py)."""

    error = fields.String(required=True)
    code = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class UserCreatedSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)


class AccountSchema(Schema):
    """An account as its owner sees it (never the hash)."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    email_verified = fields.Boolean(required=True, data_key="emailVerified")
    mfa_enabled = fields.Boolean(required=True, data_key="mfaEnabled")
    created_at = Timestamp(required=True, data_key="createdAt")


class TokenPairSchema(Schema):
    access_token = fields.String(required=True, data_key="accessToken")
    refresh_token = fields.String(
        data_key="refreshToken", metadata={"description": "Absent in cookie mode"}
    )
    token_type = fields.Constant(
        "Bearer", required=True, data_key="tokenType", metadata={"type": "string"}
    )
    expires_in = fields.Integer(required=True, data_key="expiresIn")
    csrf_token = fields.String(
        data_key="csrfToken", metadata={"description": "Cookie mode only: send as X-CSRF-Token"}
    )


class MfaChallengeSchema(Schema):
    """The login answer for a user with a second factor: no token pair yet, a single-use
    `mfaToken` to trade with a code at /auth/mfa/verify."""

    mfa_required = fields.Constant(
        True, required=True, data_key="mfaRequired", metadata={"type": "boolean"}
    )
    mfa_token = fields.String(required=True, data_key="mfaToken")
    expires_in = fields.Integer(required=True, data_key="expiresIn")


# /auth/login answers one or the other (app/web/openapi.py registers both components).
LOGIN_ANSWER = {
    "oneOf": [
        {"$ref": "#/components/schemas/TokenPair"},
        {"$ref": "#/components/schemas/MfaChallenge"},
    ]
}


class SessionSchema(Schema):
    """A `LoginSession`; `current` marks the session of the access token of this request."""

    id = fields.String(required=True)
    created_at = Timestamp(required=True, data_key="createdAt")
    last_used_at = Timestamp(required=True, data_key="lastUsedAt")
    user_agent = fields.String(required=True, allow_none=True, data_key="userAgent")
    ip = fields.String(required=True, allow_none=True)
    # The guard (app/security.py) names the request's session.
    current = fields.Function(
        lambda session: session.id == current_session_id(),
        required=True,
        metadata={"type": "boolean"},
    )


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


class DiscoverySchema(Schema):
    """The fields of OpenID Connect Discovery 1.0 / RFC 8414 that are true of this service."""

    issuer = fields.String(required=True, metadata={"description": "Exactly the tokens' iss"})
    jwks_uri = fields.String(metadata={"description": "Only with JWT_ALGORITHM RS256 or ES256"})
    introspection_endpoint = fields.String(required=True)
    introspection_endpoint_auth_methods_supported = fields.List(fields.String(), required=True)


class IntrospectionSchema(Schema):
    """RFC 7662's answer: `active: false` alone, or the claims of an accepted access token."""

    active = fields.Boolean(required=True)
    sub = fields.String()
    exp = fields.Integer()
    iat = fields.Integer()
    iss = fields.String()
    aud = fields.String()
    jti = fields.String()
    sid = fields.String()
    role = fields.String()
    email = fields.String()
    amr = fields.List(fields.String())
    token_type = fields.String(validate=validate.OneOf(["access_token"]))
