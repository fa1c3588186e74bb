"""Access tokens stop working on the next request after any event that should end them.

An access token is a stateless JWT valid for 15 minutes, yet every one of these events
refuses it at once: the guard looks up the token's session (`sid`) and user together.
"""

import re

import pytest

from tests.factories import update_user
from tests.support import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app_config(mail_config):
    """Reset emails go to a real SMTP server, where the tests read the link."""
    return mail_config


def emailed_reset_token(client, smtp_server):
    client.post("/auth/forgot-password", json={"email": "user@example.com"})
    return re.search(r"token=(\S+)", smtp_server.bodies()[-1]).group(1)


def logout(ctx):
    ctx.client.post("/auth/logout", json={"refreshToken": ctx.old["refreshToken"]})


def logout_all(ctx):
    ctx.client.post("/auth/logout-all", headers=ctx.auth.headers(ctx.other))


def password_change(ctx):
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    ctx.client.post("/me/password", json=body, headers=ctx.auth.headers(ctx.other))


def password_reset(ctx):
    token = emailed_reset_token(ctx.client, ctx.smtp_server)
    body = {"token": token, "password": NEW_PASSWORD}
    assert ctx.client.post("/auth/reset-password", json=body).status_code == 200


def session_deleted(ctx):
    sid = next(
        s["id"]
        for s in ctx.client.get("/me/sessions", headers=ctx.auth.headers(ctx.other)).json[
            "sessions"
        ]
        if not s["current"]
    )
    ctx.client.delete(f"/me/sessions/{sid}", headers=ctx.auth.headers(ctx.other))


def account_deleted(ctx):
    ctx.client.delete("/me", json={"password": PASSWORD}, headers=ctx.auth.headers(ctx.other))


def disabled(ctx):
    update_user(ctx.app, disabled=True)


def role_changed(ctx):
    update_user(ctx.app, role="admin")


class Context:
    def __init__(self, app, client, auth, smtp_server):
        self.app, self.client, self.auth, self.smtp_server = app, client, auth, smtp_server
        self.old = auth.signup()  # the token pair issued before the event
        self.other = auth.login()  # another session of the same user, which acts


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (logout, 401, "token_revoked"),
        (logout_all, 401, "token_revoked"),
        (password_change, 401, "token_revoked"),
        (password_reset, 401, "token_revoked"),
        (session_deleted, 401, "token_revoked"),
        (account_deleted, 401, "token_revoked"),
        (disabled, 403, "account_disabled"),
        (role_changed, 401, "token_revoked"),
    ],
)
def test_access_token_issued_before_the_event_is_refused_next(
    app, client, auth, smtp_server, event, status, code
):
    ctx = Context(app, client, auth, smtp_server)
    assert auth.me(ctx.old).status_code == 200
    event(ctx)
    response = auth.me(ctx.old)
    assert response.status_code == status
    assert response.json["code"] == code


@pytest.mark.parametrize(
    "event", [logout, logout_all, password_change, password_reset, session_deleted]
)
def test_refresh_token_of_an_ended_session_is_refused(app, client, auth, smtp_server, event):
    ctx = Context(app, client, auth, smtp_server)
    event(ctx)
    assert auth.refresh(ctx.old["refreshToken"]).json["code"] == "token_revoked"


def test_password_change_spends_outstanding_reset_links(client, auth, smtp_server):
    tokens = auth.signup()
    token = emailed_reset_token(client, smtp_server)
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert client.post("/me/password", json=body, headers=auth.headers(tokens)).status_code == 200
    reset = client.post("/auth/reset-password", json={"token": token, "password": "third one!"})
    assert reset.status_code == 400
    assert reset.json["code"] == "invalid_reset_token"
    login = {"email": "user@example.com", "password": NEW_PASSWORD}
    assert client.post("/auth/login", json=login).status_code == 200


def test_a_failed_password_change_keeps_reset_links(client, auth, smtp_server):
    tokens = auth.signup()
    token = emailed_reset_token(client, smtp_server)
    body = {"currentPassword": "wrong password", "newPassword": NEW_PASSWORD}
    assert client.post("/me/password", json=body, headers=auth.headers(tokens)).status_code == 400
    reset = client.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert reset.status_code == 200
