"""GET /openapi.json: the OpenAPI 3 document flask-smorest builds from the views' own
declarations (`@bp.arguments`, `@bp.response`, `@bp.errors`, `@bp.bearer`).

A test fails when a route is missing from it (tests/test_openapi.py); a fuzz run checks
the live service against it (tests/test_fuzz.py).
"""

from importlib.metadata import PackageNotFoundError, version

from flask import Flask, current_app

from app.schemas.mfa import MfaVerifySchema
from app.schemas.requests import UserUpdateSchema
from app.schemas.responses import MfaChallengeSchema, TokenPairSchema
from app.web.api import SECURITY_SCHEMES, Api, Blueprint


def _version() -> str:
    try:
        return version("flask-jwt-auth-service")
    except PackageNotFoundError:
        return "0.0.0"


# Created unbound like the extensions; every blueprint registers through it (app/__init__.py).
api = Api(
    spec_kwargs={
        "title": "JWT authentication service",
        "version": _version(),
        "openapi_version": "3.0.3",
        "info": {"description": "Register, log in, refresh, log out, reset passwords."},
    }
)
bp = Blueprint("openapi", __name__, description="This document")


def init_app(app: Flask) -> None:
    """Bind the `Api` to the app, with what its views' decorators cannot say themselves."""
    api.init_app(app)
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    # The two shapes of the login answer (LOGIN_ANSWER), named before any view refers to them.
    api.spec.components.schema("TokenPair", schema=TokenPairSchema)
    api.spec.components.schema("MfaChallenge", schema=MfaChallengeSchema)
    # Rules across a schema's fields, which apispec cannot read from its validators.
    api.spec.components.schema(
        "UserUpdate", UserUpdateSchema.json_schema_rules, schema=UserUpdateSchema
    )
    api.spec.components.schema(
        "MfaVerify", MfaVerifySchema.json_schema_rules, schema=MfaVerifySchema
    )


def freeze(app: Flask) -> None:
    """Build the document once, when every blueprint is registered; each operation's
    answers in the order of their status (the decorators add the errors first)."""
    document = api.spec.to_dict()
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if "responses" in operation:
                operation["responses"] = dict(sorted(operation["responses"].items()))
    app.extensions["openapi"] = document


@bp.get("/openapi.json")
@bp.response(200, description="This OpenAPI document")
def openapi_document():
    """Serve this OpenAPI document."""
    return current_app.extensions["openapi"], 200, {"Cache-Control": "public, max-age=300"}
