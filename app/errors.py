"""The one JSON error envelope of the contract, for every error the service can answer.

Views raise `APIError` (or call `abort`); they never build error JSON themselves.
"""

from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from app.tokens import TokenError

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
    answers with it too (app/api.py)."""
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

    @app.errorhandler(TokenError)
    def token_error(exc: TokenError):
        return error_response(APIError(401, exc.code, exc.message))

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


def database_unreachable(exc: Exception) -> bool:
    """Whether a database error means "gone or too slow" (503) rather than a bug (500).

    OperationalError covers refused and timed-out connections and statement timeouts;
    InterfaceError a connection closed under us; `connection_invalidated` any error that
    the dialect recognised as a lost connection; PoolTimeoutError an exhausted pool.
    """
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def driver_reason(exc: Exception) -> str:
    """The driver's message ("connection refused", "statement timeout"), never the SQL or
    its parameters, which str(exc) would include."""
    return str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
