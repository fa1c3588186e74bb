"""POST /auth/login."""

import bcrypt
import pytest

from app.extensions import db
from app.models import User
from tests.support import PASSWORD


def test_login_returns_a_token_pair(client, auth):
    auth.register()
    response = client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert response.json["tokenType"] == "Bearer"
    assert response.json["expiresIn"] == 900
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_email_and_wrong_password_answer_the_same(client, auth):
    auth.register()
    wrong = client.post("/auth/login", json={"email": "user@example.com", "password": "nope-nope"})
    unknown = client.post("/auth/login", json={"email": "who@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json
        == unknown.json
        == {
            "error": "Invalid email or password.",
            "code": "invalid_credentials",
        }
    )
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")


def test_unknown_email_still_costs_one_bcrypt_check(client, monkeypatch):
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: calls.append(1) or real(pw, h))
    response = client.post("/auth/login", json={"email": "who@example.com", "password": PASSWORD})
    assert response.status_code == 401
    assert calls == [1]


def test_disabled_account_cannot_log_in(app, client, auth):
    auth.register()
    with app.app_context():
        db.session.scalar(db.select(User)).disabled = True
        db.session.commit()
    response = client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json["code"] == "account_disabled"


def test_disabled_account_with_wrong_password_gets_invalid_credentials(app, client, auth):
    auth.register()
    with app.app_context():
        db.session.scalar(db.select(User)).disabled = True
        db.session.commit()
    response = client.post("/auth/login", json={"email": "user@example.com", "password": "x" * 9})
    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "user@example.com"},
        {"email": "user@example.com", "password": ""},
        {"email": "user@example.com", "password": 12345678},
        {"email": "user@example.com", "password": "x" * 73},
        {"email": ["user@example.com"], "password": PASSWORD},
    ],
)
def test_login_rejects_malformed_bodies(client, body):
    response = client.post("/auth/login", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"
    assert "details" in response.json


def test_each_login_opens_a_new_session(auth):
    auth.register()
    first, second = auth.login(), auth.login()
    assert first["refreshToken"] != second["refreshToken"]
    assert auth.me(first).status_code == 200
    assert auth.me(second).status_code == 200
