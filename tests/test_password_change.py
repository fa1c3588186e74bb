"""POST /me/password: the current password proves it is the user; every old session ends."""

import jwt
import pytest

from app.extensions import db
from app.models import LoginSession
from tests.factories import update_user
from tests.support import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def change(client, auth, tokens, current=PASSWORD, new=NEW_PASSWORD, **extra):
    body = {"currentPassword": current, "newPassword": new, **extra}
    return client.post("/me/password", json=body, headers=auth.headers(tokens))


def login_status(client, password):
    body = {"email": "user@example.com", "password": password}
    return client.post("/auth/login", json=body).status_code


@pytest.fixture
def phone_and_laptop(auth):
    return auth.signup(), auth.login()


def test_change_returns_a_fresh_pair_of_a_new_session(client, auth, phone_and_laptop):
    phone, _ = phone_and_laptop
    response = change(client, auth, phone)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.json
    assert set(fresh) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert fresh["tokenType"] == "Bearer"
    old_sid = jwt.decode(phone["accessToken"], options={"verify_signature": False})["sid"]
    new_sid = jwt.decode(fresh["accessToken"], options={"verify_signature": False})["sid"]
    assert new_sid != old_sid
    assert auth.me(fresh).status_code == 200
    assert auth.refresh(fresh["refreshToken"]).status_code == 200


def test_change_ends_every_earlier_session_the_callers_included(client, auth, phone_and_laptop):
    phone, laptop = phone_and_laptop
    fresh = change(client, auth, phone).json
    for old in (phone, laptop):
        assert auth.me(old).json["code"] == "token_revoked"
        assert auth.refresh(old["refreshToken"]).json["code"] == "token_revoked"
    sessions = client.get("/me/sessions", headers=auth.headers(fresh)).json["sessions"]
    assert [s["current"] for s in sessions] == [True]


def test_change_replaces_the_password(client, auth, phone_and_laptop):
    change(client, auth, phone_and_laptop[0])
    assert login_status(client, PASSWORD) == 401
    assert login_status(client, NEW_PASSWORD) == 200


def test_change_leaves_other_users_alone(client, auth, phone_and_laptop):
    other = auth.signup("other@example.com")
    change(client, auth, phone_and_laptop[0])
    assert auth.me(other).status_code == 200
    assert auth.refresh(other["refreshToken"]).status_code == 200


def test_wrong_current_password_changes_nothing_and_signs_nobody_out(
    client, auth, phone_and_laptop
):
    phone, laptop = phone_and_laptop
    response = change(client, auth, phone, current="not my password")
    assert response.status_code == 400
    assert response.json == {"error": "The password is incorrect.", "code": "invalid_credentials"}
    assert "WWW-Authenticate" not in response.headers
    assert auth.me(phone).status_code == 200
    assert auth.refresh(laptop["refreshToken"]).status_code == 200
    assert login_status(client, PASSWORD) == 200
    assert login_status(client, NEW_PASSWORD) == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"newPassword": NEW_PASSWORD}, "currentPassword"),
        ({"currentPassword": PASSWORD}, "newPassword"),
        ({"currentPassword": PASSWORD, "newPassword": "short"}, "newPassword"),
        ({"currentPassword": PASSWORD, "newPassword": "é" * 37}, "newPassword"),
        ({"currentPassword": PASSWORD, "newPassword": "User@Example.COM"}, "newPassword"),
        ({"currentPassword": PASSWORD, "newPassword": 12345678}, "newPassword"),
        ({"currentPassword": PASSWORD, "newPassword": "long enough\ud800"}, "newPassword"),
        ({"currentPassword": "", "newPassword": NEW_PASSWORD}, "currentPassword"),
        ({"currentPassword": "x" * 73, "newPassword": NEW_PASSWORD}, "currentPassword"),
        ({"currentPassword": None, "newPassword": NEW_PASSWORD}, "currentPassword"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD}, "currentPassword"),
    ],
)
def test_bad_bodies_are_validation_errors_and_change_nothing(client, auth, body, field):
    tokens = auth.signup()
    response = client.post("/me/password", json=body, headers=auth.headers(tokens))
    assert response.status_code == 400, response.json
    assert response.json["code"] == "validation_error"
    assert field in response.json["details"]
    assert auth.me(tokens).status_code == 200
    assert login_status(client, PASSWORD) == 200


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{", b"null"])
def test_non_object_bodies_are_refused(client, auth, body):
    tokens = auth.signup()
    response = client.post(
        "/me/password",
        data=body,
        headers={**auth.headers(tokens), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "invalid_json"


def test_unknown_fields_cannot_change_anything_else(app, client, auth):
    tokens = auth.signup()
    response = change(client, auth, tokens, role="admin", email="x@example.com", id=7)
    assert response.status_code == 200
    assert auth.me(response.json).json["role"] == "user"
    assert auth.me(response.json).json["email"] == "user@example.com"


def test_change_needs_an_access_token(client, auth):
    tokens = auth.signup()
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert client.post("/me/password", json=body).json["code"] == "missing_token"
    refresh_as_bearer = client.post(
        "/me/password", json=body, headers=auth.headers(tokens["refreshToken"])
    )
    assert refresh_as_bearer.json["code"] == "invalid_token"
    assert login_status(client, PASSWORD) == 200


def test_a_disabled_user_cannot_change_the_password(app, client, auth):
    tokens = auth.signup()
    update_user(app, disabled=True)
    response = change(client, auth, tokens)
    assert response.status_code == 403
    assert response.json["code"] == "account_disabled"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginSession)) == 1
