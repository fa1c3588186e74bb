"""How the service connects to its database, so that an outage costs seconds, not a hang.

On PostgreSQL every wait is bounded: a new connection (`connect_timeout`), a connection
from the pool (`pool_timeout`), a statement (`statement_timeout`, lock waits included),
and a network path that silently drops packets (`tcp_user_timeout` and keepalives, which
end a connection whose data goes unacknowledged instead of waiting out TCP's minutes of
retries). Pooled connections are pinged before use, so after an outage the first request
reconnects instead of failing on a dead socket. The errors these raise become 503
`service_unavailable` in `app/errors.py`.

SQLite gets WAL (readers and a writer overlap) and a busy timeout, so that concurrent
gunicorn workers queue for the write lock instead of failing with "database is locked".

Migrations from several hosts at once take `migration_lock` (see migrations/env.py).
"""

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from app.database_errors import database_unreachable, driver_reason
from app.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 5000
# TCP keepalive on idle pooled connections: also keeps NAT and firewall entries alive.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
# pg_advisory_lock key of `flask db upgrade` (any fixed 64-bit number; this one spells
# "authmigr" in ASCII so that it is recognisable in pg_locks).
MIGRATION_LOCK_ID = int.from_bytes(b"authmigr", "big")


def engine_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for DATABASE_URL, with the DATABASE_* timeouts."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    url = sa.make_url(settings["DATABASE_URL"])
    if url.get_backend_name() != "postgresql":
        return options
    connect_timeout = settings["DATABASE_CONNECT_TIMEOUT"]
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "tcp_user_timeout": connect_timeout * 1000,
        **KEEPALIVE,
    }
    # Server settings travel in the startup packet (libpq `options`): no extra round trip
    # per connection. Those already in the URL are kept.
    given = url.query.get("options") or ""
    server = [" ".join(given) if isinstance(given, tuple) else given]
    statement_timeout = settings["DATABASE_STATEMENT_TIMEOUT"]
    if statement_timeout and "statement_timeout" not in server[0]:
        server.append(f"-c statement_timeout={statement_timeout * 1000}")
    if any(server):
        connect_args["options"] = " ".join(part for part in server if part)
    # Parameters written in the URL itself are the operator's choice and win.
    connect_args = {
        name: value
        for name, value in connect_args.items()
        if name == "options" or name not in url.query
    }
    options.update(pool_timeout=connect_timeout, connect_args=connect_args)
    return options


def init_app(app: Flask) -> None:
    """Release each request's session even when its connection died after the answer."""

    # Registered after Flask-SQLAlchemy's teardown, so it runs first (teardowns run in
    # reverse); Flask-SQLAlchemy's then finds nothing left to remove.
    @app.teardown_appcontext
    def release_session(exc: BaseException | None) -> None:
        try:
            db.session.remove()
        except DBAPIError as error:
            # The ROLLBACK that ends a read found the connection gone (the database
            # stopped between the query and the end of the request). The answer is
            # already made and right; the pool has discarded the connection. Forget the
            # half-closed session rather than let its error turn the answer into a 500.
            db.session.registry.clear()
            if not database_unreachable(error):
                raise
            app.logger.warning("database connection lost after a request: %s", driver_reason(error))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Enforce foreign keys (for ON DELETE CASCADE) and let readers and a writer overlap."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, hold a database-wide advisory lock for the duration of a migration.

    A second `flask db upgrade` started at the same time waits here, then finds the schema
    already at head and does nothing, instead of racing the first one's CREATE TABLEs. The
    lock is taken and released in transactions of its own (it is a session lock), and
    statement_timeout is lifted meanwhile: waiting for the other host, or a long ALTER,
    is expected here. SQLite has no such lock: migrate one host at a time.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(sa.text("SET statement_timeout = 0"))
    connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.execute(sa.text("RESET statement_timeout"))
        connection.commit()
