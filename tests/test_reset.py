"""Forgot and reset password, with the mail delivered to a real SMTP server.

A reset token travels only in the emailed link, is stored only as its SHA-256, works once
and until it expires, and never stands in for an access or a refresh token.
"""

import hashlib
import logging
from datetime import timedelta
from unittest.mock import ANY

import pytest
import sqlalchemy as sa

from app import email_tokens
from app.extensions import db
from app.models import EmailToken, utcnow
from app.reset.routes import send_reset_link
from tests.factories import make_user
from tests.support import PASSWORD, AuthActions, free_port, token_in

EMAIL = "user@example.com"
NEW_PASSWORD = "a brand new passphrase"
DEFAULT_TEMPLATE = "http://localhost:5000/reset?token={token}"


@pytest.fixture
def reset_settings():
    """Settings one test adds to the SMTP ones (parametrize it to change them)."""
    return {}


@pytest.fixture
def app_config(mail_config, reset_settings):
    return {**mail_config, **reset_settings}


class ResetAuth(AuthActions):
    """Registration also mails a verification link; these tests count reset mails only."""

    def __init__(self, client, mailbox):
        super().__init__(client)
        self.mailbox = mailbox

    def register(self, *args, **kwargs):
        registered = super().register(*args, **kwargs)
        self.mailbox.messages.clear()
        return registered


@pytest.fixture
def reset_auth(client, smtp_server):
    return ResetAuth(client, smtp_server)


def reset_tokens():
    return sa.select(EmailToken).where(EmailToken.purpose == "reset")


def forgot(client, email=EMAIL):
    return client.post("/auth/forgot-password", json={"email": email})


def reset(client, token, password=NEW_PASSWORD):
    return client.post("/auth/reset-password", json={"token": token, "password": password})


def login(client, password, email=EMAIL):
    return client.post("/auth/login", json={"email": email, "password": password})


def mailed_token(client, smtp_server, email=EMAIL):
    """Ask for a reset of `email` and return the token of the link in the newest mail."""
    assert forgot(client, email).status_code == 200
    return token_in(smtp_server.bodies()[-1], DEFAULT_TEMPLATE)


def assert_invalid_reset_token(response):
    assert response.status_code == 400
    assert response.json == {"error": ANY, "code": "invalid_reset_token"}


def test_forgot_password_mails_one_reset_link(reset_auth, smtp_server):
    reset_auth.register()

    response = forgot(reset_auth.client)

    assert response.status_code == 200
    assert response.json == {"message": "If that account exists, a reset link was sent"}
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == EMAIL
    assert message["Subject"]
    assert token_in(message.get_content(), DEFAULT_TEMPLATE)


@pytest.mark.parametrize(
    "reset_settings",
    [{"RESET_URL_TEMPLATE": "https://app.example.com/account/reset/{token}?from=mail"}],
    ids=["custom-template"],
)
def test_reset_link_follows_the_configured_template(reset_auth, smtp_server, reset_settings):
    reset_auth.register()
    forgot(reset_auth.client)

    token = token_in(smtp_server.bodies()[0], reset_settings["RESET_URL_TEMPLATE"])

    assert "localhost:5000" not in smtp_server.bodies()[0]
    assert reset(reset_auth.client, token).status_code == 200


def test_forgot_password_does_not_reveal_whether_the_account_exists(reset_auth, smtp_server):
    reset_auth.register()

    unknown = forgot(reset_auth.client, "nobody@example.com")
    known = forgot(reset_auth.client, EMAIL)

    assert unknown.status_code == known.status_code == 200
    assert unknown.get_data() == known.get_data()
    assert [message["To"] for message in smtp_server.messages] == [EMAIL]


def test_forgot_password_matches_the_email_case_insensitively(reset_auth, smtp_server):
    reset_auth.register()

    forgot(reset_auth.client, "User@EXAMPLE.com")

    assert [message["To"] for message in smtp_server.messages] == [EMAIL]


def test_only_the_hash_of_the_reset_token_is_stored(app, reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)

    with app.app_context():
        rows = db.session.execute(
            sa.select(EmailToken.__table__).where(EmailToken.purpose == "reset")
        ).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in rows[0])


@pytest.mark.parametrize("reset_settings", [{"RESET_TOKEN_TTL": 120}], ids=["ttl-120"])
def test_reset_token_lives_for_reset_token_ttl(app, reset_auth, smtp_server):
    reset_auth.register()
    mailed_token(reset_auth.client, smtp_server)

    with app.app_context():
        row = db.session.scalars(reset_tokens()).one()
    assert row.expires_at - row.created_at == timedelta(seconds=120)
    assert "within 2 minutes" in smtp_server.bodies()[0]


def test_reset_password_sets_the_new_password(reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)

    response = reset(reset_auth.client, token)

    assert response.status_code == 200
    assert response.json == {"message": "Password updated"}
    assert login(reset_auth.client, NEW_PASSWORD).status_code == 200
    old = login(reset_auth.client, PASSWORD)
    assert old.status_code == 401
    assert old.json == {"error": ANY, "code": "invalid_credentials"}


