"""On PostgreSQL, each request makes the round trips its work needs and not one more.

Counted on the wire (tests/wire.py: libpq's protocol trace, so the driver's own BEGIN and
the pool's pings and resets are counted too), after a warm-up that opened the pool's
connection and let psycopg prepare the hot statements. A change that adds a round trip to
one of these requests fails here, with the statements sent in the message.
"""

import pytest

from app.extensions import db
from tests.support import PASSWORD
from tests.wire import RoundTrips

WARM_UP = 8  # > psycopg's prepare_threshold (5): statements are prepared by then


@pytest.fixture
def wire(app, database):
    if database != "postgres":
        pytest.skip("round trips are counted on PostgreSQL")
    with app.app_context():
        trips = RoundTrips(db.engine)
    yield trips
    trips.close()


def counted(wire: RoundTrips, request) -> list[str]:
    """The round trips of the last of WARM_UP + 1 calls of `request`, which must succeed."""
    for _ in range(WARM_UP):
        assert request().status_code < 400
    wire.take()
    assert request().status_code < 400
    return wire.take()


def test_me(wire, auth):
    tokens = auth.signup()
    trips = counted(wire, lambda: auth.me(tokens))
    assert len(trips) == 1, trips


def test_me_sessions(wire, auth, client):
    tokens = auth.signup()
    trips = counted(wire, lambda: client.get("/me/sessions", headers=auth.headers(tokens)))
    assert len(trips) == 2, trips


def test_refresh(wire, auth):
    tokens = [auth.signup()]

    def refresh():
        response = auth.refresh(tokens[-1]["refreshToken"])
        assert response.status_code == 200
        tokens.append(response.json)
        return response

    trips = counted(wire, refresh)
    assert len(trips) == 3, trips


def test_login(wire, auth):
    auth.register()
    credentials = {"email": "user@example.com", "password": PASSWORD}
    trips = counted(wire, lambda: auth.client.post("/auth/login", json=credentials))
    assert len(trips) == 2, trips


def test_logout(wire, auth, client):
    auth.register()

    def logout():
        refresh_token = auth.login()["refreshToken"]
        wire.take()  # the login's own
        response = client.post("/auth/logout", json={"refreshToken": refresh_token})
        return response

    trips = counted(wire, logout)
    assert len(trips) == 5, trips
