"""POST /auth/register."""

import pytest

from app.extensions import db
from app.models import User
from tests.support import PASSWORD


def test_register_returns_id_and_email(client):
    response = client.post(
        "/auth/register", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json == {"id": 1, "email": "new@example.com"}


def test_register_stores_a_bcrypt_hash_not_the_password(app, auth):
    auth.register()
    with app.app_context():
        user = db.session.scalar(db.select(User))
        assert user.password_hash.startswith("$2b$")
        assert PASSWORD not in user.password_hash


def test_email_is_case_insensitive(client, auth):
    auth.register("Alice@Example.COM")
    response = client.post(
        "/auth/register", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json == {
        "error": "An account with this email already exists.",
        "code": "email_taken",
    }
    assert auth.login("ALICE@example.com")["tokenType"] == "Bearer"


def test_unknown_fields_cannot_set_role_or_flags(app, client, auth):
    response = client.post(
        "/auth/register",
        json={
            "email": "mallory@example.com",
            "password": PASSWORD,
            "role": "admin",
            "disabled": False,
            "email_verified": True,
            "emailVerified": True,
            "id": 999,
        },
    )
    assert response.status_code == 201
    assert response.json["id"] == 1  # the first account, not the id it asked for
    me = auth.me(auth.login("mallory@example.com")).json
    assert me["role"] == "user"
    assert me["emailVerified"] is False


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"password": PASSWORD}, "email", "Missing data for required field."),
        ({"email": "a@example.com"}, "password", "Missing data for required field."),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "Not a valid email"),
        ({"email": 42, "password": PASSWORD}, "email", "Not a valid string."),
        ({"email": None, "password": PASSWORD}, "email", "Field may not be null."),
        ({"email": "a@example.com", "password": ["x"]}, "password", "Not a valid string."),
        ({"email": "a@example.com", "password": "short"}, "password", "at least 8"),
        ({"email": "a@example.com", "password": "é" * 37}, "password", "at most 72 bytes"),
        ({"email": "a@example.com", "password": "A@Example.com"}, "password", "same as the email"),
        ({"email": "a@example.com", "password": "pass\x00word123"}, "password", "NUL"),
        ({"email": "a@example.com", "password": "password123"}, "password", "too common"),
        ({"email": "a@example.com", "password": "QWERTYUIOP"}, "password", "too common"),
        ({"email": "a@example.com", "password": "iloveyou1"}, "password", "too common"),
    ],
)
def test_register_validation_errors(client, body, field, message):
    response = client.post("/auth/register", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"
    assert any(message in text for text in response.json["details"][field])


def test_password_of_exactly_72_bytes_is_accepted(auth):
    password = "é" * 36  # 72 bytes in UTF-8
    auth.register("long@example.com", password)
    assert auth.login("long@example.com", password)["accessToken"]


def test_register_then_login_with_unicode_password(auth):
    password = "pässwörd-日本語-🔑"
    auth.register("u@example.com", password)
    assert auth.login("u@example.com", password)["accessToken"]


def test_blocklist_ships_at_least_ten_thousand_passwords():
    from app.passwords import common_passwords

    assert len(common_passwords()) >= 10_000
    assert {"123456", "password", "qwerty123"} <= common_passwords()
