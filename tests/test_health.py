"""GET /healthz (liveness) and GET /readyz (readiness: the database answers, and its
schema is migrated to this code's head).

The `app` here gets its SQLite schema from the migrations, as Postgres does, so that
readiness reads a real `alembic_version` on both databases.
"""

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.extensions import db
from tests.support import assert_error, empty_database_url, make_app

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1


@pytest.fixture
def sqlite_schema():
    return "migrations"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path):
    """The URL of a database without a single table."""
    with empty_database_url(request.param, tmp_path, "empty") as url:
        yield url


def not_ready(client) -> None:
    response = client.get("/readyz")
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"


def test_healthz_says_the_process_serves(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_without_its_database_the_process_is_alive_but_not_ready():
    client = make_app(DEAD_DATABASE).test_client()

    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_LOGIN": "1 per minute",
            "RATELIMIT_REFRESH": "1 per minute",
        }
    ],
)
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_are_never_rate_limited(client, path):
    # A balancer polls every few seconds from one address; a 429 would take us out of it.
    statuses = {client.get(path).status_code for _ in range(30)}

    assert statuses == {200}


def test_health_checks_need_no_token_and_take_no_body(client):
    response = client.get("/readyz", headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == 200
    assert client.post("/readyz").status_code == 405


def test_a_database_without_tables_is_not_ready(empty_database):
    app = make_app(empty_database)

    not_ready(app.test_client())
    with app.app_context():
        db.engine.dispose()


def test_a_schema_migrated_to_the_head_is_ready_and_one_behind_it_is_not(empty_database):
    app = make_app(empty_database)
    client = app.test_client()
    with app.app_context():
        upgrade()
    assert client.get("/readyz").status_code == 200

    with app.app_context(), db.engine.begin() as conn:  # as after `flask db downgrade base`
        conn.execute(sa.text("DELETE FROM alembic_version"))
    not_ready(client)
    with app.app_context():
        db.engine.dispose()


def test_a_revision_from_a_later_release_is_ready(app, client):
    """A newer release migrated first; this one keeps serving until it is replaced."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'from_the_future'"))

    assert client.get("/readyz").status_code == 200


def test_readiness_reads_the_schema_version_in_one_statement(app, client):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert client.get("/readyz").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)

    assert statements == ["SELECT version_num FROM alembic_version"]
