"""flask-smorest, set up for this API: one declaration per endpoint gives its validation,
its response body and its documentation.

- `Parser` reads bodies with `web.request_body.json_body` (415, 400 `invalid_json`) and turns
  a validation error into the contract's 400 `validation_error`.
- `Api` answers every error in the contract's envelope (app/errors.py), not the library's.
- `Blueprint` documents the errors a route can give (`errors`), who may call it
  (`bearer`), and what its body and query may hold (`arguments`).
"""

from copy import deepcopy
from functools import wraps
from typing import Any, NoReturn

import flask_smorest
from flask import g
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from app.errors import APIError, from_http_exception
from app.schemas.fields import Email
from app.schemas.responses import ErrorSchema
from app.web.request_body import json_body

ERROR_DESCRIPTIONS = {
    400: "Invalid JSON or a validation error (see `details`)",
    401: "Missing, invalid, expired or revoked token, or wrong credentials",
    403: "Account disabled, or the role is missing",
    404: "Not found",
    409: "Conflict",
    413: "Body larger than MAX_CONTENT_LENGTH",
    415: "Body is not JSON (or, where a form is documented, not a form)",
    429: "Rate limited; see Retry-After",
    503: "Database unreachable",
}
# What any route with a JSON body can answer besides its own errors.
BODY_ERRORS = (400, 413, 415)
BEARER = [{"bearerAuth": []}]
CLIENT = [{"clientBasic": []}]
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    # The services of INTROSPECTION_CLIENTS (RFC 7662 client authentication).
    "clientBasic": {"type": "http", "scheme": "basic"},
}
INVALID = {
    "json": "The request body is invalid.",
    "form": "The request body is invalid.",
    "query": "The query string is invalid.",
}
FORM = "application/x-www-form-urlencoded"


class Parser(FlaskParser):
    """webargs, reading and refusing bodies as the contract says."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req) -> Any:
        """Not webargs' reader, which takes a non-JSON body for an empty one (no 415)."""
        return json_body()

    def load_form(self, req, schema) -> Any:
        """Only an urlencoded form (RFC 7662's body); JSON or multipart is a 415."""
        if req.mimetype != FORM:
            raise APIError(415, "unsupported_media_type", f"The request body must be {FORM}.")
        return super().load_form(req, schema)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers) -> NoReturn:
        """webargs nests the messages under the location (`{"json": {...}}`); the
        contract's `details` are the fields' messages themselves."""
        ((location, messages),) = error.messages.items()
        if not isinstance(messages, dict):
            messages = {"_schema": messages}
        raise APIError(400, "validation_error", INVALID[location], flat_details(messages))


def flat_details(messages: dict, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's messages with those of nested objects and lists under dotted names
    (`credential.response.clientDataJSON`, `transports.0`): the contract's `details` map a
    field to a list of messages."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_details(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, list) else [value]
    return flat


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema
    # Every error status a route can give is listed on it; no catch-all `default`.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.register_field(Email, "string", "email")

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HTTPException, self.handle_http_exception)

    def handle_http_exception(self, error: HTTPException):
        return from_http_exception(error)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(_no_security_by_default)

    def arguments(self, schema, *, location: str = "json", **kwargs):
        """Validate the body (or the query string) with `schema` before the view, which
        gets the result as its first argument. A body is also kept as `g.body`, where the
        key function of a rate limit below this decorator reads it (`ratelimit.account_key`):
        put this decorator above such a limit, and no malformed body counts an attempt."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location == "query":
            return lambda view: self.errors(400)(parse(view))
        if location == "form":
            return lambda view: self.errors(*BODY_ERRORS)(parse(view))

        def decorate(view):
            @wraps(view)
            def keep(data, *args, **kwargs):
                g.body = data
                return view(data, *args, **kwargs)

            return self.errors(*BODY_ERRORS)(parse(keep))

        return decorate

    def optional_body(self, schema):
        """Document a JSON body that the view reads itself, because its value may come
        elsewhere instead: the refresh token in its cookie (app/web/cookies.py)."""

        def decorate(view):
            view._apidoc = deepcopy(getattr(view, "_apidoc", {}))
            arguments = view._apidoc.setdefault("arguments", {})
            body = {"in": "json", "required": False, "schema": schema}
            arguments.setdefault("parameters", []).append(body)
            return self.errors(*BODY_ERRORS)(view)

        return decorate

    def errors(self, *statuses: int):
        """Document error answers (the contract's envelope) with these statuses."""

        def decorate(view):
            for status in statuses:
                describe = self.alt_response(
                    status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status]
                )
                view = _documented(describe, view)
            return view

        return decorate

    def bearer(self, *statuses: int, optional: bool = False):
        """Document that the route takes an access token (with `optional`, or none), and
        the errors of the guard: 401, 403, and 503 when the database is unreachable."""
        security = [*BEARER, {}] if optional else BEARER

        def decorate(view):
            view = _documented(self.doc(security=security), view)
            return self.errors(401, 403, 503, *statuses)(view)

        return decorate

    def client(self, *statuses: int):
        """Document that the route takes a client's HTTP Basic credentials, and its 401."""

        def decorate(view):
            view = _documented(self.doc(security=CLIENT), view)
            return self.errors(401, *statuses)(view)

        return decorate


def _documented(describe, view):
    """`view` with the documentation `describe` adds, without the pass-through wrapper that
    flask-smorest's `doc` and `alt_response` put around it: a call less per request."""
    view._apidoc = describe(view)._apidoc
    return view


def _no_security_by_default(doc: dict, doc_info: dict, **kwargs) -> dict:
    """A route that does not say `bearer` takes no token: `security: []` in the document."""
    doc.setdefault("security", [])
    return doc
