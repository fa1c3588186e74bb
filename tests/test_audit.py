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
