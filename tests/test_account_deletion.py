"""DELETE /me: the password confirms it; the user and every token of theirs are gone."""

import pytest

from app import email_tokens
from app.extensions import db
from app.models import (
    EmailToken,
    LoginSession,
    MfaChallenge,
    RecoveryCode,
    RefreshToken,
    TotpEnrollment,
    User,
)
from tests.factories import signed_in_with_second_factor
from tests.support import PASSWORD


def delete_account(client, auth, tokens, body):
    return client.delete("/me", json=body, headers=auth.headers(tokens))


def count(model):
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_deleting_the_account_removes_the_user_and_all_their_tokens(app, client, auth):
    phone = auth.signup()
    laptop = auth.login()
    other = auth.signup("other@example.com")
    with app.app_context():
        email_tokens.issue(1, email_tokens.RESET, 900)
        db.session.commit()

    response = delete_account(client, auth, phone, {"password": PASSWORD})
    assert response.status_code == 204
    assert response.data == b""

    for tokens in (phone, laptop):
        assert auth.me(tokens).json["code"] == "token_revoked"
        assert auth.refresh(tokens["refreshToken"]).json["code"] == "invalid_token"
    login = client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD})
    assert login.status_code == 401
    assert login.json["code"] == "invalid_credentials"
    with app.app_context():
        assert db.session.scalars(db.select(User.email)).all() == ["other@example.com"]
        assert count(LoginSession) == count(RefreshToken) == 1
        # only the other account's verification token from its registration is left
        assert db.session.scalars(db.select(EmailToken.user_id)).all() == [2]
    assert auth.me(other).status_code == 200


def test_deleting_the_account_removes_its_second_factor(app, client, auth):
    tokens = signed_in_with_second_factor(app, "mfa@example.com")
    auth.login("mfa@example.com")  # a login challenge waiting for its code
    signed_in_with_second_factor(app, "other@example.com")

    response = delete_account(client, auth, tokens, {"password": PASSWORD})

    assert response.status_code == 204
    with app.app_context():
        other = db.session.scalar(db.select(User.id).where(User.email == "other@example.com"))
        for model in (TotpEnrollment, RecoveryCode, MfaChallenge):
            assert set(db.session.scalars(db.select(model.user_id))) == {other}, model


def test_wrong_password_deletes_nothing(app, client, auth):
    tokens = auth.signup()
    response = delete_account(client, auth, tokens, {"password": "not my password"})
    assert response.status_code == 400
    assert response.json == {"error": "The password is incorrect.", "code": "invalid_credentials"}
    assert auth.me(tokens).status_code == 200
    assert auth.refresh(tokens["refreshToken"]).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"password": ""}, {"password": 1234}, {"password": "x" * 73}, {"pass": PASSWORD}]
)
def test_bad_bodies_are_validation_errors(client, auth, body):
    tokens = auth.signup()
    response = delete_account(client, auth, tokens, body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"
    assert "password" in response.json["details"]
    assert auth.me(tokens).status_code == 200


def test_deletion_needs_an_access_token(client, auth):
    tokens = auth.signup()
    assert client.delete("/me", json={"password": PASSWORD}).json["code"] == "missing_token"
    refresh_as_bearer = delete_account(client, auth, tokens["refreshToken"], {"password": PASSWORD})
    assert refresh_as_bearer.json["code"] == "invalid_token"
    assert auth.me(tokens).status_code == 200


def test_a_new_account_with_the_same_email_does_not_inherit_old_tokens(client, auth):
    """The new account shares the email, never the id or a session, of the deleted one."""
    old = auth.signup()
    assert delete_account(client, auth, old, {"password": PASSWORD}).status_code == 204
    new = auth.signup(password="another long passphrase")
    assert auth.me(old).json["code"] == "token_revoked"
    assert auth.refresh(old["refreshToken"]).json["code"] == "invalid_token"
    assert auth.me(new).status_code == 200


def test_a_deleted_accounts_id_is_never_given_again(client, auth):
    """An id outlives its account in logs, audit lines and other services' records; SQLite
    would hand out max(id) + 1 again without AUTOINCREMENT."""
    auth.register("first@example.com")
    gone = auth.signup("gone@example.com")
    gone_id = auth.me(gone).json["id"]
    assert delete_account(client, auth, gone, {"password": PASSWORD}).status_code == 204
    assert auth.register("next@example.com")["id"] > gone_id
