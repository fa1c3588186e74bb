"""Email change: POST /me/email mails a link to the new address and a notice to the old
one; POST /auth/confirm-email-change applies it. End to end through a real SMTP server."""

import hashlib
import re
from datetime import timedelta

import pytest

from app import email_change
from app.extensions import db
from app.models import EmailToken, utcnow
from tests.factories import make_user, signed_in_user
from tests.support import PASSWORD, assert_error, at_once

TEMPLATE = "https://app.example.com/confirm-email?token={token}"
LINK = re.compile(r"https://app\.example\.com/confirm-email\?token=([\w-]+)")
OLD = "old@example.com"
NEW = "new@example.com"


@pytest.fixture
def app_config(mail_config):
    return {**mail_config, "EMAIL_CHANGE_URL_TEMPLATE": TEMPLATE}


@pytest.fixture
def tokens(app, client):
    return signed_in_user(app, client, OLD, verified=True)


def ask(client, tokens, new_email=NEW, password=PASSWORD):
    return client.post(
        "/me/email",
        json={"newEmail": new_email, "password": password},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )


def confirm(client, token):
    return client.post("/auth/confirm-email-change", json={"token": token})


def mail_to(mailbox, address):
    return [message for message in mailbox.messages if message["To"] == address]


def link_token(mailbox, address=NEW):
    (message,) = mail_to(mailbox, address)
    (token,) = LINK.findall(message.get_content())
    return token


def test_change_end_to_end_through_the_mailbox(client, auth, tokens, smtp_server, audit_log):
    response = ask(client, tokens, "New@Example.com")
    assert response.status_code == 202
    assert set(response.json) == {"message"}
    # The old address is told, without a link; the new one gets the link.
    (notice,) = mail_to(smtp_server, OLD)
    assert "token=" not in notice.get_content() and not LINK.search(notice.get_content())
    assert NEW in notice.get_content()
    token = link_token(smtp_server)
    assert "1 hour" in mail_to(smtp_server, NEW)[0].get_content()
    # Nothing changes until the link is followed.
    assert auth.me(tokens).json["email"] == OLD

    response = confirm(client, token)
    assert response.status_code == 200
    assert set(response.json) == {"message"}
    # Every session ended: the address is in the access token.
    assert auth.me(tokens).status_code == 401
    assert auth.refresh(tokens["refreshToken"]).status_code == 401
    old_login = client.post("/auth/login", json={"email": OLD, "password": PASSWORD})
    assert_error(old_login, 401, "invalid_credentials")
    fresh = auth.login(NEW)
    me = auth.me(fresh).json
    assert me["email"] == NEW
    assert me["emailVerified"] is True
    events = [line["event"] for line in audit_log if line["event"].startswith("email_")]
    assert events == ["email_change_requested", "email_changed"]


def test_the_new_address_is_marked_verified(app, client, auth, smtp_server):
    tokens = signed_in_user(app, client, OLD, verified=False)
    ask(client, tokens)
    assert confirm(client, link_token(smtp_server)).status_code == 200
    assert auth.me(auth.login(NEW)).json["emailVerified"] is True


def test_only_the_hash_is_stored_with_the_new_address(app, client, tokens, smtp_server):
    ask(client, tokens)
    token = link_token(smtp_server)
    with app.app_context():
        row = db.session.scalar(db.select(EmailToken).where(EmailToken.purpose == "email_change"))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.new_email == NEW
    assert (row.expires_at - row.created_at) == timedelta(hours=1)


def test_wrong_password_changes_nothing(client, tokens, smtp_server):
    assert_error(ask(client, tokens, password="wrong password!"), 400, "invalid_credentials")
    assert smtp_server.messages == []


@pytest.mark.parametrize("new_email", [OLD, "OLD@example.com", "not an email", "", None, 7])
def test_the_same_or_an_invalid_address_is_a_validation_error(client, tokens, new_email):
    body = assert_error(ask(client, tokens, new_email), 400, "validation_error", details=True)
    assert set(body["details"]) == {"newEmail"}


def test_an_address_taken_at_the_request_is_409(app, client, tokens, smtp_server):
    make_user(app, "Taken@example.com")
    assert_error(ask(client, tokens, "taken@example.com"), 409, "email_taken")
    assert smtp_server.messages == []


def test_an_address_taken_before_the_confirmation_is_409(app, client, auth, tokens, smtp_server):
    ask(client, tokens)
    token = link_token(smtp_server)
    auth.register(NEW)  # someone registers the address in the meantime
    assert_error(confirm(client, token), 409, "email_taken")
    assert auth.login(OLD)  # the account keeps its address and may still sign in


