"""Round trips to PostgreSQL per request, counted as tests/test_round_trips.py counts them.

In this process, on the small store, through Flask's test client: the same apps that
gunicorn serves, their connections traced by libpq (tests/wire.py), each request counted
after a warm-up (psycopg prepares the statements it sees often). A round trip is what the
latency between the service and its database multiplies: the column says why one
endpoint can be faster than another before any of them is measured.
"""

from collections.abc import Callable

from flask import Flask
from flask_jwt_extended import create_access_token

from app.extensions import db
from bench import store
from bench.fje import create_fje_app
from bench.reference import create_reference_app
from tests.wire import RoundTrips

WARM_UP = 8  # > psycopg's prepare_threshold (5)


def count(database_url: str, secret: str, user_id: int, email: str) -> dict[str, int]:
    """Round trips of the phases of a round, and of login, keyed like bench's phases, for
    the client account `user_id`, `email`."""
    service = create_reference_app({"DATABASE_URL": database_url})
    credentials = {"email": email, "password": store.PASSWORD}
    client = service.test_client()
    wire = _traced(service)
    tokens = [client.post("/auth/login", json=credentials).json]

    def refresh():
        answer = client.post("/auth/refresh", json={"refreshToken": tokens[-1]["refreshToken"]})
        tokens.append(answer.json)
        return answer

    trips = {
        "reference": _counted(wire, lambda: client.get(f"/bench/users/{user_id}")),
        "me": _counted(wire, lambda: client.get("/me", headers=_bearer(tokens[0]))),
        "refresh": _counted(wire, refresh),
        "login": _counted(wire, lambda: client.post("/auth/login", json=credentials)),
    }
    _dispose(service, wire)

    fje = create_fje_app(database_url, secret)
    with fje.app_context():
        token = create_access_token(identity=str(user_id))
    wire = _traced(fje)
    trips["fje_me"] = _counted(wire, lambda: fje.test_client().get("/me", headers=_bearer(token)))
    _dispose(fje, wire)
    return trips


def _traced(app: Flask) -> RoundTrips:
    with app.app_context():
        return RoundTrips(db.engine)


def _counted(wire: RoundTrips, request: Callable) -> int:
    for _ in range(WARM_UP):
        assert request().status_code == 200
    wire.take()
    assert request().status_code == 200
    return len(wire.take())


def _bearer(token) -> dict[str, str]:
    access = token["accessToken"] if isinstance(token, dict) else token
    return {"Authorization": f"Bearer {access}"}


def _dispose(app: Flask, wire: RoundTrips) -> None:
    with app.app_context():
        db.engine.dispose()
    wire.close()
