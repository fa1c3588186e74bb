"""The second factor seen from the API: `amr` in access tokens and across refreshes, the
login that asks for a code, step-up (`login_required(mfa=True)`, REQUIRE_MFA_ROLES), and
`mfaEnabled` in /me."""

import jwt
import pytest

from app import sessions
from app.extensions import db
from app.models import ADMIN, User
from app.security import login_required
from tests.factories import make_user, mfa_user, signed_in_with_second_factor
from tests.support import PASSWORD, assert_error, assert_refused


def amr(tokens: dict) -> list[str]:
    return jwt.decode(tokens["accessToken"], options={"verify_signature": False})["amr"]


def test_a_password_login_is_pwd(auth):
    assert amr(auth.signup()) == ["pwd"]


def test_a_refresh_keeps_the_sessions_amr(app, auth):
    tokens = signed_in_with_second_factor(app)
    assert amr(tokens) == ["pwd", "otp"]

    refreshed = auth.refresh(tokens["refreshToken"])

    assert refreshed.status_code == 200
    assert amr(refreshed.json) == ["pwd", "otp"]


def test_a_password_change_keeps_the_amr_of_the_session_that_made_it(app, client, auth):
    tokens = signed_in_with_second_factor(app)

    response = client.post(
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "another horse battery"},
        headers=auth.headers(tokens),
    )

    assert response.status_code == 200
    assert amr(response.json) == ["pwd", "otp"]
    assert amr(auth.refresh(response.json["refreshToken"]).json) == ["pwd", "otp"]


def test_login_of_a_user_with_mfa_answers_an_mfa_token_and_no_pair(app, client, audit_log):
    account = mfa_user(app)

    response = client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"mfaRequired", "mfaToken", "expiresIn"}
    assert body["mfaRequired"] is True
    assert body["expiresIn"] == 300
    assert body["mfaToken"].startswith("mfa_")
    assert "Set-Cookie" not in response.headers
    issued = [line for line in audit_log if line["event"] == "mfa_challenge_issued"]
    assert [line["user_id"] for line in issued] == [account.user_id]
    assert body["mfaToken"] not in "".join(audit_log.raw)


def test_a_wrong_password_of_a_user_with_mfa_is_no_challenge(app, client):
    mfa_user(app)

    response = client.post(
        "/auth/login", json={"email": "user@example.com", "password": "wrong horse battery"}
    )

    assert_error(response, 401, "invalid_credentials")


def test_an_mfa_token_is_neither_an_access_nor_a_refresh_token(app, client, auth):
    mfa_user(app)
    mfa_token = auth.login()["mfaToken"]

    assert_refused(auth.me(mfa_token))
    assert_error(auth.refresh(mfa_token), 401, "invalid_token")


def test_me_says_whether_mfa_is_on(app, auth):
    assert auth.me(auth.signup("off@example.com")).json["mfaEnabled"] is False
    assert auth.me(signed_in_with_second_factor(app)).json["mfaEnabled"] is True


@pytest.fixture
def step_up_route(app):
    """A route guarded with `login_required(mfa=True)`, as the app's own will be."""

    @login_required(mfa=True)
    def sensitive():
        return {"ok": True}

    app.add_url_rule("/test/sensitive", view_func=sensitive)
    return "/test/sensitive"


def test_mfa_true_refuses_a_password_only_token(auth, step_up_route):
    response = auth.client.get(step_up_route, headers=auth.headers(auth.signup()))

    assert_error(response, 403, "mfa_required")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_mfa_true_admits_a_token_with_a_second_factor(app, auth, step_up_route):
    tokens = signed_in_with_second_factor(app)

    response = auth.client.get(step_up_route, headers=auth.headers(tokens))

    assert response.status_code == 200


def test_mfa_true_checks_the_token_first(auth, step_up_route):
    assert_error(auth.client.get(step_up_route), 401, "missing_token")


@pytest.mark.parametrize("app_config", [{"REQUIRE_MFA_ROLES": (ADMIN,)}])
def test_required_roles_refuse_role_guarded_routes_without_a_second_factor(app, client, auth):
    make_user(app, "admin@example.com", role=ADMIN)
    password_only = auth.login("admin@example.com")

    refused = client.get("/admin/users", headers=auth.headers(password_only))

    assert_error(refused, 403, "mfa_required")
    # Routes that are not role-guarded still take the admin's password-only token.
    assert auth.me(password_only).status_code == 200


@pytest.mark.parametrize("app_config", [{"REQUIRE_MFA_ROLES": (ADMIN,)}])
def test_required_roles_admit_a_token_with_a_second_factor(app, client, auth):
    tokens = signed_in_with_second_factor(app, "admin@example.com", role=ADMIN)

    response = client.get("/admin/users", headers=auth.headers(tokens))

    assert response.status_code == 200


def test_without_required_roles_an_admin_needs_no_second_factor(app, client, auth):
    make_user(app, "admin@example.com", role=ADMIN)

    response = client.get("/admin/users", headers=auth.headers(auth.login("admin@example.com")))

    assert response.status_code == 200


@pytest.mark.parametrize("app_config", [{"REQUIRE_MFA_ROLES": (ADMIN,)}])
def test_required_roles_do_not_touch_other_roles(app, client, auth):
    tokens = auth.signup()

    response = client.get("/admin/users", headers=auth.headers(tokens))

    assert_error(response, 403, "insufficient_role")


def test_ending_every_other_session_keeps_the_callers(app, auth):
    """What confirming an enrollment does: `credentials_changed(user, keep_session=...)`."""
    kept, other = auth.signup(), auth.login()
    with app.app_context():
        user = db.session.get(User, auth.me(kept).json["id"])
        sid = jwt.decode(kept["accessToken"], options={"verify_signature": False})["sid"]
        sessions.credentials_changed(user, keep_session=sid)
        db.session.commit()

    assert auth.me(kept).status_code == 200
    assert auth.refresh(kept["refreshToken"]).status_code == 200
    assert_refused(auth.me(other), "token_revoked")
    assert_error(auth.refresh(other["refreshToken"]), 401, "token_revoked")
