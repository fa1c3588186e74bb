"""Email verification: the mail sent at registration, verify-email, resend-verification,
and REQUIRE_EMAIL_VERIFICATION."""

import hashlib
import logging
import re
from datetime import timedelta

import pytest

from app.auth.verify import resend_quietly
from app.config import load_config
from app.extensions import db
from app.models import EmailToken, utcnow
from tests.factories import make_user, update_user
from tests.support import PASSWORD, at_once

TEMPLATE = "https://app.example.com/verify?token={token}"
LINK = re.compile(r"https://app\.example\.com/verify\?token=([\w-]+)")
REQUIRED = {"REQUIRE_EMAIL_VERIFICATION": True}


@pytest.fixture
def app_config(mail_config):
    return {**mail_config, "VERIFY_URL_TEMPLATE": TEMPLATE}


def tokens_in(mailbox):
    return [match for body in mailbox.bodies() for match in LINK.findall(body)]


def verify(client, token):
    return client.post("/auth/verify-email", json={"token": token})


def resend(client, auth, tokens):
    return client.post("/auth/resend-verification", headers=auth.headers(tokens))


def expire_cooldown(app):
    """Pretend every verification link was sent long ago."""
    with app.app_context():
        db.session.execute(
            db.update(EmailToken).values(created_at=utcnow() - timedelta(minutes=10))
        )
        db.session.commit()


def test_registration_mails_a_verification_link(smtp_server, auth):
    auth.register("New@Example.com")
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "new@example.com"
    assert "verify" in message["Subject"].lower() or "confirm" in message["Subject"].lower()
    assert "48 hours" in message.get_content()
    assert len(tokens_in(smtp_server)) == 1


def test_only_the_hash_of_the_token_is_stored(app, smtp_server, auth):
    auth.register()
    (token,) = tokens_in(smtp_server)
    with app.app_context():
        row = db.session.scalar(db.select(EmailToken))
    assert row.purpose == "verify"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash


def test_verifying_marks_the_account_verified(client, smtp_server, auth):
    tokens = auth.signup()
    assert auth.me(tokens).json["emailVerified"] is False
    (token,) = tokens_in(smtp_server)
    response = verify(client, token)
    assert response.status_code == 200
    assert set(response.json) == {"message"}
    assert auth.me(tokens).json["emailVerified"] is True


def test_verifying_is_audited(client, smtp_server, auth, audit_log):
    auth.register()
    (token,) = tokens_in(smtp_server)
    assert verify(client, token).status_code == 200
    assert (audit_log[-1]["event"], audit_log[-1]["user_id"]) == ("email_verified", 1)
    assert verify(client, token).status_code == 400
    assert [line["event"] for line in audit_log].count("email_verified") == 1


def test_a_verification_token_works_once(client, smtp_server, auth):
    auth.register()
    (token,) = tokens_in(smtp_server)
    assert verify(client, token).status_code == 200
    again = verify(client, token)
    assert again.status_code == 400
    assert again.json["code"] == "invalid_verification_token"


