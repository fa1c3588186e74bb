"""The audit log: one JSON line per security event, never a secret."""

import uuid

import pytest

from app.extensions import db
from app.models import User
from tests.factories import make_user
from tests.support import PASSWORD


def events(audit_log):
    return [line["event"] for line in audit_log]


def test_sign_in_lifecycle_is_audited(client, auth, audit_log):
    tokens = auth.signup()
    successor = auth.refresh(tokens["refreshToken"]).json
    client.post("/auth/logout", json={"refreshToken": successor["refreshToken"]})
    assert events(audit_log) == ["register", "login_success", "refresh", "logout"]
    for line in audit_log:
        assert line["user_id"] == 1
        assert line["time"].endswith("Z")
        assert line["ip"] == "127.0.0.1"
        assert line["request_id"]
    assert audit_log[1]["session_id"] == audit_log[2]["session_id"]


@pytest.mark.parametrize(
    ("email", "password", "reason", "user_id"),
    [
        ("who@example.com", PASSWORD, "unknown_email", None),
        ("user@example.com", "wrong-password", "wrong_password", 1),
    ],
)
def test_failed_logins_are_audited_with_a_reason(
    client, auth, audit_log, email, password, reason, user_id
):
    auth.register()
    client.post("/auth/login", json={"email": email, "password": password})
    failure = audit_log[-1]
    assert failure["event"] == "login_failure"
    assert failure["reason"] == reason
    assert failure["user_id"] == user_id


def test_disabled_login_is_audited(app, client, auth, audit_log):
    make_user(app, disabled=True)
    client.post("/auth/login", json={"email": "user@example.com", "password": PASSWORD})
    assert audit_log[-1]["reason"] == "account_disabled"


def test_refresh_reuse_is_audited(auth, audit_log):
    tokens = auth.signup()
    auth.refresh(tokens["refreshToken"])
    auth.refresh(tokens["refreshToken"])
    assert events(audit_log)[-1] == "refresh_reuse_detected"


def test_refresh_within_the_reuse_interval_is_audited_as_such(app, auth, audit_log):
    app.config["REFRESH_REUSE_INTERVAL"] = 10
    tokens = auth.signup()
    auth.refresh(tokens["refreshToken"])
    assert auth.refresh(tokens["refreshToken"]).status_code == 200
    assert events(audit_log)[-2:] == ["refresh", "refresh"]
    assert "within_reuse_interval" not in audit_log[-2]
    assert audit_log[-1]["within_reuse_interval"] is True


def test_password_change_is_audited_with_the_new_session(client, auth, audit_log):
    tokens = auth.signup()
    new_password = "an entirely new passphrase"
    answer = client.post(
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": new_password},
        headers=auth.headers(tokens),
    )
    assert answer.status_code == 200
    changed = audit_log[-1]
    assert (changed["event"], changed["user_id"]) == ("password_changed", 1)
    assert changed["session_id"] != audit_log[1]["session_id"]  # not the login's session
    (session,) = client.get("/me/sessions", headers=auth.headers(answer.json)).json["sessions"]
    assert changed["session_id"] == session["id"]
    assert new_password not in "\n".join(audit_log.raw)


def test_a_wrong_current_password_changes_nothing_and_audits_nothing(client, auth, audit_log):
    tokens = auth.signup()
    body = {"currentPassword": "Wrong-Pass-123", "newPassword": "an entirely new passphrase"}
    answer = client.post("/me/password", json=body, headers=auth.headers(tokens))
    assert answer.status_code == 400
    assert events(audit_log) == ["register", "login_success"]


def test_account_deletion_is_audited(client, auth, audit_log):
    tokens = auth.signup()
    answer = client.delete("/me", json={"password": PASSWORD}, headers=auth.headers(tokens))
    assert answer.status_code == 204
    assert (audit_log[-1]["event"], audit_log[-1]["user_id"]) == ("account_deleted", 1)


def test_ending_one_session_is_audited_with_that_session(client, auth, audit_log):
    laptop = auth.signup()
    auth.login()
    listed = client.get("/me/sessions", headers=auth.headers(laptop)).json["sessions"]
    (phone,) = [session for session in listed if not session["current"]]
    answer = client.delete(f"/me/sessions/{phone['id']}", headers=auth.headers(laptop))
    assert answer.status_code == 204
    ended = audit_log[-1]
    assert (ended["event"], ended["user_id"], ended["session_id"]) == (
        "session_ended",
        1,
        phone["id"],
    )
    again = client.delete(f"/me/sessions/{phone['id']}", headers=auth.headers(laptop))
    assert again.status_code == 404
    assert events(audit_log).count("session_ended") == 1


