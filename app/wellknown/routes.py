"""Public documents other services fetch: the JWKS that verifies our access tokens, and the
discovery document that says where it is and what the tokens' issuer is."""

import hashlib
import json

from flask import abort, current_app, jsonify, request

from app.keys import current_keys
from app.schemas.responses import DiscoverySchema, JwksSchema
from app.web.api import Blueprint

bp = Blueprint("wellknown", __name__, description="Documents for other services (RFC 8615)")


def _cacheable(document: dict, etag: str):
    """`document` as a public answer, cached for JWT_JWKS_MAX_AGE, 304 to a verifier whose
    copy is current. Not make_conditional(): it sets a Date header, which the server
    (gunicorn, werkzeug) then sends a second time with its own, and it would answer Range
    or If-Match with 206 or 412 of its own."""
    response = jsonify(document)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["JWT_JWKS_MAX_AGE"]
    if request.if_none_match.contains_weak(etag):
        response.status_code = 304
    return response


@bp.get("/jwks.json")
@bp.response(200, JwksSchema)
@bp.errors(404)
def jwks():
    """Publish the public keys that verify our access tokens (RFC 7517); 404 with HS256."""
    keyset = current_keys()
    if keyset is None:
        abort(404)
    return _cacheable(keyset.jwks, keyset.etag)


@bp.get("/openid-configuration")
@bp.response(200, DiscoverySchema)
def discovery():
    """Where resource servers find the tokens' issuer, their keys and introspection
    (OpenID Connect Discovery 1.0, RFC 8414): only what is true here, so no `jwks_uri`
    with HS256 (nothing public verifies those tokens) and nothing of ID tokens or OAuth
    authorization, which the service does not do."""
    config = current_app.config
    base = config["PUBLIC_URL"]
    document = {"issuer": config["JWT_ISSUER"]}
    if current_keys() is not None:
        document["jwks_uri"] = f"{base}/.well-known/jwks.json"
    document["introspection_endpoint"] = f"{base}/auth/introspect"
    document["introspection_endpoint_auth_methods_supported"] = ["client_secret_basic"]
    etag = hashlib.sha256(json.dumps(document).encode()).hexdigest()[:32]
    return _cacheable(document, etag)
