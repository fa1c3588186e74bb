"""GET /.well-known/jwks.json, and another service verifying our tokens with it alone."""

import json
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

from tests.live import call
from tests.support import PASSWORD, free_port, key_config

ROOT = Path(__file__).resolve().parents[1]
JWKS = "/.well-known/jwks.json"
RSA_MEMBERS = {"kty", "use", "alg", "kid", "n", "e"}
EC_MEMBERS = {"kty", "use", "alg", "kid", "crv", "x", "y"}


@pytest.fixture
def app_config(key_files):
    return key_config("RS256", key_files["a"], key_files["b"])


def public_numbers(key_file: str):
    private_key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
    return private_key.public_key().public_numbers()


def test_jwks_publishes_every_configured_key_signer_first(app, client, key_files):
    response = client.get(JWKS)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    published = response.json["keys"]
    keyset = app.extensions["jwt_keys"]
    assert [jwk["kid"] for jwk in published] == [keyset.keys[0].kid, keyset.keys[1].kid]
    for jwk, key_file in zip(published, (key_files["a"], key_files["b"]), strict=True):
        assert set(jwk) == RSA_MEMBERS  # never d, p, q, dp, dq, qi
        assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")
        assert jwt.PyJWK(jwk).key.public_numbers() == public_numbers(key_file)


@pytest.mark.parametrize("app_config", [{}])
def test_jwks_is_not_found_with_hs256(client):
    response = client.get(JWKS)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert response.headers["Cache-Control"] == "no-store"


def test_es256_keys_are_published_as_p256_points(deploy, key_files):
    ec_app = deploy(**key_config("ES256", key_files["ec"]))
    (jwk,) = ec_app.test_client().get(JWKS).json["keys"]
    assert set(jwk) == EC_MEMBERS
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert jwt.PyJWK(jwk).key.public_numbers() == public_numbers(key_files["ec"])


def test_jwks_may_be_cached_while_everything_else_may_not(client, auth):
    response = client.get(JWKS)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert "Pragma" not in response.headers
    tokens = auth.signup()
    body = {"email": "user@example.com", "password": PASSWORD}
    assert client.post("/auth/login", json=body).headers["Cache-Control"] == "no-store"
    assert client.get("/me", headers=auth.headers(tokens)).headers["Cache-Control"] == "no-store"
    assert client.get("/nowhere").headers["Cache-Control"] == "no-store"


def test_jwks_max_age_is_configurable(deploy, key_files):
    redeployed = deploy(**key_config("RS256", key_files["a"]), JWT_JWKS_MAX_AGE=60)
    assert redeployed.test_client().get(JWKS).headers["Cache-Control"] == "public, max-age=60"


def test_jwks_answers_304_to_a_matching_etag(client):
    first = client.get(JWKS)
    etag = first.headers["ETag"]
    again = client.get(JWKS, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Cache-Control"] == "public, max-age=300"
    assert client.get(JWKS, headers={"If-None-Match": '"other"'}).status_code == 200


def test_etag_changes_with_the_published_keys(deploy, client, key_files):
    """A cache that revalidates after a rotation gets the new set, not a 304."""
    rotated = deploy(**key_config("RS256", key_files["b"]))
    etag = client.get(JWKS).headers["ETag"]
    response = rotated.test_client().get(JWKS, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert [jwk["kid"] for jwk in response.json["keys"]] == [
        rotated.extensions["jwt_keys"].signer.kid
    ]


def test_jwks_over_a_real_server_has_one_date_header(app):
    with serving(app) as base:
        status, headers, _ = call(base, "GET", JWKS)
        revalidated = call(base, "GET", JWKS, headers={"If-None-Match": headers["ETag"]})

    assert (status, len(headers.get_all("Date"))) == (200, 1)
    assert (revalidated[0], len(revalidated[1].get_all("Date"))) == (304, 1)


def test_jwks_ignores_range_and_if_match(client):
    """A key set is served whole: no 206 of part of it, no 412 without the envelope."""
    assert client.get(JWKS, headers={"Range": "bytes=0-9"}).status_code == 200
    assert client.get(JWKS, headers={"If-Match": '"other"'}).status_code == 200
    assert client.get(JWKS, headers={"If-None-Match": "*"}).status_code == 304


# --- a downstream service that knows only the JWKS URL ------------------------------------


@contextmanager
def serving(app, port: int = 0):
    """The real app over HTTP on 127.0.0.1, on `port` or a port of its own."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_in_over_http(base: str) -> dict:
    body = {"email": "downstream@example.com", "password": PASSWORD}
    post(f"{base}/auth/register", body)
    return post(f"{base}/auth/login", body)


def documented_verifier(base: str, algorithm: str = "RS256"):
    """docs/keys.md's downstream example, run as written with our address and algorithm in it."""
    page = (ROOT / "docs" / "keys.md").read_text()
    code = page.split("<!-- downstream-verifier -->", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0]
    for line, value in (("AUTH_SERVICE = ", base), ("ALGORITHM = ", algorithm)):
        original = next(text for text in code.splitlines() if text.startswith(line))
        code = code.replace(original, f'{line}"{value}"')
    namespace: dict = {}
    exec(compile(code, "docs/keys.md", "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace["verify_access_token"]


@pytest.fixture
def no_proxy(monkeypatch):
    """Requests to 127.0.0.1 go direct, whatever proxy the machine has configured."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("algorithm", "key"), [("RS256", "a"), ("ES256", "ec")])
def test_downstream_service_verifies_our_tokens_with_the_jwks_url_only(
    deploy, key_files, no_proxy, algorithm, key
):
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    live = deploy(PUBLIC_URL=public_url, **key_config(algorithm, key_files[key]))
    with serving(live, port) as base:
        tokens = log_in_over_http(base)
        verify_access_token = documented_verifier(base, algorithm)
        claims = verify_access_token(tokens["accessToken"])
        assert claims["sub"] == "1"
        assert claims["email"] == "downstream@example.com"
        # JWT_ISSUER is PUBLIC_URL unless set; the audience keeps its own default.
        assert (claims["iss"], claims["aud"]) == (public_url, "flask-jwt-auth-service")
        with pytest.raises(jwt.PyJWTError):
            verify_access_token(tokens["refreshToken"])


def test_downstream_service_refuses_a_token_we_did_not_sign(app, key_files, no_proxy):
    with serving(app) as base:
        tokens = log_in_over_http(base)
        verify_access_token = documented_verifier(base)
        header = jwt.get_unverified_header(tokens["accessToken"])
        claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
        attacker = rsa.generate_private_key(65537, 2048)
        forged = jwt.encode(claims, attacker, "RS256", headers=header)
        with pytest.raises(jwt.InvalidSignatureError):
            verify_access_token(forged)


@pytest.mark.parametrize(
    ("setting", "error"),
    [("JWT_AUDIENCE", jwt.InvalidAudienceError), ("JWT_ISSUER", jwt.InvalidIssuerError)],
)
def test_downstream_service_checks_audience_and_issuer(deploy, key_files, no_proxy, setting, error):
    """Tokens of an auth service set up for another API are refused by this one."""
    port = free_port()
    settings = {"PUBLIC_URL": f"http://127.0.0.1:{port}", setting: "another-api"}
    live = deploy(**key_config("RS256", key_files["a"]), **settings)
    with serving(live, port) as base:
        tokens = log_in_over_http(base)
        with pytest.raises(error):
            documented_verifier(base)(tokens["accessToken"])
