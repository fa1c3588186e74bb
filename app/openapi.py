"""The OpenAPI 3 document, generated from the marshmallow schemas, served at /openapi.json.

Every route of the app is listed in OPERATIONS (a test checks that none is missing), with
its request schema, its success response and the errors it can answer.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Blueprint, current_app

from app import schemas

bp = Blueprint("openapi", __name__)

ERROR_DESCRIPTIONS = {
    400: "Invalid JSON or a validation error (see `details`)",
    401: "Missing, invalid, expired or revoked token, or wrong credentials",
    403: "Account disabled, or the role is missing",
    404: "Not found",
    409: "Conflict",
    413: "Body larger than MAX_CONTENT_LENGTH",
    415: "Body is not JSON",
    429: "Rate limited; see Retry-After",
    503: "Database unreachable",
}
BODY_ERRORS = (400, 413, 415, 503)


def operation(
    tag: str,
    summary: str,
    *,
    body=None,
    status: int = 200,
    response=None,
    errors: tuple[int, ...] = (),
    bearer: bool = False,
    query=None,
    path_parameter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation object: request body, success response, error responses, security."""
    ok: dict[str, Any] = {"description": summary}
    if response is not None:
        ok["content"] = {"application/json": {"schema": response}}
    spec: dict[str, Any] = {
        "tags": [tag],
        "summary": summary,
        "responses": {str(status): ok},
        "security": [{"bearerAuth": []}] if bearer else [],
    }
    if body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        errors = BODY_ERRORS + errors
    parameters = []
    if query is not None:
        parameters.append({"in": "query", "schema": query})
        errors = (400, *errors)
    if path_parameter is not None:
        parameters.append({"in": "path", "required": True, **path_parameter})
        errors = (404, *errors)
    if parameters:
        spec["parameters"] = parameters
    if bearer:
        errors = (401, 403, 503, *errors)
    for code in sorted(set(errors)):
        spec["responses"][str(code)] = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": schemas.ErrorSchema}},
        }
    return spec


OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/auth/register": {
        "post": operation(
            "auth",
            "Create an account",
            body=schemas.RegisterSchema,
            status=201,
            response=schemas.UserCreatedSchema,
            errors=(409, 429),
        )
    },
    "/auth/login": {
        "post": operation(
            "auth",
            "Log in: open a session and get a token pair",
            body=schemas.CredentialsSchema,
            response=schemas.TokenPairSchema,
            errors=(401, 403, 429),
        )
    },
    "/auth/refresh": {
        "post": operation(
            "auth",
            "Spend a refresh token for the session's next token pair",
            body=schemas.RefreshTokenSchema,
            response=schemas.TokenPairSchema,
            errors=(401, 403, 429),
        )
    },
    "/auth/logout": {
        "post": operation(
            "auth",
            "End the session of a refresh token (idempotent)",
            body=schemas.RefreshTokenSchema,
            status=204,
            errors=(401,),
        )
    },
    "/auth/logout-all": {
        "post": operation("auth", "End every session of the caller", status=204, bearer=True)
    },
    "/auth/verify-email": {
        "post": operation(
            "auth",
            "Spend a verification token: the address is verified",
            body=schemas.VerifyEmailSchema,
            response=schemas.MessageSchema,
        )
    },
    "/auth/resend-verification": {
        "post": {
            **operation(
                "auth",
                "Mail a new verification link (to the caller, or to `email` without a token)",
                body=schemas.ResendVerificationSchema,
                status=202,
                response=schemas.MessageSchema,
                errors=(401, 403, 429),
            ),
            # Either signed in, or anonymous with the email in the body.
            "security": [{"bearerAuth": []}, {}],
        }
    },
    "/me": {
        "get": operation(
            "account", "The caller's account", response=schemas.AccountSchema, bearer=True
        ),
        "delete": operation(
            "account",
            "Delete the caller's account (password required)",
            body=schemas.DeleteAccountSchema,
            status=204,
            bearer=True,
            errors=(429,),
        ),
    },
    "/me/password": {
        "post": operation(
            "account",
            "Change the password: every session ends, the caller gets a new pair",
            body=schemas.ChangePasswordSchema,
            response=schemas.TokenPairSchema,
            bearer=True,
            errors=(429,),
        )
    },
    "/me/sessions": {
        "get": operation(
            "account",
            "The caller's live sessions, newest first",
            response=schemas.SessionListSchema,
            bearer=True,
        )
    },
    "/me/sessions/{session_id}": {
        "delete": operation(
            "account",
            "End one of the caller's sessions",
            status=204,
            bearer=True,
            path_parameter={"name": "session_id", "schema": {"type": "string"}},
        )
    },
    "/admin/users": {
        "get": operation(
            "admin",
            "List accounts, a page at a time, optionally by email prefix",
            query=schemas.UserListQuery,
            response=schemas.UserPageSchema,
            bearer=True,
        )
    },
    "/admin/users/{user_id}": {
        "patch": operation(
            "admin",
            "Change an account's role or disabled flag (not the last admin's)",
            body=schemas.UserUpdateSchema,
            response=schemas.AdminUserSchema,
            bearer=True,
            errors=(409,),
            path_parameter={"name": "user_id", "schema": {"type": "integer", "minimum": 1}},
        )
    },
    "/auth/forgot-password": {
        "post": operation(
            "reset",
            "Email a reset link if the account exists (same answer either way)",
            body=schemas.ForgotPasswordSchema,
            response=schemas.MessageSchema,
            errors=(429,),
        )
    },
    "/auth/reset-password": {
        "post": operation(
            "reset",
            "Set a new password with a reset token; ends every session",
            body=schemas.ResetPasswordSchema,
            response=schemas.MessageSchema,
            errors=(429,),
        )
    },
    "/healthz": {
        "get": operation(
            "meta",
            "Liveness: the process serves (the database is not checked)",
            response=schemas.HealthSchema,
        )
    },
    "/readyz": {
        "get": operation(
            "meta",
            "Readiness: the database answers; 503 service_unavailable when it does not",
            response=schemas.ReadinessSchema,
            errors=(503,),
        )
    },
    "/openapi.json": {"get": operation("meta", "This OpenAPI document")},
    "/.well-known/jwks.json": {
        "get": operation(
            "meta",
            "Public keys that verify access tokens (RS256/ES256; 404 with HS256)",
            response=schemas.JwksSchema,
            errors=(404,),
        )
    },
}


def _version() -> str:
    try:
        return version("flask-jwt-auth-service")
    except PackageNotFoundError:
        return "0.0.0"


def build_document() -> dict[str, Any]:
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title="JWT authentication service",
        version=_version(),
        openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "Register, log in, refresh, log out, reset passwords."},
    )
    marshmallow.map_to_openapi_type(schemas.Email, "string", "email")
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    # Rules across a schema's fields, which apispec cannot read from its validators.
    for schema in (schemas.UserUpdateSchema,):
        spec.components.schema(resolver(schema), schema.json_schema_rules, schema=schema)
    for path, operations in OPERATIONS.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI document (built once per process)."""
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build_document()
    return document, 200, {"Cache-Control": "public, max-age=300"}
