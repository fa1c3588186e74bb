"""Database connections: bounded waits on PostgreSQL, WAL on SQLite, and errors that mean
"the database is gone" answered as 503, never as a 500 with a traceback.

The behaviour under a real outage (a cut network path, a statement timeout, a refresh
interrupted mid-transaction) is in tests/test_outages.py.
"""

import logging

import psycopg
import pytest
import sqlalchemy as sa

from app.database import engine_options
from app.extensions import db
from tests.support import POSTGRES_URL, assert_error, make_app, postgres_engine

SETTINGS = {"DATABASE_CONNECT_TIMEOUT": 3, "DATABASE_STATEMENT_TIMEOUT": 5}


def options_for(url: str, **settings) -> dict:
    return engine_options({**SETTINGS, "DATABASE_URL": url, **settings})


def test_postgres_waits_are_bounded():
    options = options_for("postgresql+psycopg://db.internal/auth")

    assert "pool_pre_ping" not in options  # found dead by use: app/database.py
    assert options["pool_timeout"] == 3
    args = options["connect_args"]
    assert args["connect_timeout"] == 3
    assert args["tcp_user_timeout"] == 3000
    assert args["keepalives"] == 1
    assert args["options"] == "-c statement_timeout=5000"


def test_statement_timeout_zero_sets_none():
    options = options_for("postgresql+psycopg://db.internal/auth", DATABASE_STATEMENT_TIMEOUT=0)

    assert "options" not in options["connect_args"]


def test_server_options_in_the_url_are_kept_and_url_parameters_win():
    url = "postgresql+psycopg://db.internal/auth?options=-csearch_path%3Dtenant&connect_timeout=9"

    args = options_for(url)["connect_args"]

    assert args["options"] == "-csearch_path=tenant -c statement_timeout=5000"
    assert "connect_timeout" not in args  # the URL's 9 is used


def test_a_statement_timeout_in_the_url_wins():
    url = "postgresql+psycopg://db.internal/auth?options=-c%20statement_timeout%3D60000"

    args = options_for(url)["connect_args"]

    assert args["options"] == "-c statement_timeout=60000"


def test_sqlite_gets_no_postgres_parameters():
    assert options_for("sqlite:////tmp/auth.db") == {}


def test_the_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT", "7")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT", "0")

    app = make_app("postgresql+psycopg://db.internal/auth")

    args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert args["connect_timeout"] == 7
    assert "options" not in args


def test_statement_timeout_applies_on_postgres():
    postgres_engine().dispose()
    app = make_app(POSTGRES_URL, DATABASE_STATEMENT_TIMEOUT=1)
    with app.app_context():
        assert db.session.scalar(sa.text("SHOW statement_timeout")) == "1s"
        db.session.remove()
        db.engine.dispose()


def test_sqlite_files_use_wal_and_a_busy_timeout(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'auth.db'}")
    with app.app_context():
        assert db.session.scalar(sa.text("PRAGMA journal_mode")) == "wal"
        assert db.session.scalar(sa.text("PRAGMA busy_timeout")) == 5000


@pytest.mark.parametrize(
    "error",
    [
        sa.exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("the connection is closed")),
        sa.exc.DBAPIError("SELECT 1", {}, psycopg.Error("lost"), connection_invalidated=True),
        sa.exc.OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("statement timeout")),
    ],
    ids=["interface-error", "invalidated-connection", "statement-timeout"],
)
def test_errors_that_mean_the_database_is_gone_are_503(app, client, error):
    @app.get("/gone")
    def gone():
        raise error

    response = client.get("/gone")

    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"


def test_a_connection_lost_after_the_answer_does_not_turn_it_into_a_500(caplog):
    """The database goes away between a request's last query and its end: the ROLLBACK
    that closes the session fails. The answer was already right; it must go out."""
    watcher = postgres_engine()
    app = make_app(POSTGRES_URL)

    @app.get("/read-then-lose")
    def read_then_lose():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        with watcher.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return {"read": True}

    @app.get("/read")
    def read():
        return {"one": db.session.scalar(sa.text("SELECT 1"))}

    caplog.set_level(logging.WARNING)
    client = app.test_client()
    response = client.get("/read-then-lose")

    assert (response.status_code, response.json) == (200, {"read": True})
    assert "database connection lost after a request" in caplog.text
    # the next request gets a fresh connection
    assert client.get("/read").json == {"one": 1}
    with app.app_context():
        db.engine.dispose()
    watcher.dispose()


def terminate(watcher: sa.Engine, pid: int) -> None:
    """End the backend `pid` as a restart would, and wait until it is gone."""
    with watcher.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})


def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(app, auth, database):
    """No pre-ping: the socket of a connection the server ended reads as ready, so the
    checkout replaces the connection before any request uses it."""
    if database != "postgres":
        pytest.skip("SQLite has no server to lose")
    tokens = auth.signup()
    watcher = postgres_engine()
    with app.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool, idle
        terminate(watcher, pid)
    watcher.dispose()

    for path in ("/me", "/me/sessions"):
        assert auth.client.get(path, headers=auth.headers(tokens)).status_code == 200
    assert (
        auth.client.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]}).status_code
        == 200
    )
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT pg_backend_pid()")) != pid


def test_the_guard_reads_again_when_its_connection_dies_under_it(app, auth, database):
    """A connection that dies between its checkout and the guard's query (no check can see
    that coming): the read-only query is retried once, on a fresh connection."""
    if database != "postgres":
        pytest.skip("SQLite has no server to lose")
    tokens = auth.signup()
    watcher = postgres_engine()
    killed = []

    def kill_once(connection, cursor, statement, parameters, context, executemany):
        if not killed and statement.startswith("SELECT users.id"):
            killed.append(connection.connection.dbapi_connection.info.backend_pid)
            terminate(watcher, killed[0])

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", kill_once)

    response = auth.me(tokens)

    assert response.status_code == 200
    assert killed
    watcher.dispose()
