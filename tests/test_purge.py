"""`flask tokens purge`: old rows go in batches; anything still usable stays."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app import email_tokens
from app.extensions import db
from app.models import (
    EmailToken,
    LoginSession,
    MfaChallenge,
    PasskeyChallenge,
    RefreshToken,
    User,
    new_id,
    utcnow,
)

SESSIONS = 1500  # half revoked, half expired, each with a spent token and its successor
EMAIL_TOKENS = 1200  # half used, half expired


def ago(**delta):
    return utcnow() - timedelta(**delta)


def fill_with_dead_rows(app):
    """Bulk-insert thousands of rows that ended ten days ago, for a user of their own."""
    with app.app_context():
        ghost = User(email="ghost@example.com", password_hash="x")
        db.session.add(ghost)
        db.session.flush()
        sessions, tokens = [], []
        for i in range(SESSIONS):
            revoked = i % 2 == 0
            sid = new_id()
            ended, later = ago(days=10), ago(days=-20)
            sessions.append(
                {
                    "id": sid,
                    "user_id": ghost.id,
                    "created_at": ago(days=30),
                    "last_used_at": ago(days=12),
                    "expires_at": later if revoked else ended,
                    "revoked_at": ended if revoked else None,
                }
            )
            spent, successor = new_id(), new_id()
            for jti, used_at, replaced_by in (
                (spent, ago(days=12), successor),
                (successor, None, None),
            ):
                tokens.append(
                    {
                        "jti": jti,
                        "session_id": sid,
                        "user_id": ghost.id,
                        "issued_at": ago(days=12),
                        "expires_at": later if revoked else ended,
                        "used_at": used_at,
                        "revoked_at": ended if revoked else None,
                        "replaced_by": replaced_by,
                    }
                )
        emails = [
            {
                "user_id": ghost.id,
                "purpose": email_tokens.RESET,
                "token_hash": new_id() + new_id(),
                "created_at": ago(days=11),
                "expires_at": ago(days=10),
                "used_at": ago(days=10, minutes=5) if i % 2 else None,
            }
            for i in range(EMAIL_TOKENS)
        ]
        db.session.execute(sa.insert(LoginSession), sessions)
        db.session.execute(sa.insert(RefreshToken), tokens)
        db.session.execute(sa.insert(EmailToken), emails)
        db.session.commit()


def count(app, model):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def store(app, client, auth):
    """Thousands of dead rows next to a user's live session and recently ended one."""
    fill_with_dead_rows(app)
    first = auth.signup()
    live = auth.refresh(first["refreshToken"]).json  # `first` is now spent, not expired
    ended = auth.login()
    client.post("/auth/logout", json={"refreshToken": ended["refreshToken"]})
    with app.app_context():
        email_tokens.issue(2, email_tokens.RESET, 900)
        db.session.commit()
    return {"first": first, "live": live, "ended": ended}


