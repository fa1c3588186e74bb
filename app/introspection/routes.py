"""POST /auth/introspect: other services ask whether an access token is good right now.

A JWT verified with our JWKS stays valid until it expires, even after a logout; a service
for which that is too long asks here, and gets the guard's own answer (the session live,
the user enabled and of the token's role). The RFC's conventions, not the API's: a form
body, snake_case fields, HTTP Basic client authentication, and `{"active": false}` with
nothing else for any token that is not accepted, whatever the reason.
"""

from functools import wraps

from flask import current_app, g, request

from app.audit import audit
from app.clients import authenticate_client
from app.exceptions import AccountDisabled, InvalidClient, TokenError
from app.ratelimit import limit
from app.schemas.requests import IntrospectionRequestSchema
from app.schemas.responses import IntrospectionSchema
from app.security import accepted_access_token
from app.web.api import Blueprint

bp = Blueprint("introspection", __name__, description="Token introspection (RFC 7662)")

INACTIVE = {"active": False}


def client_required(view):
    """Admit only a caller with the Basic credentials of an INTROSPECTION_CLIENTS entry."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        name, secret = _basic_credentials()
        # Refusals count per address, and a spent budget refuses before any comparison.
        # A block, not a decorator: Flask-Limiter checks a view's decorated limits together,
        # innermost, which is after the credentials that `client_key` needs.
        with limit("RATELIMIT_INTROSPECT_FAILURES", deduct_when=_refused):
            try:
                g.client = authenticate_client(
                    name, secret, current_app.config["INTROSPECTION_CLIENTS"]
                )
            except InvalidClient:
                # The name a caller gave, cut short: never its secret.
                audit("introspection_client_refused", client=name[:64] or None)
                raise
        return view(*args, **kwargs)

    return wrapper


def _refused(response) -> bool:
    return response.status_code == 401


def _basic_credentials() -> tuple[str, str]:
    """The name and secret of `Authorization: Basic ...`; empty strings without one."""
    credentials = request.authorization
    if credentials is None or credentials.type != "basic":
        return "", ""
    return credentials.username or "", credentials.password or ""


def client_key() -> str:
    """The client `client_required` admitted: each has its own budget."""
    return f"client:{g.client}"


@bp.post("/introspect")
@bp.response(200, IntrospectionSchema)
@bp.client(429, 503)
@client_required
@limit("RATELIMIT_INTROSPECT", key_func=client_key)
@bp.arguments(IntrospectionRequestSchema, location="form")
def introspect(data):
    """Whether the token is an access token the service would accept now (RFC 7662), and
    then its claims; `{"active": false}` for anything else."""
    try:
        user, claims = accepted_access_token(data["token"])
    except (TokenError, AccountDisabled):
        return INACTIVE
    config = current_app.config
    return {
        "active": True,
        "sub": str(user.id),
        "exp": claims.expires,
        "iat": claims.issued,
        "iss": config["JWT_ISSUER"],
        "aud": config["JWT_AUDIENCE"],
        "jti": claims.jti,
        "sid": claims.session_id,
        "role": claims.role,
        "email": claims.email,
        "amr": list(claims.amr),
        "token_type": "access_token",
    }