def test_an_expired_verification_token_is_refused(app, client, smtp_server, auth):
    tokens = auth.signup()
    (token,) = tokens_in(smtp_server)
    with app.app_context():
        db.session.execute(db.update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = verify(client, token)
    assert response.status_code == 400
    assert response.json["code"] == "invalid_verification_token"
    assert auth.me(tokens).json["emailVerified"] is False


def test_verification_token_lives_verify_token_ttl(app, smtp_server, auth):
    auth.register()
    with app.app_context():
        row = db.session.scalar(db.select(EmailToken))
    assert row.expires_at - row.created_at == timedelta(seconds=172800)


def test_verifying_spends_the_other_links_of_the_user(app, client, smtp_server, auth):
    tokens = auth.signup()
    expire_cooldown(app)
    assert resend(client, auth, tokens).status_code == 202
    first, second = tokens_in(smtp_server)
    assert verify(client, second).status_code == 200
    assert verify(client, first).json["code"] == "invalid_verification_token"


@pytest.mark.parametrize(
    "body",
    [{"token": "nope"}, {"token": "x" * 4096}],
)
def test_unknown_verification_tokens_are_refused(client, body):
    response = client.post("/auth/verify-email", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "invalid_verification_token"


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": 5}, {"token": "x" * 4097}])
def test_malformed_verify_bodies_are_validation_errors(client, body):
    response = client.post("/auth/verify-email", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"


def test_a_reset_token_is_not_a_verification_token(client, smtp_server, auth):
    auth.register()
    smtp_server.messages.clear()
    client.post("/auth/forgot-password", json={"email": "user@example.com"})
    reset_token = re.search(r"token=([\w-]+)", smtp_server.bodies()[0]).group(1)
    assert verify(client, reset_token).json["code"] == "invalid_verification_token"


def test_a_verification_token_is_not_a_reset_token(client, smtp_server, auth):
    auth.register()
    (token,) = tokens_in(smtp_server)
    response = client.post(
        "/auth/reset-password", json={"token": token, "password": "another long passphrase"}
    )
    assert response.json["code"] == "invalid_reset_token"


def test_a_verification_token_is_not_an_access_token(client, smtp_server, auth):
    auth.register()
    (token,) = tokens_in(smtp_server)
    response = client.get("/me", headers=auth.headers(token))
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_resend_sends_a_new_working_link(app, client, smtp_server, auth):
    tokens = auth.signup()
    expire_cooldown(app)
    response = resend(client, auth, tokens)
    assert response.status_code == 202
    assert set(response.json) == {"message"}
    assert len(smtp_server.messages) == 2
    assert verify(client, tokens_in(smtp_server)[-1]).status_code == 200


def test_resend_within_the_interval_is_rate_limited(app, client, smtp_server, auth):
    tokens = auth.signup()
    response = resend(client, auth, tokens)
    assert response.status_code == 429
    assert response.json["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(smtp_server.messages) == 1
    expire_cooldown(app)
    assert resend(client, auth, tokens).status_code == 202


@pytest.mark.parametrize("app_config", [{"VERIFY_RESEND_INTERVAL": 0}])
def test_resend_interval_zero_turns_the_cooldown_off(client, auth):
    tokens = auth.signup()
    assert resend(client, auth, tokens).status_code == 202
    assert resend(client, auth, tokens).status_code == 202


def resend_at_once(app, auth, tokens, count=6):
    statuses = at_once(count, lambda _: resend(app.test_client(), auth, tokens).status_code)
    return sorted(statuses)


def test_simultaneous_resends_send_one_mail(app, smtp_server, auth):
    tokens = auth.signup()
    for _round in range(3):  # a lost race is likely, not certain, in one round
        expire_cooldown(app)
        smtp_server.messages.clear()
        assert resend_at_once(app, auth, tokens) == [202] + [429] * 5
        assert len(smtp_server.messages) == 1


def test_resend_for_a_verified_address_sends_nothing(client, smtp_server, auth):
    tokens = auth.signup()
    verify(client, tokens_in(smtp_server)[0])
    response = resend(client, auth, tokens)
    assert response.status_code == 202
    assert "already verified" in response.json["message"]
    assert len(smtp_server.messages) == 1


def test_resend_with_a_bad_token_is_refused(client, auth):
    response = client.post("/auth/resend-verification", headers=auth.headers("not-a-jwt"))
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_resend_by_email_answers_the_same_for_any_account(app, client, smtp_server, auth):
    auth.register("known@example.com")
    expire_cooldown(app)
    smtp_server.messages.clear()
    known = client.post("/auth/resend-verification", json={"email": "Known@example.com"})
    unknown = client.post("/auth/resend-verification", json={"email": "who@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json
    assert [m["To"] for m in smtp_server.messages] == ["known@example.com"]
    # within the interval: the same answer again, and no mail
    again = client.post("/auth/resend-verification", json={"email": "known@example.com"})
    assert again.status_code == 202
    assert again.json == known.json
    assert len(smtp_server.messages) == 1


def test_resend_by_email_skips_disabled_and_verified_accounts(app, client, smtp_server, auth):
    auth.register("off@example.com")
    auth.register("done@example.com")
    update_user(app, "off@example.com", disabled=True)
    update_user(app, "done@example.com", email_verified=True)
    expire_cooldown(app)
    smtp_server.messages.clear()
    for email in ("off@example.com", "done@example.com"):
        response = client.post("/auth/resend-verification", json={"email": email})
        assert response.status_code == 202
    assert smtp_server.messages == []


def test_a_resend_job_for_an_account_disabled_meanwhile_sends_nothing(app, smtp_server, auth):
    """The anonymous resend leaves the link to a background job; disabling the account
    before it runs spent the user's links, and the job must not make a new one."""
    auth.register()
    expire_cooldown(app)
    smtp_server.messages.clear()
    update_user(app, disabled=True)
    with app.app_context():
        resend_quietly(1)
    assert smtp_server.messages == []


@pytest.mark.parametrize("body", [{}, {"email": "not an email"}, {"email": 3}])
def test_resend_by_email_validates_the_body(client, body):
    response = client.post("/auth/resend-verification", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"


@pytest.mark.parametrize("app_config", [{"MAIL_BACKEND": "smtp", "SMTP_PORT": 1}])
def test_a_mail_failure_does_not_fail_registration(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.post(
            "/auth/register", json={"email": "new@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201
    assert "mail to new@example.com lost after" in caplog.text
    assert "token=" not in caplog.text


def login(client, email="user@example.com", password=PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


def test_by_default_an_unverified_account_logs_in(client, auth):
    auth.register()
    assert login(client).status_code == 200


@pytest.mark.parametrize("app_config", [REQUIRED])
def test_required_verification_refuses_unverified_login(client, auth):
    auth.register()
    response = login(client)
    assert response.status_code == 403
    assert response.json["code"] == "email_unverified"
    wrong = login(client, password="wrong password")
    assert wrong.status_code == 401
    assert wrong.json["code"] == "invalid_credentials"


@pytest.mark.parametrize("app_config", [REQUIRED])
def test_required_verification_admits_a_verified_account(app, client):
    make_user(app, verified=True)
    assert login(client).status_code == 200


def test_required_verification_then_the_link_lets_the_user_in(app, client, smtp_server, auth):
    auth.register()
    app.config["REQUIRE_EMAIL_VERIFICATION"] = True
    assert login(client).json["code"] == "email_unverified"
    # the user cannot log in, so asks for a new link by email
    expire_cooldown(app)
    client.post("/auth/resend-verification", json={"email": "user@example.com"})
    assert verify(client, tokens_in(smtp_server)[-1]).status_code == 200
    assert login(client).status_code == 200


def test_turning_verification_on_stops_refreshes_of_unverified_sessions(app, auth):
    tokens = auth.signup()
    app.config["REQUIRE_EMAIL_VERIFICATION"] = True
    response = auth.refresh(tokens["refreshToken"])
    assert response.status_code == 403
    assert response.json["code"] == "email_unverified"
    # the access token still works until it expires, so the user can ask for a link
    assert auth.me(tokens).status_code == 200
    app.config["REQUIRE_EMAIL_VERIFICATION"] = False
    assert auth.refresh(tokens["refreshToken"]).status_code == 200


def test_verification_settings_are_read_from_the_environment():
    config = load_config(
        environ={
            "APP_ENV": "testing",
            "REQUIRE_EMAIL_VERIFICATION": "true",
            "VERIFY_TOKEN_TTL": "3600",
            "VERIFY_RESEND_INTERVAL": "0",
            "VERIFY_URL_TEMPLATE": TEMPLATE,
        }
    )
    assert config["REQUIRE_EMAIL_VERIFICATION"] is True
    assert (config["VERIFY_TOKEN_TTL"], config["VERIFY_RESEND_INTERVAL"]) == (3600, 0)
    assert config["VERIFY_URL_TEMPLATE"] == TEMPLATE
    defaults = load_config(environ={"APP_ENV": "testing"})
    assert defaults["REQUIRE_EMAIL_VERIFICATION"] is False
    assert defaults["VERIFY_TOKEN_TTL"] == 172800
