"""The background sender: mail leaves the request path, failures are retried, not lost."""

import logging

import pytest
from sqlalchemy import event

from app.extensions import db
from app.outbox import send_mail

FORGOT = "/auth/forgot-password"


@pytest.fixture
def app_config(mail_config):
    return {**mail_config, "MAIL_ASYNC": True, "MAIL_RETRY_DELAYS": [0, 0]}


def test_reset_mail_is_sent_in_the_background(app, client, auth, smtp_server):
    auth.register()
    response = client.post(FORGOT, json={"email": "user@example.com"})
    assert response.status_code == 200
    assert app.extensions["outbox"].wait_idle(10)
    resets = [body for body in smtp_server.bodies() if "reset?token=" in body]
    assert len(resets) == 1


def statements_during(app, request):
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement.split()[0].upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_known_and_unknown_emails_do_the_same_work_on_the_request_path(
    app, client, auth, monkeypatch
):
    """Equal timing by construction: one SELECT either way; the insert and mail are queued."""
    auth.register()
    queued = []
    monkeypatch.setattr(app.extensions["outbox"], "submit", lambda *job: queued.append(job))
    known = statements_during(app, lambda: client.post(FORGOT, json={"email": "user@example.com"}))
    unknown = statements_during(app, lambda: client.post(FORGOT, json={"email": "x@example.com"}))
    assert known == unknown == ["SELECT"]
    assert len(queued) == 1


@pytest.mark.parametrize("mail_async", [True, False])
def test_failed_delivery_is_retried(app, smtp_server, mail_async, caplog):
    app.config["MAIL_ASYNC"] = mail_async
    smtp_server.refuse = 2
    with app.app_context():
        send_mail("user@example.com", "Hello", "body with secret-token-123")
    assert app.extensions["outbox"].wait_idle(10)
    assert len(smtp_server.messages) == 1
    warnings = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(warnings) == 2
    assert "secret-token-123" not in caplog.text


def test_delivery_that_keeps_failing_is_logged_as_lost(app, caplog):
    from tests.support import free_port

    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    with caplog.at_level(logging.WARNING), app.app_context():
        send_mail("user@example.com", "Hello", "body with secret-token-123")
    assert app.extensions["outbox"].wait_idle(10)
    lost = [r for r in caplog.records if "lost after 3 attempts" in r.getMessage()]
    assert len(lost) == 1
    assert "secret-token-123" not in caplog.text