def test_reset_password_ends_every_session(reset_auth, smtp_server):
    reset_auth.register()
    laptop, phone = reset_auth.login(), reset_auth.login()
    token = mailed_token(reset_auth.client, smtp_server)

    assert reset(reset_auth.client, token).status_code == 200

    for tokens in (laptop, phone):
        refreshed = reset_auth.refresh(tokens["refreshToken"])
        assert refreshed.status_code == 401
        assert refreshed.json == {"error": ANY, "code": "token_revoked"}
        me = reset_auth.me(tokens)
        assert me.status_code == 401
        assert me.json == {"error": ANY, "code": "token_revoked"}


def test_reset_token_works_once(reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)
    assert reset(reset_auth.client, token).status_code == 200

    again = reset(reset_auth.client, token, "yet another passphrase")

    assert_invalid_reset_token(again)
    assert login(reset_auth.client, NEW_PASSWORD).status_code == 200


def test_expired_reset_token_is_refused(app, reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)
    with app.app_context():
        db.session.execute(sa.update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    assert_invalid_reset_token(reset(reset_auth.client, token))
    assert login(reset_auth.client, PASSWORD).status_code == 200


def test_using_a_newer_reset_token_spends_the_older_one(reset_auth, smtp_server):
    reset_auth.register()
    older = mailed_token(reset_auth.client, smtp_server)
    newer = mailed_token(reset_auth.client, smtp_server)
    assert older != newer

    assert reset(reset_auth.client, newer).status_code == 200

    assert_invalid_reset_token(reset(reset_auth.client, older, "yet another passphrase"))


@pytest.mark.parametrize(
    "token",
    ["garbage", "x" * 4096, "0" * 43, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"],
    ids=["word", "longest-allowed", "token-shaped", "jwt-shaped"],
)
def test_unknown_reset_token_is_refused(reset_auth, token):
    reset_auth.register()

    assert_invalid_reset_token(reset(reset_auth.client, token))
    assert login(reset_auth.client, PASSWORD).status_code == 200


@pytest.mark.parametrize("kind", ["accessToken", "refreshToken"])
def test_access_and_refresh_tokens_are_not_reset_tokens(reset_auth, kind):
    tokens = reset_auth.signup()

    assert_invalid_reset_token(reset(reset_auth.client, tokens[kind]))


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"token", "password"}),
        ({"password": NEW_PASSWORD}, {"token"}),
        ({"token": "some-token"}, {"password"}),
        ({"token": "", "password": NEW_PASSWORD}, {"token"}),
    ],
    ids=["empty", "no-token", "no-password", "empty-token"],
)
def test_reset_password_requires_token_and_password(client, body, fields):
    response = client.post("/auth/reset-password", json=body)

    assert response.status_code == 400
    assert response.json == {"error": ANY, "code": "validation_error", "details": ANY}
    assert set(response.json["details"]) == fields


WEAK_PASSWORDS = {
    "too-short": "short12",
    "over-72-utf8-bytes": "é" * 37,
    "same-as-email": EMAIL.upper(),
}


@pytest.mark.parametrize("password", WEAK_PASSWORDS.values(), ids=WEAK_PASSWORDS.keys())
def test_reset_refuses_a_weak_password_without_spending_the_token(
    reset_auth, smtp_server, password
):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)

    refused = reset(reset_auth.client, token, password)

    assert refused.status_code == 400
    assert refused.json == {"error": ANY, "code": "validation_error", "details": ANY}
    assert refused.json["details"]["password"]
    assert login(reset_auth.client, PASSWORD).status_code == 200
    assert reset(reset_auth.client, token).status_code == 200


def test_reset_token_is_not_an_access_token(reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)

    response = reset_auth.me(token)

    assert response.status_code == 401
    assert response.json == {"error": ANY, "code": "invalid_token"}


def test_reset_token_is_not_a_refresh_token(reset_auth, smtp_server):
    reset_auth.register()
    token = mailed_token(reset_auth.client, smtp_server)

    response = reset_auth.refresh(token)

    assert response.status_code == 401
    assert response.json == {"error": ANY, "code": "invalid_token"}


def test_forgot_password_hides_a_mail_server_outage(app, reset_auth, caplog, monkeypatch):
    reset_auth.register()
    issued = []
    real_issue = email_tokens.issue

    def issue_and_remember(*args, **kwargs):
        issued.append(real_issue(*args, **kwargs))
        return issued[-1]

    monkeypatch.setattr(email_tokens, "issue", issue_and_remember)
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    caplog.set_level(logging.DEBUG)

    down = forgot(reset_auth.client)

    assert down.status_code == 200
    assert down.get_data() == forgot(reset_auth.client, "nobody@example.com").get_data()
    assert len(issued) == 1
    assert any(record.levelno >= logging.ERROR for record in caplog.records)
    assert issued[0] not in caplog.text


def test_disabled_account_gets_no_reset_mail(app, reset_auth, smtp_server):
    make_user(app, disabled=True)

    response = forgot(reset_auth.client)

    assert response.status_code == 200
    assert response.get_data() == forgot(reset_auth.client, "nobody@example.com").get_data()
    assert smtp_server.messages == []
    with app.app_context():
        assert db.session.scalars(reset_tokens()).all() == []


def test_a_reset_link_job_for_an_account_disabled_meanwhile_sends_nothing(
    app, reset_auth, smtp_server
):
    """forgot-password leaves the link to a background job; disabling the account before
    it runs spent the user's links, and the job must not make a new one."""
    make_user(app, disabled=True)
    with app.app_context():
        send_reset_link(1)
        assert db.session.scalars(reset_tokens()).all() == []
    assert smtp_server.messages == []