def test_logout_everywhere_is_audited(client, auth, audit_log):
    tokens = auth.signup()
    assert client.post("/auth/logout-all", headers=auth.headers(tokens)).status_code == 204
    assert (audit_log[-1]["event"], audit_log[-1]["user_id"]) == ("logout_all", 1)


@pytest.fixture
def admin(auth, runner):
    """An admin's token pair (user id 1; user@example.com is user id 2)."""
    auth.register("admin@example.com")
    result = runner.invoke(args=["users", "set-role", "admin@example.com", "admin"])
    assert result.exit_code == 0, result.output
    auth.register()
    return auth.login("admin@example.com")


def test_admin_changes_are_audited_with_the_admin(client, auth, admin, audit_log):
    def patch(body):
        """PATCH user 2; the (event, user, admin, role) of the audit lines it wrote."""
        before = len(audit_log)
        answer = client.patch("/admin/users/2", json=body, headers=auth.headers(admin))
        assert answer.status_code == 200, answer.json
        return [
            (line["event"], line["user_id"], line["admin_id"], line.get("role"))
            for line in audit_log[before:]
        ]

    assert patch({"role": "admin"}) == [("user_role_changed", 2, 1, "admin")]
    assert patch({"role": "user", "disabled": True}) == [
        ("user_role_changed", 2, 1, "user"),
        ("user_disabled", 2, 1, None),
    ]
    assert patch({"disabled": False}) == [("user_enabled", 2, 1, None)]
    assert patch({"disabled": False, "role": "user"}) == []  # nothing changed


def test_a_refused_admin_change_is_not_audited(client, auth, admin, audit_log):
    before = len(audit_log)
    answer = client.patch("/admin/users/1", json={"disabled": True}, headers=auth.headers(admin))
    assert answer.json["code"] == "last_admin"
    assert audit_log[before:] == []


def test_account_commands_are_audited(auth, runner, audit_log):
    auth.register()
    commands = [
        ["disable", "user@example.com"],
        ["enable", "user@example.com"],
        ["set-role", "user@example.com", "admin"],
        ["verify", "user@example.com"],
    ]
    for command in commands:
        result = runner.invoke(args=["users", *command])
        assert result.exit_code == 0, result.output
    created = runner.invoke(
        args=["users", "create", "new@example.com", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    lines = audit_log[1:]
    assert [line["event"] for line in lines] == [
        "user_disabled",
        "user_enabled",
        "user_role_changed",
        "email_verified",
        "user_created",
    ]
    assert all(line["source"] == "cli" for line in lines)
    assert [line["user_id"] for line in lines] == [1, 1, 1, 1, 2]
    assert (lines[2]["role"], lines[-1]["role"]) == ("admin", "user")


def test_no_secret_reaches_the_audit_log(app, client, auth, audit_log):
    tokens = auth.signup()
    successor = auth.refresh(tokens["refreshToken"]).json
    auth.refresh(tokens["refreshToken"])
    client.post("/auth/login", json={"email": "user@example.com", "password": "Wrong-Pass-123"})
    with app.app_context():
        password_hash = db.session.scalar(db.select(User.password_hash))
    text = "\n".join(audit_log.raw)
    secrets = [PASSWORD, "Wrong-Pass-123", password_hash, *tokens.values(), *successor.values()]
    for secret in secrets:
        if isinstance(secret, str) and len(secret) > 8:
            assert secret not in text


def test_request_id_is_echoed_and_generated(client):
    response = client.get("/me")
    assert len(response.headers["X-Request-ID"]) == 32
    given = client.get("/me", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("evil", ['x" {"event":"fake"}', "a" * 65, "ünïcode", "a b"])
def test_unsafe_request_ids_are_replaced(client, audit_log, evil):
    sent = evil.encode("utf-8").decode("latin-1")  # a client's UTF-8 bytes, as WSGI reads them
    response = client.post(
        "/auth/login",
        json={"email": "a@example.com", "password": "x" * 9},
        headers={"X-Request-ID": sent},
    )
    # Neither echoed nor cut down nor escaped: the service makes an id of its own.
    replaced = response.headers["X-Request-ID"]
    assert uuid.UUID(hex=replaced).hex == replaced
    assert uuid.UUID(hex=replaced).version == 4
    assert audit_log[-1]["request_id"] == replaced
