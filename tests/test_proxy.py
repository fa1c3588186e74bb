"""TRUSTED_PROXY_COUNT: X-Forwarded-For is believed only from configured proxies."""

import pytest

from app.extensions import db
from app.models import LoginSession
from tests.conftest import PASSWORD


def login_from(client, forwarded_for):
    client.post("/auth/register", json={"email": "p@example.com", "password": PASSWORD})
    response = client.post(
        "/auth/login",
        json={"email": "p@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.status_code == 200


def session_ip(app):
    with app.app_context():
        return db.session.scalar(db.select(LoginSession.ip))


def test_forwarded_for_is_ignored_by_default(app, client):
    login_from(client, "203.0.113.7")
    assert session_ip(app) == "10.0.0.1"


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_COUNT": 1}])
def test_forwarded_for_is_believed_from_one_trusted_proxy(app, client):
    login_from(client, "198.51.100.1, 203.0.113.7")
    assert session_ip(app) == "203.0.113.7"