def test_the_unique_index_has_the_last_word(client, auth, tokens, smtp_server, monkeypatch):
    """Taken after the confirmation's own check (a registration committing at that moment):
    the unique violation is the same 409, never a 500."""
    ask(client, tokens)
    token = link_token(smtp_server)
    auth.register(NEW)
    monkeypatch.setattr(email_change, "_taken", lambda email, user_id: False)
    assert_error(confirm(client, token), 409, "email_taken")
    assert auth.login(OLD)


def test_two_accounts_racing_for_one_address_one_wins(app, client, auth, smtp_server):
    first = signed_in_user(app, client, "first@example.com")
    second = signed_in_user(app, client, "second@example.com")
    ask(client, first)
    ask(client, second)
    links = LINK.findall("".join(message.get_content() for message in mail_to(smtp_server, NEW)))
    assert len(links) == 2
    answers = at_once(2, lambda i: confirm(app.test_client(), links[i]))
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "email_taken")
    assert auth.login(NEW)


@pytest.mark.parametrize("token", ["garbage", "x" * 4096])
def test_a_garbage_token_is_refused(client, token):
    assert_error(confirm(client, token), 400, "invalid_email_change_token")


def test_a_token_works_once(client, auth, tokens, smtp_server):
    ask(client, tokens)
    token = link_token(smtp_server)
    assert confirm(client, token).status_code == 200
    assert_error(confirm(client, token), 400, "invalid_email_change_token")


def test_an_expired_token_is_refused(app, client, auth, tokens, smtp_server):
    ask(client, tokens)
    with app.app_context():
        db.session.execute(db.update(EmailToken).values(expires_at=utcnow()))
        db.session.commit()
    assert_error(confirm(client, link_token(smtp_server)), 400, "invalid_email_change_token")
    assert auth.login(OLD)


def test_a_newer_request_spends_the_older_link(client, auth, tokens, smtp_server):
    ask(client, tokens)
    first = link_token(smtp_server)
    ask(client, tokens, "newer@example.com")
    assert_error(confirm(client, first), 400, "invalid_email_change_token")
    assert confirm(client, link_token(smtp_server, "newer@example.com")).status_code == 200
    assert auth.login("newer@example.com")


def test_other_tokens_are_not_email_change_tokens(app, client, smtp_server):
    """A verification link (mailed at registration) never confirms an email change."""
    client.post("/auth/register", json={"email": "fresh@example.com", "password": PASSWORD})
    (verify,) = re.findall(r"token=([\w-]+)", smtp_server.bodies()[0])
    assert_error(confirm(client, verify), 400, "invalid_email_change_token")


def test_reset_links_sent_to_the_old_address_stop_working(app, client, auth, tokens, smtp_server):
    client.post("/auth/forgot-password", json={"email": OLD})
    (reset,) = re.findall(r"reset\?token=([\w-]+)", "".join(smtp_server.bodies()))
    ask(client, tokens)
    assert confirm(client, link_token(smtp_server)).status_code == 200
    response = client.post("/auth/reset-password", json={"token": reset, "password": "x" * 12})
    assert_error(response, 400, "invalid_reset_token")


def test_the_request_needs_an_access_token(client):
    response = client.post("/me/email", json={"newEmail": NEW, "password": PASSWORD})
    assert_error(response, 401, "missing_token")


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "RATELIMIT_PASSWORD_CHECK_ACCOUNT": "2 per hour"}]
)
def test_password_guesses_are_rate_limited(client, tokens):
    for _ in range(2):
        assert ask(client, tokens, password="wrong password!").status_code == 400
    assert_error(ask(client, tokens, password="wrong password!"), 429, "rate_limited")


def test_a_password_change_spends_a_pending_link(client, auth, tokens, smtp_server):
    """Whoever knew the old password and asked for their own address loses the link."""
    ask(client, tokens)
    token = link_token(smtp_server)
    response = client.post(
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "another good passphrase"},
        headers=auth.headers(tokens),
    )
    assert response.status_code == 200
    assert_error(confirm(client, token), 400, "invalid_email_change_token")


def test_simultaneous_requests_leave_one_live_link(app, client, tokens, smtp_server):
    answers = at_once(4, lambda i: ask(app.test_client(), tokens, f"n{i}@example.com"))
    assert [answer.status_code for answer in answers] == [202] * 4
    with app.app_context():
        live = db.session.scalars(
            db.select(EmailToken).where(
                EmailToken.purpose == "email_change", EmailToken.used_at.is_(None)
            )
        ).all()
    assert len(live) == 1
