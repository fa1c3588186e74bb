"""Turning a user's second factor off for them: the admin switch `{mfaEnabled: false}` of
PATCH /admin/users/{id} and `flask users reset-mfa`; both end the user's sessions."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ADMIN, MfaChallenge, RecoveryCode, TotpEnrollment
from tests.factories import signed_in_user, signed_in_with_second_factor
from tests.support import assert_error


@pytest.fixture
def admin(app, client):
    return signed_in_user(app, client, "admin@example.com", role=ADMIN)


def mfa_rows(app, user_id: int) -> int:
    with app.app_context():
        return sum(
            db.session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.user_id == user_id)
            )
            for model in (TotpEnrollment, RecoveryCode, MfaChallenge)
        )


def user_id_of(app, auth, tokens) -> int:
    return auth.me(tokens).json["id"]


def test_admin_turns_a_users_mfa_off_and_ends_their_sessions(app, client, auth, admin, audit_log):
    tokens = signed_in_with_second_factor(app, "mfa@example.com")
    user_id = user_id_of(app, auth, tokens)

    response = client.patch(
        f"/admin/users/{user_id}", json={"mfaEnabled": False}, headers=auth.headers(admin)
    )

    assert response.status_code == 200
    assert response.json["mfaEnabled"] is False
    assert mfa_rows(app, user_id) == 0
    assert_error(auth.me(tokens), 401, "token_revoked")
    assert_error(auth.refresh(tokens["refreshToken"]), 401, "token_revoked")
    # The password alone signs in again: a token pair, no mfaToken.
    assert "accessToken" in auth.login("mfa@example.com")
    [line] = [line for line in audit_log if line["event"] == "mfa_reset"]
    assert line["user_id"] == user_id
    assert line["admin_id"] == user_id_of(app, auth, admin)


def test_turning_it_off_when_it_is_off_changes_nothing(app, client, auth, admin, audit_log):
    tokens = auth.signup()
    user_id = user_id_of(app, auth, tokens)

    response = client.patch(
        f"/admin/users/{user_id}", json={"mfaEnabled": False}, headers=auth.headers(admin)
    )

    assert response.status_code == 200
    assert auth.me(tokens).status_code == 200
    assert not [line for line in audit_log if line["event"] == "mfa_reset"]


@pytest.mark.parametrize("value", [True, "false", 0, None])
def test_only_false_is_taken(app, client, auth, admin, value):
    tokens = signed_in_with_second_factor(app, "mfa@example.com")
    user_id = user_id_of(app, auth, tokens)

    response = client.patch(
        f"/admin/users/{user_id}", json={"mfaEnabled": value}, headers=auth.headers(admin)
    )

    body = assert_error(response, 400, "validation_error", details=True)
    assert "mfaEnabled" in body["details"]
    assert auth.me(tokens).json["mfaEnabled"] is True


def test_cli_reset_mfa(app, runner, auth, audit_log):
    tokens = signed_in_with_second_factor(app, "mfa@example.com")
    user_id = user_id_of(app, auth, tokens)

    result = runner.invoke(args=["users", "reset-mfa", "MFA@example.com"])

    assert result.exit_code == 0, result.output
    assert "Turned the second factor off for mfa@example.com" in result.output
    assert mfa_rows(app, user_id) == 0
    assert_error(auth.me(tokens), 401, "token_revoked")
    [line] = [line for line in audit_log if line["event"] == "mfa_reset"]
    assert (line["user_id"], line["source"]) == (user_id, "cli")


def test_cli_reset_mfa_of_a_user_without_it(app, runner, auth):
    tokens = auth.signup()

    result = runner.invoke(args=["users", "reset-mfa", "user@example.com"])

    assert result.exit_code == 0, result.output
    assert "No second factor was on for user@example.com" in result.output
    assert auth.me(tokens).status_code == 200
