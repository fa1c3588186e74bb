"""A resource server that accepts the auth service's access tokens, in one file.

It knows only the auth service's URL. Discovery gives it the issuer and the JWKS URL, the
JWKS the public keys (RS256/ES256), and every request is verified locally: signature,
`typ`, `iss`, `aud`, `exp`. That costs no call to the auth service, but a token stays good
here until it expires, even after its user logged out. `POST /payments` cannot accept that,
so it also asks the auth service's introspection endpoint whether the token is active now.

Settings (environment):
  AUTH_SERVICE_URL        the auth service's PUBLIC_URL, e.g. https://auth.example.com
  AUTH_AUDIENCE           its JWT_AUDIENCE (default flask-jwt-auth-service)
  INTROSPECTION_CLIENT    this service's name:secret in its INTROSPECTION_CLIENTS

Run: flask --app app run --port 5001, or gunicorn app:app.
"""

import base64
import json
import os
import urllib.parse
import urllib.request
from functools import cache, wraps

import jwt
from flask import Flask, abort, g, jsonify, request

AUTH_SERVICE_URL = os.environ.get("AUTH_SERVICE_URL", "http://localhost:5000").rstrip("/")
AUDIENCE = os.environ.get("AUTH_AUDIENCE", "flask-jwt-auth-service")
INTROSPECTION_CLIENT = os.environ.get("INTROSPECTION_CLIENT", "")
ALGORITHMS = ["ES256", "RS256"]  # asymmetric only: never HS256 with a public key
TIMEOUT = 5
if not AUTH_SERVICE_URL.startswith(("https://", "http://")):
    # The URLs opened below come from it or from its discovery document: http(s) only.
    raise RuntimeError("AUTH_SERVICE_URL must be an http(s) URL")

app = Flask(__name__)


@cache
def discovery() -> dict:
    """The auth service's discovery document, fetched once per process."""
    url = f"{AUTH_SERVICE_URL}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (http(s))
        return json.load(response)


@cache
def jwks_client() -> jwt.PyJWKClient:
    """Caches the key set 5 minutes; a token with an unknown kid makes it fetch again,
    which is how it learns a rotated key."""
    return jwt.PyJWKClient(discovery()["jwks_uri"], lifespan=300, timeout=TIMEOUT)


def verify(token: str) -> dict:
    """The claims of a valid access token; raise jwt.PyJWTError otherwise."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    key = jwks_client().get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=ALGORITHMS,
        issuer=discovery()["issuer"],
        audience=AUDIENCE,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )


def introspect(token: str) -> dict:
    """The auth service's RFC 7662 answer: {"active": false} once the session has ended."""
    data = urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode()
    credentials = base64.b64encode(INTROSPECTION_CLIENT.encode()).decode()
    endpoint = discovery()["introspection_endpoint"]
    if not endpoint.startswith(AUTH_SERVICE_URL + "/"):
        raise RuntimeError("the introspection endpoint is not on AUTH_SERVICE_URL")
    call = urllib.request.Request(  # noqa: S310 (on AUTH_SERVICE_URL, checked above)
        endpoint,
        data=data,
        headers={"Authorization": f"Basic {credentials}"},
    )
    with urllib.request.urlopen(call, timeout=TIMEOUT) as response:  # noqa: S310
        return json.load(response)


def bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        abort(401)
    return token.strip()


def token_required(*, introspected: bool = False):
    """Admit a request whose bearer token verifies; with `introspected`, only while the
    auth service still says it is active."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            try:
                g.claims = verify(token)
            except jwt.PyJWTError:
                abort(401)
            if introspected and not introspect(token)["active"]:
                abort(401)
            return view(*args, **kwargs)

        return wrapper

    return decorate


@app.errorhandler(401)
def unauthorized(error):
    response = jsonify(error="unauthorized")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="example"'
    return response


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/hello")
@token_required()
def hello():
    """Verified locally: keeps working until the token expires."""
    return {"hello": g.claims["email"], "sub": g.claims["sub"]}


@app.post("/payments")
@token_required(introspected=True)
def pay():
    """Checked with the auth service too: refused as soon as the session ends."""
    return {"paid": True, "by": g.claims["sub"]}