def purge(runner, *args):
    result = runner.invoke(args=["tokens", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_purge_removes_dead_rows_in_batches_and_reports_them(app, runner, store):
    statements = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM REFRESH_TOKENS"):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        output = purge(runner, "--batch-size", "500")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert output == (
        f"removed {2 * SESSIONS} refresh tokens, {SESSIONS} sessions, {EMAIL_TOKENS} "
        "emailed tokens, 0 MFA challenges and 0 passkey challenges (ended more than 3d ago)"
    )
    assert len(statements) == 2 * SESSIONS // 500 + 1  # full batches, then an empty one
    # what is left: the live session (spent token + successor), the session ended just now
    # (kept for the retention window), the unexpired reset token and the live user's
    # verification token from registration
    assert count(app, RefreshToken) == 3
    assert count(app, LoginSession) == 2
    assert count(app, EmailToken) == 2
    assert purge(runner) == (
        "removed 0 refresh tokens, 0 sessions, 0 emailed tokens, 0 MFA challenges and "
        "0 passkey challenges (ended more than 3d ago)"
    )


def test_purge_leaves_live_sessions_and_reuse_detection_working(auth, runner, store):
    purge(runner, "--older-than", "0")
    assert auth.me(store["live"]).status_code == 200
    # the spent token was kept: presenting it again is still caught as theft
    assert auth.refresh(store["first"]["refreshToken"]).json["code"] == "token_revoked"
    assert auth.me(store["live"]).json["code"] == "token_revoked"


def test_the_retention_window_decides_what_recently_ended_rows_go(app, auth, runner, store):
    assert purge(runner, "--older-than", "3600").endswith("(ended more than 1h ago)")
    assert count(app, LoginSession) == 2
    assert purge(runner, "--older-than", "0").endswith("(ended more than 0s ago)")
    assert count(app, LoginSession) == 1
    assert count(app, RefreshToken) == 2
    # a purged session's tokens are refused like an ended one's
    assert auth.me(store["ended"]).json["code"] == "token_revoked"
    assert auth.refresh(store["ended"]["refreshToken"]).json["code"] == "invalid_token"
    assert auth.refresh(store["live"]["refreshToken"]).status_code == 200


def test_purge_removes_spent_and_expired_mfa_challenges(app, runner):
    with app.app_context():
        user = User(email="mfa@example.com", password_hash="x")
        db.session.add(user)
        db.session.flush()
        challenges = {
            "expired long ago": (ago(days=10), None),
            "spent long ago": (ago(days=-1), ago(days=10)),
            "expired just now": (ago(minutes=1), None),
            "spent just now": (ago(days=-1), ago(minutes=1)),
            "live": (ago(minutes=-5), None),
        }
        db.session.execute(
            sa.insert(MfaChallenge),
            [
                {
                    "token_hash": name,
                    "user_id": user.id,
                    "credential_version": 0,
                    "created_at": ago(days=11),
                    "expires_at": expires_at,
                    "spent_at": spent_at,
                }
                for name, (expires_at, spent_at) in challenges.items()
            ],
        )
        db.session.commit()

    assert purge(runner).endswith(
        "2 MFA challenges and 0 passkey challenges (ended more than 3d ago)"
    )
    with app.app_context():
        left = set(db.session.scalars(sa.select(MfaChallenge.token_hash)))
    assert left == {"expired just now", "spent just now", "live"}
    assert purge(runner, "--older-than", "0").endswith(
        "2 MFA challenges and 0 passkey challenges (ended more than 0s ago)"
    )
    assert count(app, MfaChallenge) == 1


def test_purge_removes_expired_passkey_challenges(app, runner):
    with app.app_context():
        user = User(email="passkey@example.com", password_hash="x")
        db.session.add(user)
        db.session.flush()
        expiries = {
            "expired long ago": ago(days=10),
            "expired just now": ago(minutes=1),
            "live": ago(minutes=-5),
        }
        db.session.execute(
            sa.insert(PasskeyChallenge),
            [
                {
                    "challenge_hash": name,
                    "purpose": "login" if name != "live" else "registration",
                    "user_id": None if name != "live" else user.id,
                    "created_at": ago(days=11),
                    "expires_at": expires_at,
                }
                for name, expires_at in expiries.items()
            ],
        )
        db.session.commit()

    assert purge(runner).endswith("and 1 passkey challenges (ended more than 3d ago)")
    with app.app_context():
        left = set(db.session.scalars(sa.select(PasskeyChallenge.challenge_hash)))
    assert left == {"expired just now", "live"}
    assert purge(runner, "--older-than", "0").endswith(
        "and 1 passkey challenges (ended more than 0s ago)"
    )
    assert count(app, PasskeyChallenge) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--older-than", "soon"],
        ["--older-than", "-1d"],
        ["--older-than", "3w"],
        ["--batch-size", "0"],
        ["--batch-size", "many"],
    ],
)
def test_purge_refuses_bad_options(app, runner, args):
    result = runner.invoke(args=["tokens", "purge", *args])
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_purge_skips_rows_a_request_holds_instead_of_waiting(app, database, runner):
    """PostgreSQL: a row locked by a running transaction is left for the next run."""
    if database != "postgres":
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite locks the whole file")
    fill_with_dead_rows(app)
    with app.app_context():
        engine = db.engine
        held = db.session.scalar(sa.select(RefreshToken.jti).limit(1))
    # if the purge waited on the lock, it would fail after 5 s instead of hanging
    timeout = "SET lock_timeout = '5s'"
    event.listen(engine, "connect", lambda conn, _: set_session(conn, timeout))
    engine.dispose()
    with engine.connect() as other:
        other.execute(sa.select(RefreshToken).where(RefreshToken.jti == held).with_for_update())
        output = purge(runner)
        assert output.startswith(f"removed {2 * SESSIONS - 1} refresh tokens")
        other.rollback()
    assert purge(runner).startswith("removed 1 refresh tokens")


def set_session(dbapi_connection, statement):
    dbapi_connection.autocommit = True
    dbapi_connection.execute(statement)
    dbapi_connection.autocommit = False
