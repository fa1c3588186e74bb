"""No request on the hot path scans a table: every statement that /me, refresh, login,
logout and the session list run is served by an index, on SQLite and on PostgreSQL. So
their cost does not grow with the number of users or tokens (bench/ measures that too).

The statements are the ones the requests really sent (a login's INSERT reads the user
row too), captured from the engine and then EXPLAINed with their own parameters.
PostgreSQL is asked with sequential scans disabled: on tables this small it would rightly
prefer them, and it still falls back to one only when no index can serve the query.
"""

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app.extensions import db

TABLES = ("users", "login_sessions", "refresh_tokens", "email_tokens")


@contextmanager
def captured(app):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("SELECT", "UPDATE", "DELETE", "WITH", "INSERT"):
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def scans(app, statement, parameters) -> list[str]:
    """The lines of the statement's plan that read a whole table."""
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            return [row[0] for row in plan if "Seq Scan" in row[0]]
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [row[-1] for row in plan if row[-1].startswith("SCAN") and _names_table(row[-1])]


def _names_table(detail: str) -> bool:
    return any(f" {table}" in detail for table in TABLES)


def test_a_table_scan_is_seen(app):
    """The control: a query on a column without an index is reported."""
    assert scans(app, "SELECT jti FROM refresh_tokens WHERE replaced_by = 'x'", ()) != []


REQUESTS = {
    "GET /me": lambda auth, pair: auth.me(pair),
    "POST /auth/refresh": lambda auth, pair: auth.refresh(pair["refreshToken"]),
    "POST /auth/login": lambda auth, pair: auth.client.post(
        "/auth/login", json={"email": "user@example.com", "password": "correct horse 42"}
    ),
    "POST /auth/logout": lambda auth, pair: auth.client.post(
        "/auth/logout", json={"refreshToken": pair["refreshToken"]}
    ),
    "GET /me/sessions": lambda auth, pair: auth.client.get(
        "/me/sessions", headers=auth.headers(pair)
    ),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_request_reads_through_indexes_only(app, auth, name):
    auth.register(password="correct horse 42")
    for _ in range(3):  # a few rows of each kind, so the plans have something to choose
        pair = auth.login(password="correct horse 42")
        auth.refresh(auth.login(password="correct horse 42")["refreshToken"])
    with captured(app) as statements:
        assert REQUESTS[name](auth, pair).status_code < 300
    assert statements, "the request ran no statement that reads a table"
    for statement, parameters in statements:
        assert scans(app, statement, parameters) == [], statement
