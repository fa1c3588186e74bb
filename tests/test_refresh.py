"""POST /auth/refresh and /auth/logout: rotation, reuse detection, concurrency, session limits."""

import threading
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession, RefreshToken, utcnow
from tests.factories import update_user
from tests.live import wait_for
from tests.races import lock_waits
from tests.support import at_once, postgres_engine


def test_refresh_rotates_the_token_pair(auth):
    tokens = auth.signup()
    response = auth.refresh(tokens["refreshToken"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.json
    assert set(fresh) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert fresh["refreshToken"] != tokens["refreshToken"]
    assert auth.me(fresh).status_code == 200
    assert auth.refresh(fresh["refreshToken"]).status_code == 200


def test_refresh_token_has_its_own_type_jti_and_session(auth):
    tokens = auth.signup()
    header = jwt.get_unverified_header(tokens["refreshToken"])
    claims = jwt.decode(tokens["refreshToken"], options={"verify_signature": False})
    access = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    assert header["typ"] not in ("at+jwt", "JWT")
    assert claims["sid"] == access["sid"]
    assert claims["jti"] != access["jti"]


def test_reuse_of_a_spent_token_revokes_the_whole_session(auth):
    first = auth.signup()
    second = auth.refresh(first["refreshToken"]).json
    third = auth.refresh(second["refreshToken"]).json

    reuse = auth.refresh(first["refreshToken"])
    assert reuse.status_code == 401
    assert reuse.json["code"] == "token_revoked"
    # every token of the chain is dead, refresh and access alike
    assert auth.refresh(third["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(third).json["code"] == "token_revoked"
    assert auth.me(first).status_code == 401


def test_reuse_in_one_session_leaves_other_sessions_alone(auth):
    phone = auth.signup()
    laptop = auth.login()
    auth.refresh(phone["refreshToken"])
    auth.refresh(phone["refreshToken"])
    assert auth.me(laptop).status_code == 200
    assert auth.refresh(laptop["refreshToken"]).status_code == 200


def race(app, refresh_token, clients=8):
    """Send the same refresh token from several threads at once; return the responses."""
    return at_once(
        clients,
        lambda _: app.test_client().post("/auth/refresh", json={"refreshToken": refresh_token}),
    )


def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(app, auth):
    tokens = auth.signup()
    responses = race(app, tokens["refreshToken"])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 7, [r.json for r in responses]
    assert {r.json["code"] for r in responses if r.status_code == 401} == {"token_revoked"}
    with app.app_context():
        # one successor at most: the session never forks
        successors = db.session.scalars(
            db.select(RefreshToken).where(RefreshToken.used_at.is_(None))
        ).all()
        assert len(successors) <= 1


def test_a_refresh_takes_its_session_lock_before_touching_a_token(app, auth, database):
    """The lock order every session writer keeps (session row first, then its tokens) is
    what stops a rotation and a revocation of the same session from deadlocking. The race
    tests above catch its loss only when the threads happen to interleave badly; this one
    holds the session row and looks at where the refresh waits."""
    if database == "sqlite":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers on the whole file")
    tokens = auth.signup()
    session_id = jwt.decode(tokens["refreshToken"], options={"verify_signature": False})["sid"]
    engine = postgres_engine()
    answers = []
    try:
        with engine.connect() as holder:
            holder.execute(
                sa.text("SELECT id FROM login_sessions WHERE id = :id FOR UPDATE"),
                {"id": session_id},
            )
            refresh = threading.Thread(
                target=lambda: answers.append(auth.refresh(tokens["refreshToken"]))
            )
            refresh.start()
            waiting = wait_for(lambda: lock_waits(engine), "the refresh to wait for a lock")
            assert len(waiting) == 1
            # Waiting for the session row: none of the session's token rows is locked (so
            # none is spent) yet. On PostgreSQL the rotation is one statement: this looks
            # at the rows, not at where in the statement it waits.
            with engine.connect() as probe:
                probe.execute(
                    sa.text(
                        "SELECT jti FROM refresh_tokens WHERE session_id = :id FOR UPDATE NOWAIT"
                    ),
                    {"id": session_id},
                )
                probe.rollback()
            holder.rollback()
        refresh.join(timeout=10)
    finally:
        engine.dispose()
    assert answers[0].status_code == 200, answers[0].json


@pytest.mark.parametrize("app_config", [{"REFRESH_REUSE_INTERVAL": 30}])
def test_reuse_interval_gives_every_racer_the_same_successor(app, auth):
    tokens = auth.signup()
    responses = race(app, tokens["refreshToken"])
    assert [r.status_code for r in responses] == [200] * 8, [r.json for r in responses]
    assert len({r.json["refreshToken"] for r in responses}) == 1
    successor = responses[0].json
    assert auth.me(successor).status_code == 200
    assert auth.refresh(successor["refreshToken"]).status_code == 200


@pytest.mark.parametrize("app_config", [{"REFRESH_REUSE_INTERVAL": 30}])
def test_reuse_after_the_interval_is_theft(app, auth):
    tokens = auth.signup()
    successor = auth.refresh(tokens["refreshToken"]).json
    with app.app_context():
        db.session.execute(
            db.update(RefreshToken)
            .where(RefreshToken.used_at.is_not(None))
            .values(used_at=utcnow() - timedelta(seconds=31))
        )
        db.session.commit()
    assert auth.refresh(tokens["refreshToken"]).json["code"] == "token_revoked"
    assert auth.refresh(successor["refreshToken"]).json["code"] == "token_revoked"


@pytest.mark.parametrize("app_config", [{"JWT_SESSION_MAX_AGE": 3600}])
def test_rotation_never_extends_a_session_past_its_max_age(app, auth):
    tokens = auth.signup()
    refresh_claims = jwt.decode(tokens["refreshToken"], options={"verify_signature": False})
    assert refresh_claims["exp"] - refresh_claims["iat"] <= 3600
    with app.app_context():
        db.session.execute(
            db.update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    response = auth.refresh(tokens["refreshToken"])
    assert response.status_code == 401
    assert response.json["code"] == "token_expired"
    assert auth.me(tokens).status_code == 401


def test_refresh_of_a_disabled_user_is_refused(app, auth):
    tokens = auth.signup()
    update_user(app, disabled=True)
    response = auth.refresh(tokens["refreshToken"])
    assert response.status_code == 403
    assert response.json["code"] == "account_disabled"


def test_refresh_token_of_a_deleted_user_is_refused(app, auth):
    from app.models import User

    tokens = auth.signup()
    with app.app_context():
        db.session.delete(db.session.get(User, 1))
        db.session.commit()
    assert auth.refresh(tokens["refreshToken"]).json["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"refreshToken": 123}, 400, "validation_error"),
        ({"refreshToken": ""}, 400, "validation_error"),
        ({"refreshToken": "garbage"}, 401, "invalid_token"),
        ({"refreshToken": "a.b.c"}, 401, "invalid_token"),
    ],
)
def test_refresh_rejects_bad_bodies(client, body, status, code):
    response = client.post("/auth/refresh", json=body)
    assert response.status_code == status
    assert response.json["code"] == code


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_neither_body_nor_cookie_is_missing_token(client, path):
    response = client.post(path)

    assert response.status_code == 401
    assert response.json == {"error": "A refresh token is required.", "code": "missing_token"}


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_a_body_that_is_not_json_is_still_415(client, path):
    response = client.post(path, data="refreshToken=x", content_type="text/plain")

    assert (response.status_code, response.json["code"]) == (415, "unsupported_media_type")


def test_logout_ends_the_session_and_its_access_tokens(auth, client):
    tokens = auth.signup()
    other = auth.login()
    response = client.post("/auth/logout", json={"refreshToken": tokens["refreshToken"]})
    assert response.status_code == 204
    assert response.data == b""
    assert auth.refresh(tokens["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(tokens).json["code"] == "token_revoked"
    assert auth.me(other).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_logout_is_idempotent_whatever_the_token(auth, client, token):
    tokens = auth.signup()
    for refresh_token in (tokens["refreshToken"], tokens["refreshToken"], token):
        response = client.post("/auth/logout", json={"refreshToken": refresh_token})
        assert response.status_code == 204


def test_logout_with_a_spent_token_still_ends_the_session(auth, client):
    tokens = auth.signup()
    successor = auth.refresh(tokens["refreshToken"]).json
    assert (
        client.post("/auth/logout", json={"refreshToken": tokens["refreshToken"]}).status_code
        == 204
    )
    assert auth.me(successor).status_code == 401


def test_logout_does_not_accept_an_access_token(auth, client):
    tokens = auth.signup()
    client.post("/auth/logout", json={"refreshToken": tokens["accessToken"]})
    assert auth.me(tokens).status_code == 200
