"""GET /me/sessions, DELETE /me/sessions/{id} and POST /auth/logout-all."""

from datetime import datetime, timedelta

import jwt
import pytest

from app.extensions import db
from app.models import LoginSession, RefreshToken, utcnow
from tests.support import PASSWORD


def sign_in(client, agent, email="user@example.com"):
    """Log in as a client that names itself `agent`; return the token pair."""
    response = client.post(
        "/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.json
    return response.json


def session_id(tokens):
    return jwt.decode(tokens["accessToken"], options={"verify_signature": False})["sid"]


def moment(text):
    return datetime.fromisoformat(text)


def listed(client, auth, tokens):
    response = client.get("/me/sessions", headers=auth.headers(tokens))
    assert response.status_code == 200, response.json
    return response.json["sessions"]


def end(client, auth, tokens, sid):
    return client.delete(f"/me/sessions/{sid}", headers=auth.headers(tokens))


@pytest.fixture
def devices(client, auth):
    """One user signed in on a phone, then a laptop, then a tablet."""
    auth.register()
    return {agent: sign_in(client, agent) for agent in ("phone", "laptop", "tablet")}


def test_sessions_lists_every_live_session_newest_first(client, auth, devices):
    sessions = listed(client, auth, devices["laptop"])
    assert [s["userAgent"] for s in sessions] == ["tablet", "laptop", "phone"]
    assert [s["id"] for s in sessions] == [
        session_id(devices[agent]) for agent in ("tablet", "laptop", "phone")
    ]
    for entry in sessions:
        assert set(entry) == {"id", "createdAt", "lastUsedAt", "userAgent", "ip", "current"}
        assert entry["ip"] == "127.0.0.1"
        assert moment(entry["createdAt"]).tzinfo is not None
        assert entry["createdAt"].endswith("Z")
    assert [s["current"] for s in sessions] == [False, True, False]


def test_sessions_marks_the_callers_own_session(client, auth, devices):
    sessions = listed(client, auth, devices["phone"])
    assert [s["userAgent"] for s in sessions if s["current"]] == ["phone"]


def test_refresh_updates_last_used_and_keeps_the_session(app, client, auth, devices):
    with app.app_context():
        db.session.execute(
            db.update(LoginSession).values(last_used_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    fresh = auth.refresh(devices["phone"]["refreshToken"]).json
    sessions = {s["userAgent"]: s for s in listed(client, auth, fresh)}
    assert len(sessions) == 3
    phone, laptop = sessions["phone"], sessions["laptop"]
    assert phone["id"] == session_id(devices["phone"])
    assert moment(phone["lastUsedAt"]) > moment(phone["createdAt"])
    assert moment(laptop["lastUsedAt"]) < moment(laptop["createdAt"])


def test_ended_sessions_are_not_listed(app, client, auth, devices):
    client.post("/auth/logout", json={"refreshToken": devices["phone"]["refreshToken"]})
    with app.app_context():
        db.session.execute(
            db.update(LoginSession)
            .where(LoginSession.id == session_id(devices["tablet"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert [s["userAgent"] for s in listed(client, auth, devices["laptop"])] == ["laptop"]


def test_an_idle_session_whose_refresh_token_expired_is_not_listed(app, client, auth, devices):
    with app.app_context():
        db.session.execute(
            db.update(RefreshToken)
            .where(RefreshToken.session_id == session_id(devices["phone"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    agents = [s["userAgent"] for s in listed(client, auth, devices["laptop"])]
    assert agents == ["tablet", "laptop"]
    assert end(client, auth, devices["laptop"], session_id(devices["phone"])).status_code == 404


def test_a_user_sees_only_their_own_sessions(client, auth, devices):
    auth.register("eve@example.com")
    eve = sign_in(client, "eve", "eve@example.com")
    assert [s["userAgent"] for s in listed(client, auth, eve)] == ["eve"]
    assert len(listed(client, auth, devices["phone"])) == 3


def test_ending_a_session_stops_its_refresh_and_access_tokens(client, auth, devices):
    response = end(client, auth, devices["laptop"], session_id(devices["phone"]))
    assert response.status_code == 204
    assert response.data == b""
    assert auth.me(devices["phone"]).json["code"] == "token_revoked"
    assert auth.refresh(devices["phone"]["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(devices["laptop"]).status_code == 200
    assert auth.refresh(devices["tablet"]["refreshToken"]).status_code == 200
    assert [s["userAgent"] for s in listed(client, auth, devices["laptop"])] == [
        "tablet",
        "laptop",
    ]


def test_ending_the_callers_own_session_signs_it_out(client, auth, devices):
    assert end(client, auth, devices["phone"], session_id(devices["phone"])).status_code == 204
    assert auth.me(devices["phone"]).json["code"] == "token_revoked"
    assert auth.me(devices["laptop"]).status_code == 200


def test_another_users_session_is_not_found_and_stays_alive(client, auth, devices):
    auth.register("eve@example.com")
    eve = sign_in(client, "eve", "eve@example.com")
    victim = session_id(devices["phone"])

    attempt = end(client, auth, eve, victim)
    unknown = end(client, auth, eve, "0" * 32)
    assert attempt.status_code == unknown.status_code == 404
    assert (
        attempt.json == unknown.json == {"error": "There is no such session.", "code": "not_found"}
    )
    assert auth.me(devices["phone"]).status_code == 200
    assert auth.refresh(devices["phone"]["refreshToken"]).status_code == 200


def test_an_ended_session_cannot_be_ended_twice(client, auth, devices):
    sid = session_id(devices["phone"])
    assert end(client, auth, devices["laptop"], sid).status_code == 204
    again = end(client, auth, devices["laptop"], sid)
    assert again.status_code == 404
    assert again.json["code"] == "not_found"


@pytest.mark.parametrize(
    "sid",
    ["nope", "%00" * 16, "A" * 32, "g" * 32, "0" * 33, "x" * 3000, "%E2%98%83", "1%27--"],
)
def test_malformed_session_ids_are_not_found(client, auth, devices, sid):
    response = end(client, auth, devices["phone"], sid)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert len(listed(client, auth, devices["phone"])) == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me/sessions"), ("DELETE", "/me/sessions/" + "0" * 32), ("POST", "/auth/logout-all")],
)
def test_session_routes_require_an_access_token(client, auth, method, path):
    tokens = auth.signup()
    missing = client.open(path, method=method)
    assert missing.status_code == 401
    assert missing.json["code"] == "missing_token"
    with_refresh = client.open(path, method=method, headers=auth.headers(tokens["refreshToken"]))
    assert with_refresh.status_code == 401
    assert with_refresh.json["code"] == "invalid_token"


def test_logout_all_ends_every_session_of_the_caller_only(client, auth, devices):
    auth.register("eve@example.com")
    eve = sign_in(client, "eve", "eve@example.com")
    response = client.post("/auth/logout-all", headers=auth.headers(devices["tablet"]))
    assert response.status_code == 204
    assert response.data == b""
    for tokens in devices.values():
        assert auth.me(tokens).json["code"] == "token_revoked"
        assert auth.refresh(tokens["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(eve).status_code == 200
    assert len(listed(client, auth, eve)) == 1
    # signing in again works, and only the new session is listed
    fresh = sign_in(client, "desktop")
    assert [s["userAgent"] for s in listed(client, auth, fresh)] == ["desktop"]
