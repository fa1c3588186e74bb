"""The one JSON error envelope of the contract, for every error the service can answer.

The core raises the exceptions of `app/exceptions.py`, which know nothing of HTTP; the
`ANSWERS` table below is the one place that gives each its status, code and headers.
Views raise those exceptions, `APIError` for what only the web layer refuses (a malformed
body, a missing cookie), or call `abort`; they never build error JSON themselves.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from app import exceptions as refused
from app.database_errors import database_unreachable, driver_reason
from app.mfa import exceptions as mfa
from app.passkeys import exceptions as passkeys

# Machine-readable codes for the HTTP errors Werkzeug raises by itself.
HTTP_CODES = {
    400: "bad_request",
    401: "missing_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    503: "service_unavailable",
}

MESSAGES = {
    404: "The requested URL was not found.",
    405: "The method is not allowed for the requested URL.",
    413: "The request body is too large.",
    414: "The request line is too long.",
    415: "The request body must be JSON (Content-Type: application/json).",
    429: "Too many requests; try again later.",
    431: "The request headers are too large.",
    500: "An unexpected error occurred.",
}


class APIError(Exception):
    """An error answer: HTTP status, contract code, message, optional details and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


REALM = 'Bearer realm="api"'


def _challenge(error: str, description: str) -> dict[str, str]:
    """RFC 6750's WWW-Authenticate header for a refused bearer token."""
    return {"WWW-Authenticate": f'{REALM}, error="{error}", error_description="{description}"'}


@dataclass(frozen=True)
class Answer:
    """How a domain exception is answered. `code` None: the exception's own `code`."""

    status: int
    code: str | None = None
    headers: Callable[[Any], dict[str, str]] = field(default=lambda exc: {})


def _roles_required(roles: tuple[str, ...]) -> str:
    if len(roles) == 1:
        return f"The {roles[0]} role is required."
    return f"One of the roles {', '.join(roles)} is required."


# Every domain exception's answer; a subclass not listed takes its nearest base's.
ANSWERS: dict[type[refused.ServiceError], Answer] = {
    refused.EmailTaken: Answer(409, "email_taken"),
    refused.LastAdmin: Answer(409, "last_admin"),
    refused.UserNotFound: Answer(404, "not_found"),
    refused.SessionNotFound: Answer(404, "not_found"),
    refused.InvalidCredentials: Answer(401, "invalid_credentials"),
    # 400, not 401: the access token is fine; a client must not take this for "signed out".
    refused.WrongPassword: Answer(400, "invalid_credentials"),
    refused.InvalidResetToken: Answer(400, "invalid_reset_token"),
    refused.InvalidVerificationToken: Answer(400, "invalid_verification_token"),
    refused.InvalidEmailChangeToken: Answer(400, "invalid_email_change_token"),
    refused.ResendTooSoon: Answer(
        429, "rate_limited", lambda exc: {"Retry-After": str(exc.retry_after)}
    ),
    refused.AccountDisabled: Answer(403, "account_disabled"),
    refused.EmailNotVerified: Answer(403, "email_unverified"),
    refused.TokenError: Answer(401),
    refused.MissingAccessToken: Answer(
        401, "missing_token", lambda exc: {"WWW-Authenticate": REALM}
    ),
    refused.InvalidAccessToken: Answer(
        401, headers=lambda exc: _challenge("invalid_token", exc.message)
    ),
    refused.InsufficientRole: Answer(
        403,
        "insufficient_role",
        lambda exc: _challenge("insufficient_scope", _roles_required(exc.roles)),
    ),
    # RFC 7662 section 2.1 and RFC 6749 section 5.2: the client asked without valid credentials.
    refused.InvalidClient: Answer(
        401, "invalid_client", lambda exc: {"WWW-Authenticate": 'Basic realm="introspect"'}
    ),
    refused.MfaRequired: Answer(
        403, "mfa_required", lambda exc: _challenge("insufficient_scope", exc.message)
    ),
    # A login challenge answered wrongly: 401. The signed-in user's own code, asked again to
    # confirm, disable or renew (WrongMfaCode): 400, as for WrongPassword.
    mfa.InvalidMfaCode: Answer(401, "invalid_mfa_code"),
    mfa.WrongMfaCode: Answer(400, "invalid_mfa_code"),
    mfa.MfaAlreadyEnabled: Answer(409, "mfa_already_enabled"),
    mfa.MfaNotEnabled: Answer(409, "mfa_not_enabled"),
    mfa.InvalidMfaToken: Answer(401, "invalid_token"),
    # The server's keys, not the user's code: the answer of any other outage.
    mfa.MfaSecretUnreadable: Answer(503, "service_unavailable"),
    # One answer whatever the reason: 400 for a registration, 401 for a login.
    passkeys.InvalidPasskey: Answer(400, "invalid_passkey"),
    passkeys.PasskeyLoginFailed: Answer(401, "invalid_passkey"),
    passkeys.PasskeyNotFound: Answer(404, "not_found"),
    passkeys.TooManyPasskeys: Answer(409, "too_many_passkeys"),
}


def _answer(exc: refused.ServiceError) -> APIError:
    answer = next(ANSWERS[kind] for kind in type(exc).__mro__ if kind in ANSWERS)
    code = answer.code or exc.code
    return APIError(answer.status, code, exc.message, headers=answer.headers(exc))


def error_response(error: APIError):
    body: dict[str, Any] = {"error": error.message, "code": error.code}
    if error.details is not None:
        body["details"] = error.details
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def from_http_exception(exc: HTTPException):
    """A Werkzeug HTTP error (404, 405, 413...) in the envelope; flask-smorest's `Api`
    answers with it too (app/web/api.py)."""
    status = exc.code or 500
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    message = MESSAGES.get(status) or exc.description or exc.name
    code = HTTP_CODES.get(status, exc.name.lower().replace(" ", "_"))
    return error_response(APIError(status, code, message, headers=headers))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(APIError, error_response)
    app.register_error_handler(HTTPException, from_http_exception)

    @app.errorhandler(refused.ServiceError)
    def service_error(exc: refused.ServiceError):
        answer = _answer(exc)
        if answer.status >= 500:
            # The server's fault: the operator reads why (the docstring's first line).
            app.logger.error("%s: %s", type(exc).__name__, (type(exc).__doc__ or "").split("\n")[0])
        return error_response(answer)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(
            APIError(400, "validation_error", "The request body is invalid.", details)
        )

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)
    def database_error(exc):
        if not database_unreachable(exc):
            # DBAPIError.__str__ can include SQL parameters, so only its type is logged.
            app.logger.error("unexpected database error: %s", type(exc).__name__)
            return error_response(APIError(500, "internal_error", MESSAGES[500]))
        app.logger.error("database unavailable: %s", driver_reason(exc))
        return error_response(
            APIError(
                503,
                "service_unavailable",
                "The service is temporarily unavailable.",
                headers={"Retry-After": "5"},
            )
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unexpected error")
        return error_response(APIError(500, "internal_error", MESSAGES[500]))
