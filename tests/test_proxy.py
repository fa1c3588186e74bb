"""TRUSTED_PROXY_COUNT: X-Forwarded-For is believed only from configured proxies, and only
when it names an IP address."""

import pytest

from app.extensions import db
from app.models import LoginSession
from tests.support import PASSWORD


def login_from(client, forwarded_for):
    client.post("/auth/register", json={"email": "p@example.com", "password": PASSWORD})
    response = client.post(
        "/auth/login",
        json={"email": "p@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.status_code == 200
    return response.json


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


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_COUNT": 1}])
@pytest.mark.parametrize(
    "forwarded_for",
    ["2001:db8::" + "1" * 55, "<script>alert(1)</script>", "203.0.113.7:8080", "fe80::1%eth0"],
    ids=["65-characters", "markup", "with-port", "scoped"],
)
def test_a_forwarded_for_that_is_not_an_address_gives_way_to_the_peer(app, client, forwarded_for):
    tokens = login_from(client, forwarded_for)

    assert session_ip(app) == "10.0.0.1"
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    listed = client.get("/me/sessions", headers=bearer)
    assert [session["ip"] for session in listed.json["sessions"]] == ["10.0.0.1"]


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_COUNT": 1}])
def test_a_forwarded_address_is_stored_in_its_canonical_form(app, client):
    login_from(client, "2001:DB8:0:0::0001")
    assert session_ip(app) == "2001:db8::1"
