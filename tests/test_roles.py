"""Roles from configuration: ROLES at start-up, `login_required(roles=...)`, the admin API
and `flask users` taking any configured role, and accounts left with a removed role."""

import jwt
import pytest

from app.config import ConfigError
from app.security import login_required
from tests.factories import make_user, signed_in_user
from tests.support import assert_error, validated

CUSTOM = {"ROLES": ("user", "admin", "moderator")}


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("user,moderator", "must list admin"),
        ("admin,moderator", "must list user"),
        (",", "expected comma-separated role names"),
        (" , ,", "expected comma-separated role names"),
        ("user,admin,user", "user is listed more than once"),
        ("user,admin,Moderator", "'Moderator' is not a role name"),
        ("user,admin,mod erator", "'mod erator' is not a role name"),
        ("user,admin,,mod", "'' is not a role name"),
        ("user,admin,1st", "'1st' is not a role name"),
        ("user,admin," + "a" * 33, "is not a role name"),
    ],
)
def test_a_bad_roles_setting_is_refused_at_start_up(raw, named):
    with pytest.raises(ConfigError, match=named) as refused:
        validated({"APP_ENV": "testing", "ROLES": raw})
    assert "\n" not in str(refused.value)


def test_roles_default_to_user_and_admin_and_take_custom_names():
    assert validated({"APP_ENV": "testing"})["ROLES"] == ("user", "admin")
    roles = validated({"APP_ENV": "testing", "ROLES": " user, admin ,support-2,read_only"})
    assert roles["ROLES"] == ("user", "admin", "support-2", "read_only")


def test_require_mfa_roles_must_name_configured_roles():
    with pytest.raises(ConfigError, match="REQUIRE_MFA_ROLES names moderator"):
        validated({"APP_ENV": "testing", "REQUIRE_MFA_ROLES": "moderator"})
    environ = {"APP_ENV": "testing", "ROLES": "user,admin,moderator"}
    assert validated({**environ, "REQUIRE_MFA_ROLES": "moderator"})["REQUIRE_MFA_ROLES"]


@pytest.mark.parametrize("app_config", [CUSTOM])
def test_an_admin_gives_a_custom_role_and_the_token_carries_it(app, client, auth):
    admin = signed_in_user(app, client, "admin@example.com", role="admin")
    user_id = make_user(app, "mod@example.com")
    response = client.patch(
        f"/admin/users/{user_id}", json={"role": "moderator"}, headers=auth.headers(admin)
    )
    assert response.status_code == 200, response.json
    assert response.json["role"] == "moderator"
    tokens = auth.login("mod@example.com")
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    assert claims["role"] == "moderator"
    assert auth.me(tokens).json["role"] == "moderator"


@pytest.mark.parametrize("role", ["moderator", "root", "Admin", "", 3])
def test_the_admin_api_refuses_a_role_not_configured(app, client, auth, role):
    admin = signed_in_user(app, client, "admin@example.com", role="admin")
    user_id = make_user(app, "user@example.com")
    response = client.patch(
        f"/admin/users/{user_id}", json={"role": role}, headers=auth.headers(admin)
    )
    body = assert_error(response, 400, "validation_error", details=True)
    assert set(body["details"]) == {"role"}


def guarded(app, **guard):
    """Add a route to `app` (before its first request) guarded by `login_required(**guard)`."""

    @login_required(**guard)
    def staff():
        return {"ok": True}

    app.add_url_rule("/staff", "staff", staff)


@pytest.mark.parametrize("app_config", [CUSTOM])
@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("moderator", 200), ("user", 403)])
def test_roles_guard_admits_any_listed_role(app, client, auth, role, status):
    guarded(app, roles=("admin", "moderator"))
    tokens = signed_in_user(app, client, "someone@example.com", role=role)
    response = client.get("/staff", headers=auth.headers(tokens))
    assert response.status_code == status
    if status == 403:
        assert_error(response, 403, "insufficient_role")
        assert "admin, moderator" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("app_config", [{**CUSTOM, "REQUIRE_MFA_ROLES": ("moderator",)}])
def test_require_mfa_roles_applies_to_a_roles_guard(app, client, auth):
    guarded(app, roles=("admin", "moderator"))
    tokens = signed_in_user(app, client, "mod@example.com", role="moderator")
    assert_error(client.get("/staff", headers=auth.headers(tokens)), 403, "mfa_required")


def test_a_role_removed_from_roles_admits_to_no_guarded_route(app, client, auth, runner):
    """ROLES is user,admin, but an account still holds `moderator` (ROLES listed it once)."""
    guarded(app, roles=("admin", "moderator"))
    tokens = signed_in_user(app, client, "mod@example.com", role="moderator")
    assert auth.me(tokens).json["role"] == "moderator"  # it still signs in
    assert_error(client.get("/staff", headers=auth.headers(tokens)), 403, "insufficient_role")

    result = runner.invoke(args=["users", "roles"])
    assert result.exit_code == 1
    assert "1 account(s) hold a role that ROLES does not list: moderator" in result.output

    assert runner.invoke(args=["users", "set-role", "mod@example.com", "user"]).exit_code == 0
    result = runner.invoke(args=["users", "roles"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["user", "1", "admin", "0"]


@pytest.mark.parametrize("app_config", [CUSTOM])
def test_the_cli_takes_any_configured_role(app, client, auth, runner):
    make_user(app, "mod@example.com")
    assert runner.invoke(args=["users", "set-role", "mod@example.com", "moderator"]).exit_code == 0
    assert auth.me(auth.login("mod@example.com")).json["role"] == "moderator"
    result = runner.invoke(
        args=["users", "create", "x@example.com", "--role", "moderator", "--password-stdin"],
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["users", "set-role", "mod@example.com", "root"])
    assert refused.exit_code == 2
    assert "'root' is not one of user, admin, moderator" in refused.output


def test_the_openapi_document_describes_role_as_a_name(client):
    schema = client.get("/openapi.json").json["components"]["schemas"]
    (update,) = [value for name, value in schema.items() if name.startswith("UserUpdate")]
    role = update["properties"]["role"]
    assert role["type"] == "string"
    assert role["pattern"] == "^[a-z][a-z0-9_-]{0,31}$"
    assert "enum" not in role
