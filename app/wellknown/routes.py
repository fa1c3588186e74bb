"""Public documents other services fetch: the JWKS that verifies our access tokens."""

from flask import abort, current_app, jsonify, request

from app.keys import current_keys
from app.schemas.responses import JwksSchema
from app.web.api import Blueprint

bp = Blueprint("wellknown", __name__, description="Documents for other services (RFC 8615)")


@bp.get("/jwks.json")
@bp.response(200, JwksSchema)
@bp.errors(404)
def jwks():
    """Publish the public keys that verify our access tokens (RFC 7517); 404 with HS256."""
    keyset = current_keys()
    if keyset is None:
        abort(404)
    response = jsonify(keyset.jwks)
    response.set_etag(keyset.etag)
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["JWT_JWKS_MAX_AGE"]
    # A verifier whose copy is current gets a 304 without the body. Not make_conditional():
    # it sets a Date header, which the server (gunicorn, werkzeug) then sends a second
    # time with its own, and it would answer Range or If-Match with 206 or 412 of its own.
    if request.if_none_match.contains_weak(keyset.etag):
        response.status_code = 304
    return response
