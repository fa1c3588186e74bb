"""Token attacks the contract rules out: every forged or misused token is refused by /me."""

import base64
import json
import time

import jwt
import pytest

from tests.support import assert_refused


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge(app, claims, *, key=None, algorithm="HS256", headers=None):
    headers = {"typ": "at+jwt", **(headers or {})}
    return jwt.encode(claims, key or app.config["JWT_ACCESS_SECRET"], algorithm, headers=headers)


def test_access_token_has_contract_header_and_claims(signed_in_claims):
    tokens, claims = signed_in_claims
    header = jwt.get_unverified_header(tokens["accessToken"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "HS256"
    contract = {"sub", "iat", "nbf", "exp", "jti", "iss", "aud", "email", "role", "sid", "amr"}
    assert contract <= set(claims)
    assert claims["sub"] == "1"
    assert claims["exp"] - claims["iat"] == 900


def test_forged_copy_of_a_valid_token_is_accepted(app, auth, signed_in_claims):
    """The control for the attacks below: re-signing the same claims with the key works."""
    _, claims = signed_in_claims
    assert auth.me(forge(app, claims)).status_code == 200


def test_alg_none_is_refused(auth, signed_in_claims):
    _, claims = signed_in_claims
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(claims)}."
    assert_refused(auth.me(token))


def test_token_signed_with_another_key_is_refused(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, claims, key="another-secret-of-at-least-32-bytes!!")))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_hmac_algorithm_with_the_right_key_is_refused(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, claims, algorithm="HS512")))


def test_refresh_token_is_not_an_access_token(auth, signed_in_claims):
    tokens, _ = signed_in_claims
    assert_refused(auth.me(tokens["refreshToken"]))


def test_access_token_signed_with_refresh_key_is_refused(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, claims, key=app.config["JWT_REFRESH_SECRET"])))


def test_wrong_typ_header_is_refused(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, claims, headers={"typ": "JWT"})))


def test_access_token_is_not_a_refresh_token(auth, signed_in_claims):
    tokens, _ = signed_in_claims
    response = auth.refresh(tokens["accessToken"])
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "someone-else"),
        ("aud", "another-api"),
        ("sub", "not-a-number"),
        ("sid", 5),
        ("role", None),
        ("amr", "pwd"),
        ("amr", ["pwd", 1]),
    ],
)
def test_wrong_claims_are_refused(app, auth, signed_in_claims, claim, value):
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, {**claims, claim: value})))


def test_a_token_from_before_amr_is_a_password_sign_in(app, auth, signed_in_claims):
    """Access tokens issued before `amr` existed keep working until they expire."""
    _, claims = signed_in_claims
    assert auth.me(forge(app, {k: v for k, v in claims.items() if k != "amr"})).status_code == 200


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "jti", "iss", "aud", "sid", "role"])
def test_missing_claims_are_refused(app, auth, signed_in_claims, claim):
    _, claims = signed_in_claims
    claims = {k: v for k, v in claims.items() if k != claim}
    assert_refused(auth.me(forge(app, claims)))


def test_expired_token_is_refused_with_token_expired(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    now = int(time.time())
    expired = {**claims, "iat": now - 1000, "nbf": now - 1000, "exp": now - 60}
    assert_refused(auth.me(forge(app, expired)), "token_expired")


def test_expiry_within_leeway_is_tolerated(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    now = int(time.time())
    assert auth.me(forge(app, {**claims, "exp": now - 5})).status_code == 200


def test_not_yet_valid_token_is_refused(app, auth, signed_in_claims):
    _, claims = signed_in_claims
    now = int(time.time())
    future = {**claims, "iat": now + 600, "nbf": now + 600, "exp": now + 1200}
    assert_refused(auth.me(forge(app, future)))


def test_token_for_another_users_session_is_refused(app, auth):
    first = auth.signup("one@example.com")
    auth.signup("two@example.com")
    claims = jwt.decode(first["accessToken"], options={"verify_signature": False})
    assert_refused(auth.me(forge(app, {**claims, "sub": "2"})), "token_revoked")


def test_elevated_role_in_a_signed_token_is_refused(app, auth, signed_in_claims):
    """Even with the key, the role is rechecked against the store."""
    _, claims = signed_in_claims
    assert_refused(auth.me(forge(app, {**claims, "role": "admin"})), "token_revoked")


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "a.b", "ü.ö.ä", "x" * 5000, "Bearer", "a.b.c.d.e"]
)
def test_garbage_tokens_are_refused(client, token):
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json["code"] in ("invalid_token", "missing_token")


def test_missing_token_answers_with_realm_only(client):
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json == {"error": "An access token is required.", "code": "missing_token"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_scheme_is_case_insensitive(client, signed_in_claims, scheme):
    tokens, _ = signed_in_claims
    response = client.get("/me", headers={"Authorization": f"{scheme} {tokens['accessToken']}"})
    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT"])
def test_other_schemes_are_not_bearer_tokens(client, signed_in_claims, scheme):
    tokens, _ = signed_in_claims
    response = client.get("/me", headers={"Authorization": f"{scheme} {tokens['accessToken']}"})
    assert response.status_code == 401
    assert response.json["code"] == "missing_token"


def test_token_in_query_string_is_not_accepted(client, signed_in_claims):
    tokens, _ = signed_in_claims
    for name in ("access_token", "token", "accessToken"):
        response = client.get(f"/me?{name}={tokens['accessToken']}")
        assert response.status_code == 401
        assert response.json["code"] == "missing_token"


def test_jku_and_jwk_headers_are_ignored(app, auth, signed_in_claims):
    """A header pointing at an attacker's keys changes nothing: our key still decides."""
    _, claims = signed_in_claims
    evil = {"jku": "https://evil.example/keys", "jwk": {"kty": "oct", "k": b64({"x": 1})}}
    assert auth.me(forge(app, claims, headers=evil)).status_code == 200
    bad_key = "attacker-key-of-at-least-32-bytes-long!"
    assert_refused(auth.me(forge(app, claims, key=bad_key, headers=evil)))
