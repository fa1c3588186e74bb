"""`flask users ...`, run through Flask's CLI runner."""

import pytest

from app.extensions import db
from app.models import LoginSession, User
from tests.support import PASSWORD


def users(runner, *args, input=None):
    return runner.invoke(args=["users", *args], input=input)


def create(runner, email="root@example.com", *options, password=PASSWORD):
    return users(runner, "create", email, *options, "--password-stdin", input=password + "\n")


def stored(app, email):
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.email == email))


def test_create_the_first_admin_then_log_in_with_it(app, runner, client, auth):
    result = create(runner, "Root@Example.com", "--role", "admin")
    assert result.exit_code == 0, result.output
    assert "root@example.com" in result.output
    user = stored(app, "root@example.com")
    assert (user.role, user.email_verified, user.disabled) == ("admin", True, False)
    assert PASSWORD not in result.output
    assert user.password_hash.startswith("$2b$")
    tokens = auth.login("root@example.com")
    assert client.get("/admin/users", headers=auth.headers(tokens)).status_code == 200


def test_create_prompts_for_the_password_twice_and_hides_it(app, runner):
    result = users(runner, "create", "new@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert stored(app, "new@example.com").role == "user"


def test_create_refuses_a_mistyped_confirmation(app, runner):
    result = users(runner, "create", "new@example.com", input=f"{PASSWORD}\nsomething else\n")
    assert result.exit_code != 0
    assert stored(app, "new@example.com") is None


def test_create_has_no_password_argument(runner):
    result = users(runner, "create", "new@example.com", "--password", PASSWORD)
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_create_with_unverified(app, runner):
    assert create(runner, "v@example.com", "--unverified").exit_code == 0
    assert stored(app, "v@example.com").email_verified is False
    assert create(runner, "w@example.com", "--verified").exit_code == 0
    assert stored(app, "w@example.com").email_verified is True


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8"),
        ("x" * 73, "72 bytes"),
        ("root@example.com", "same as the email"),
    ],
)
def test_create_applies_the_registration_password_policy(app, runner, password, message):
    result = create(runner, password=password)
    assert result.exit_code == 1
    assert message in result.output
    assert stored(app, "root@example.com") is None


def test_create_refuses_an_empty_stdin(app, runner):
    result = users(runner, "create", "root@example.com", "--password-stdin", input="")
    assert result.exit_code == 1
    assert "No password" in result.output


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x" * 400 + "@example.com"])
def test_create_validates_the_email(app, runner, email):
    result = create(runner, email)
    assert result.exit_code == 2
    assert "Invalid value for 'EMAIL'" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def test_create_refuses_a_taken_email_in_any_case(runner):
    create(runner)
    result = create(runner, "ROOT@example.com")
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_create_refuses_an_unknown_role(app, runner):
    result = create(runner, "root@example.com", "--role", "superuser")
    assert result.exit_code == 2
    assert stored(app, "root@example.com") is None


def test_set_role_takes_effect_on_the_next_request(app, runner, auth):
    tokens = auth.signup()
    result = users(runner, "set-role", "User@example.com", "admin")
    assert result.exit_code == 0, result.output
    assert auth.me(tokens).json["code"] == "token_revoked"
    assert auth.refresh(tokens["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(auth.login()).json["role"] == "admin"


def test_set_role_refuses_to_demote_the_last_admin(app, runner):
    create(runner, "root@example.com", "--role", "admin")
    result = users(runner, "set-role", "root@example.com", "user")
    assert result.exit_code == 1
    assert "last enabled admin" in result.output
    assert stored(app, "root@example.com").role == "admin"


def test_set_role_refuses_an_unknown_role(app, runner):
    create(runner)
    result = users(runner, "set-role", "root@example.com", "root")
    assert result.exit_code == 2
    assert stored(app, "root@example.com").role == "user"


@pytest.mark.parametrize(
    "args",
    [
        ("set-role", "ghost@example.com", "admin"),
        ("disable", "ghost@example.com"),
        ("enable", "ghost@example.com"),
        ("verify", "ghost@example.com"),
        ("reset-mfa", "ghost@example.com"),
    ],
)
def test_commands_on_a_missing_user_fail_clearly(runner, args):
    result = users(runner, *args)
    assert result.exit_code == 1
    assert "There is no user with the email ghost@example.com." in result.output


def test_disable_ends_sessions_and_enable_needs_a_new_login(app, runner, auth):
    tokens = auth.signup()
    result = users(runner, "disable", "user@example.com")
    assert result.exit_code == 0, result.output
    assert auth.me(tokens).json["code"] == "account_disabled"
    assert auth.refresh(tokens["refreshToken"]).json["code"] == "account_disabled"
    with app.app_context():
        assert all(
            session.revoked_at is not None
            for session in db.session.scalars(db.select(LoginSession))
        )
    assert users(runner, "enable", "user@example.com").exit_code == 0
    assert stored(app, "user@example.com").disabled is False
    assert auth.me(tokens).json["code"] == "token_revoked"
    assert auth.me(auth.login()).status_code == 200


def test_disable_refuses_the_last_admin(app, runner):
    create(runner, "root@example.com", "--role", "admin")
    result = users(runner, "disable", "root@example.com")
    assert result.exit_code == 1
    assert "last enabled admin" in result.output
    assert stored(app, "root@example.com").disabled is False


@pytest.mark.parametrize("app_config", [{"REQUIRE_EMAIL_VERIFICATION": True}])
def test_verify_lets_an_unverified_user_log_in(app, runner, client, auth):
    auth.register()
    assert (
        client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD}).json[
            "code"
        ]
        == "email_unverified"
    )
    assert users(runner, "verify", "user@example.com").exit_code == 0
    assert auth.login()["tokenType"] == "Bearer"


def test_list_shows_accounts_by_id_without_hashes(app, runner, auth):
    create(runner, "root@example.com", "--role", "admin")
    auth.register("alice@example.com")
    auth.register("bob@example.com")
    result = users(runner, "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == [
        "root@example.com",
        "alice@example.com",
        "bob@example.com",
    ]
    assert lines[0].split()[2:5] == ["admin", "verified", "enabled"]
    assert lines[1].split()[2:5] == ["user", "unverified", "enabled"]
    assert "$2b$" not in result.output


def test_list_filters_by_prefix_and_limits(runner, auth):
    for name in ("alice", "alfred", "bob"):
        auth.register(f"{name}@example.com")
    result = users(runner, "list", "--email", "AL", "--limit", "1")
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["alice@example.com"]
    assert "1 of 2" in result.output


@pytest.mark.parametrize(
    "args", [(), ("create",), ("set-role",), ("disable",), ("enable",), ("verify",), ("list",)]
)
def test_every_command_has_help(runner, args):
    result = users(runner, *args, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    # the first line of the docstring is the summary
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize("app_config", [{"ROLES": ("user", "admin", "moderator")}])
def test_list_aligns_columns_for_roles_of_any_length(runner, auth):
    create(runner, "root@example.com", "--role", "moderator")
    auth.register("alice@example.com")
    lines = users(runner, "list").stdout.splitlines()
    assert lines[0].index("moderator") == lines[1].index("user")
    assert lines[0].index("enabled") == lines[1].index("enabled")
