"""The guard's cache of verified access tokens (app/tokens.py) keeps every check: expiry,
revocation, the signature of anything not byte-for-byte the token verified, and the keys
of the app that verified it."""

import types

import jwt
import pytest

from app import tokens
from app.tokens import TokenError
from tests.support import make_app


def cache(app):
    return app.extensions[tokens.VERIFIED_ACCESS_TOKENS]


@pytest.fixture
def signed_in(app, auth):
    pair = auth.signup()
    assert auth.me(pair).status_code == 200
    return pair


def test_a_token_is_verified_once_then_found(app, auth, signed_in):
    before = cache(app).cache_info()
    for _ in range(3):
        assert auth.me(signed_in).status_code == 200
    after = cache(app).cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)


def test_a_cached_token_still_expires(app, auth, signed_in, monkeypatch):
    exp = jwt.decode(signed_in["accessToken"], options={"verify_signature": False})["exp"]
    leeway = app.config["JWT_LEEWAY"]
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: exp + leeway - 1))
    assert auth.me(signed_in).status_code == 200
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: exp + leeway))
    response = auth.me(signed_in)
    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_a_cached_token_is_still_revoked(auth, signed_in):
    assert auth.client.post("/auth/logout-all", headers=auth.headers(signed_in)).status_code == 204
    response = auth.me(signed_in)
    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"


def test_a_tampered_copy_of_a_cached_token_is_refused(app, auth, signed_in):
    header, payload, signature = signed_in["accessToken"].split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for forged in (f"{header}.{payload}.{flipped}", f"{header}.{payload}x.{signature}"):
        response = auth.me(forged)
        assert response.status_code == 401
        assert response.json["code"] == "invalid_token"


def test_refused_tokens_are_not_kept(app, auth, signed_in):
    size = cache(app).cache_info().currsize
    for _ in range(3):
        assert auth.me("not.a.token").status_code == 401
    assert cache(app).cache_info().currsize == size


def test_a_token_verified_by_one_app_is_not_taken_by_another(app, signed_in):
    other = make_app(app.config["DATABASE_URL"], JWT_ACCESS_SECRET="another-access-secret-" * 2)
    with app.app_context():
        assert tokens.decode_access_token(signed_in["accessToken"]).user_id == 1
    with other.app_context(), pytest.raises(TokenError) as refused:
        tokens.decode_access_token(signed_in["accessToken"])
    assert refused.value.code == "invalid_token"
