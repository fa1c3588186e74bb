"""Services that verify our tokens: discovery, the default issuer, and introspection (RFC 7662)."""

import base64
import hmac
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app import clients
from app.config import ConfigError
from app.exceptions import InvalidClient
from app.keys import thumbprint
from tests.factories import make_user, mfa_user, update_user
from tests.support import PASSWORD, assert_error, key_config, make_app, production, validated

PUBLIC_URL = "https://auth.example.com"
CLIENT, SECRET = "billing", "s3cret-of-the-billing-service-0123456789"
INACTIVE = {"active": False}


@pytest.fixture
def app_config(key_files):
    return {
        **key_config("ES256", key_files["ec"]),
        "PUBLIC_URL": PUBLIC_URL,
        "INTROSPECTION_CLIENTS": {CLIENT: SECRET, "other": "another-secret-0123456789abcdef"},
    }


def basic(name: str = CLIENT, secret: str = SECRET) -> dict:
    credentials = base64.b64encode(f"{name}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def introspect(client, token, headers=None, **form):
    response = client.post(
        "/auth/introspect",
        data={"token": token, **form},
        headers=basic() if headers is None else headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.json


def discovery(client) -> dict:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json


# --- discovery ------------------------------------------------------------------------------


def test_discovery_names_the_issuer_of_our_tokens_and_the_keys_that_verify_them(client, auth):
    document = discovery(client)
    assert document == {
        "issuer": PUBLIC_URL,
        "jwks_uri": f"{PUBLIC_URL}/.well-known/jwks.json",
        "introspection_endpoint": f"{PUBLIC_URL}/auth/introspect",
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
    }
    token = auth.signup()["accessToken"]
    jwks_path = document["jwks_uri"].removeprefix(PUBLIC_URL)
    keys = jwt.PyJWKSet.from_dict(client.get(jwks_path).json)
    key = next(key for key in keys.keys if key.key_id == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        issuer=document["issuer"],
        audience="flask-jwt-auth-service",
    )
    assert claims["iss"] == document["issuer"]


def test_discovery_is_cacheable_and_answers_304_to_a_current_copy(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    again = client.get(
        "/.well-known/openid-configuration", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.data == b""


def test_with_hs256_discovery_has_no_jwks_uri(deploy):
    live = deploy(PUBLIC_URL=PUBLIC_URL)
    document = discovery(live.test_client())
    assert "jwks_uri" not in document
    assert document["issuer"] == PUBLIC_URL
    assert document["introspection_endpoint"] == f"{PUBLIC_URL}/auth/introspect"


def test_an_explicit_issuer_is_the_one_discovery_and_tokens_carry(deploy, key_files):
    live = deploy(JWT_ISSUER="https://issuer.example.com", **key_config("ES256", key_files["ec"]))
    client = live.test_client()
    client.post("/auth/register", json={"email": "iss@example.com", "password": PASSWORD})
    token = client.post("/auth/login", json={"email": "iss@example.com", "password": PASSWORD}).json
    claims = jwt.decode(token["accessToken"], options={"verify_signature": False})
    assert claims["iss"] == discovery(client)["issuer"] == "https://issuer.example.com"


def test_the_issuer_defaults_to_the_public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://login.example.org/")
    app = make_app("sqlite://")
    assert app.config["PUBLIC_URL"] == "https://login.example.org"
    assert app.config["JWT_ISSUER"] == "https://login.example.org"


@pytest.mark.parametrize(
    "url",
    ["http://auth.example.com", "https://localhost", "https://127.0.0.1:8443", "auth.example.com"],
)
def test_production_refuses_a_public_url_users_cannot_reach_safely(url):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        validated(production(PUBLIC_URL=url))


def test_production_refuses_a_short_introspection_secret():
    with pytest.raises(ConfigError, match="INTROSPECTION_CLIENTS") as refused:
        validated(production(INTROSPECTION_CLIENTS="billing:short"))
    assert "short" not in str(refused.value)
    config = validated(production(INTROSPECTION_CLIENTS=f"{CLIENT}:{SECRET}, b:{SECRET}x"))
    assert config["INTROSPECTION_CLIENTS"] == {CLIENT: SECRET, "b": SECRET + "x"}


@pytest.mark.parametrize(
    "raw", ["hunter2hunter2", ":hunter2hunter2", "a:hunter2x,a:hunter2y", "a:hunter2+hunter2/=="]
)
def test_malformed_introspection_clients_are_refused_without_showing_them(raw):
    with pytest.raises(ConfigError, match="INTROSPECTION_CLIENTS") as refused:
        validated(production(INTROSPECTION_CLIENTS=raw))
    assert "hunter2" not in str(refused.value)


# --- introspection: what is active -------------------------------------------------------------


def test_an_accepted_access_token_is_active_with_its_claims(client, auth):
    tokens = auth.signup()
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    answer = introspect(client, tokens["accessToken"], token_type_hint="access_token")
    assert answer == {
        "active": True,
        "sub": claims["sub"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": PUBLIC_URL,
        "aud": "flask-jwt-auth-service",
        "jti": claims["jti"],
        "sid": claims["sid"],
        "role": "user",
        "email": "user@example.com",
        "amr": ["pwd"],
        "token_type": "access_token",
    }
    # Another configured client gets the same answer; the hint changes nothing.
    assert (
        introspect(client, tokens["accessToken"], basic("other", "another-secret-0123456789abcdef"))
        == answer
    )
    assert introspect(client, tokens["accessToken"], token_type_hint="refresh_token") == answer


def test_logout_makes_the_token_inactive_at_once(client, auth):
    tokens = auth.signup()
    assert introspect(client, tokens["accessToken"])["active"] is True
    client.post("/auth/logout", json={"refreshToken": tokens["refreshToken"]})
    assert introspect(client, tokens["accessToken"]) == INACTIVE


def test_logout_all_ends_every_token(client, auth):
    auth.register()
    first, second = auth.login(), auth.login()
    client.post("/auth/logout-all", headers=auth.headers(first))
    assert introspect(client, first["accessToken"]) == INACTIVE
    assert introspect(client, second["accessToken"]) == INACTIVE


def test_a_password_change_ends_the_old_tokens(client, auth):
    tokens = auth.signup()
    body = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    changed = client.post("/me/password", json=body, headers=auth.headers(tokens))
    assert changed.status_code == 200
    assert introspect(client, tokens["accessToken"]) == INACTIVE
    assert introspect(client, changed.json["accessToken"])["active"] is True


def test_a_deleted_account_has_no_active_token(client, auth):
    tokens = auth.signup()
    deleted = client.delete("/me", json={"password": PASSWORD}, headers=auth.headers(tokens))
    assert deleted.status_code == 204
    assert introspect(client, tokens["accessToken"]) == INACTIVE


@pytest.mark.parametrize("change", [{"disabled": True}, {"role": "admin"}])
def test_a_disabled_user_or_a_changed_role_is_inactive(app, client, auth, change):
    """Written straight to the database: the answer checks the user, not only the session."""
    tokens = auth.signup()
    update_user(app, **change)
    assert introspect(client, tokens["accessToken"]) == INACTIVE


def test_an_expired_token_is_inactive(deploy, key_files):
    clients = {CLIENT: SECRET}
    live = deploy(
        JWT_ACCESS_TTL=1,
        JWT_LEEWAY=0,
        INTROSPECTION_CLIENTS=clients,
        **key_config("ES256", key_files["ec"]),
    )
    client = live.test_client()
    make_user(live, "late@example.com")
    token = client.post("/auth/login", json={"email": "late@example.com", "password": PASSWORD})
    time.sleep(2.1)
    assert introspect(client, token.json["accessToken"]) == INACTIVE


def test_every_other_kind_of_token_is_inactive(app, client, auth):
    tokens = auth.signup()
    mfa_user(app, "mfa@example.com")
    mfa_token = auth.login("mfa@example.com")["mfaToken"]
    header = jwt.get_unverified_header(tokens["accessToken"])
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    attacker = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, attacker, "ES256", headers=header)
    foreign_kid = jwt.encode(
        claims, attacker, "ES256", headers={**header, "kid": thumbprint(attacker.public_key())}
    )
    unsigned = jwt.encode(claims, None, "none", headers={"typ": "at+jwt"})
    tampered = tokens["accessToken"][:-4] + (
        "AAAA" if not tokens["accessToken"].endswith("AAAA") else "BBBB"
    )
    for token in (
        tokens["refreshToken"],
        mfa_token,
        forged,
        foreign_kid,
        unsigned,
        tampered,
        "",
        "not a token",
        "a.b.c",
        "é" * 100,
    ):
        assert introspect(client, token) == INACTIVE, token


# --- introspection: who may ask, and how --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(secret="wrong"),
        basic(secret=SECRET + "x"),
        basic(name="nobody"),
        basic(name=""),
        {"Authorization": "Bearer " + SECRET},
        {"Authorization": "Basic !!!"},
    ],
    ids=["none", "wrong", "longer", "unknown", "nameless", "bearer", "garbled"],
)
def test_without_the_right_credentials_the_answer_is_invalid_client(
    client, auth, audit_log, headers
):
    token = auth.signup()["accessToken"]
    response = client.post("/auth/introspect", data={"token": token}, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="introspect"'
    refused = [line for line in audit_log if line["event"] == "introspection_client_refused"]
    assert len(refused) == 1
    assert SECRET not in "".join(audit_log.raw)
    assert token not in "".join(audit_log.raw)


def test_without_any_configured_client_every_call_is_refused(deploy, key_files):
    live = deploy(**key_config("ES256", key_files["ec"]))
    response = live.test_client().post("/auth/introspect", data={"token": "x"}, headers=basic())
    assert_error(response, 401, "invalid_client")


def test_a_json_body_is_415_and_a_form_without_token_is_400(client, auth):
    token = auth.signup()["accessToken"]
    as_json = client.post("/auth/introspect", json={"token": token}, headers=basic())
    assert_error(as_json, 415, "unsupported_media_type")
    without_token = client.post("/auth/introspect", data={"token_type_hint": "x"}, headers=basic())
    assert_error(without_token, 400, "validation_error", details=True)
    assert "token" in without_token.json["details"]


def test_the_token_is_never_logged(client, auth, audit_log, caplog):
    tokens = auth.signup()
    introspect(client, tokens["accessToken"])
    introspect(client, "garbage-token-value")
    assert tokens["accessToken"] not in caplog.text + "".join(audit_log.raw)
    assert "garbage-token-value" not in caplog.text


def test_introspection_is_rate_limited_per_client(deploy, key_files):
    live = deploy(
        RATELIMIT_ENABLED=True,
        RATELIMIT_INTROSPECT="2 per minute",
        INTROSPECTION_CLIENTS={CLIENT: SECRET, "other": SECRET + "2"},
        **key_config("ES256", key_files["ec"]),
    )
    client = live.test_client()
    statuses = [
        client.post("/auth/introspect", data={"token": "x"}, headers=basic()).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    other = client.post(
        "/auth/introspect", data={"token": "x"}, headers=basic("other", SECRET + "2")
    )
    assert other.status_code == 200


def test_refused_credentials_are_limited_per_address(deploy, key_files, audit_log):
    """Only refusals count: a client with the right secret spends nothing, and once a
    guesser has spent the budget its address is refused before any secret is compared."""
    live = deploy(
        RATELIMIT_ENABLED=True,
        RATELIMIT_INTROSPECT_FAILURES="2 per minute",
        INTROSPECTION_CLIENTS={CLIENT: SECRET},
        **key_config("ES256", key_files["ec"]),
    )
    client = live.test_client()

    def call(headers, address="192.0.2.1"):
        return client.post(
            "/auth/introspect",
            data={"token": "x"},
            headers=headers,
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    assert [call(basic()) for _ in range(3)] == [200, 200, 200]
    guesses = [call(basic(secret=f"guess{n}")) for n in range(3)]
    assert guesses == [401, 401, 429]
    assert call(basic()) == 429
    assert call(basic(), address="192.0.2.2") == 200
    refused = [line for line in audit_log if line["event"] == "introspection_client_refused"]
    assert len(refused) == 2


@pytest.mark.parametrize(
    ("name", "secret"), [(CLIENT, SECRET), (CLIENT, "wrong"), ("nobody", SECRET)]
)
def test_every_client_check_makes_the_same_constant_time_comparison(monkeypatch, name, secret):
    """An unknown name is compared too, digests of equal length: timing tells nothing."""
    compared, real = [], hmac.compare_digest

    def compare_digest(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(clients.hmac, "compare_digest", compare_digest)
    try:
        clients.authenticate_client(name, secret, {CLIENT: SECRET})
    except InvalidClient:
        assert (name, secret) != (CLIENT, SECRET)
    assert compared == [(32, 32)]
