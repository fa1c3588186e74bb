"""app.mail.deliver: SMTP delivery to a real aiosmtpd server, SMTP login, failures, console.

No database is involved, so these tests build their own app and run once.
"""

import logging

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.mail import MailError, build, deliver
from tests.support import Mailbox, free_port, make_app

SUBJECT = "Reset your password"
BODY = "Grüße! Open https://app.example.com/reset?token=abc within 15 minutes.\n"


def mail_app(**settings):
    settings = {"MAIL_FROM": "Auth Service <auth@example.com>", "SMTP_TIMEOUT": 5, **settings}
    return make_app("sqlite://", **settings)


def send(app, to="user@example.com"):
    with app.app_context():
        deliver(build(to, SUBJECT, BODY))


class Authenticator:
    """An aiosmtpd authenticator that accepts one login and records every attempt."""

    def __init__(self, login: bytes, password: bytes):
        self.expected = LoginPassword(login, password)
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.seen.append(auth_data)
        return AuthResult(success=auth_data == self.expected, handled=False)


@pytest.fixture
def authenticating_server():
    """An SMTP server that requires AUTH (over plain TCP: there is no TLS in the tests)."""
    mailbox = Mailbox()
    mailbox.authenticator = Authenticator(b"mailer", b"s3cret pass")
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=mailbox.authenticator,
        auth_require_tls=False,
    )
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


def test_smtp_backend_delivers_from_to_subject_and_body(mail_config, smtp_server):
    send(mail_app(**mail_config))

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["From"] == "Auth Service <auth@example.com>"
    assert message["To"] == "user@example.com"
    assert message["Subject"] == SUBJECT
    assert message.get_content().replace("\r\n", "\n") == BODY


def test_smtp_backend_logs_in_when_a_username_is_set(authenticating_server):
    app = mail_app(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=authenticating_server.port,
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="s3cret pass",
    )

    send(app)

    assert authenticating_server.authenticator.seen == [LoginPassword(b"mailer", b"s3cret pass")]
    assert len(authenticating_server.messages) == 1


def test_smtp_backend_does_not_log_in_without_a_username(authenticating_server):
    app = mail_app(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=authenticating_server.port)

    send(app)

    assert authenticating_server.authenticator.seen == []
    assert len(authenticating_server.messages) == 1


def test_rejected_smtp_login_raises_mail_error(authenticating_server):
    app = mail_app(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=authenticating_server.port,
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="wrong password",
    )

    with pytest.raises(MailError):
        send(app)
    assert authenticating_server.messages == []


def test_refused_connection_raises_mail_error():
    app = mail_app(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())

    with pytest.raises(MailError):
        send(app)


def test_required_starttls_is_never_skipped(mail_config, smtp_server):
    """A server that does not offer STARTTLS gets nothing rather than a message in clear."""
    app = mail_app(**mail_config, SMTP_STARTTLS=True)

    with pytest.raises(MailError):
        send(app)
    assert smtp_server.messages == []


def test_console_backend_logs_the_message(caplog, monkeypatch):
    app = mail_app(MAIL_BACKEND="console", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    caplog.set_level(logging.INFO, logger=app.logger.name)

    send(app)

    assert "user@example.com" in caplog.text
    assert SUBJECT in caplog.text
    assert BODY.strip() in caplog.text
