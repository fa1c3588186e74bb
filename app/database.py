"""How the service connects to its database, so that an outage costs seconds, not a hang.

On PostgreSQL every wait is bounded: a new connection (`connect_timeout`), a connection
from the pool (`pool_timeout`), a statement (`statement_timeout`, lock waits included),
and a network path that silently drops packets (`tcp_user_timeout` and keepalives, which
end a connection whose data goes unacknowledged instead of waiting out TCP's minutes of
retries). The errors these raise become 503 `service_unavailable` in `app/errors.py`.

Round trips (docs/design.md, "Round trips"): pooled connections are not pinged before use,
which would cost every request a round trip. Instead, a checkout looks at the socket,
without a round trip: a server that stopped or restarted has closed it (after a last
"terminating connection" message), so it reads as ready, and the pool replaces the
connection (`_replace_if_closed_by_server`). A connection that died silently is found by
the statement that uses it: SQLAlchemy then invalidates the whole pool, so the next
checkout reconnects, and `read`, which serves the guard, retries once on that fresh
connection. Writes are never retried: their request answers 503 and the client may try
again. Reads that open a request run in autocommit (`read`): no BEGIN before them, no
ROLLBACK after.

SQLite gets WAL (readers and a writer overlap) and a busy timeout, so that concurrent
gunicorn workers queue for the write lock instead of failing with "database is locked".

Migrations from several hosts at once take `migration_lock` (see migrations/env.py).
"""

import select
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import Pool

from app.database_errors import database_unreachable, driver_reason
from app.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 5000
# TCP keepalive on idle pooled connections: also keeps NAT and firewall entries alive.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
# pg_advisory_lock key of `flask db upgrade` (any fixed 64-bit number; this one spells
# "authmigr" in ASCII so that it is recognisable in pg_locks).
MIGRATION_LOCK_ID = int.from_bytes(b"authmigr", "big")
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def engine_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options for DATABASE_URL, with the DATABASE_* timeouts."""
    options: dict[str, Any] = {}
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


def read(statement: sa.Executable, params: Mapping[str, Any] | None = None) -> list[sa.Row]:
    """The rows of a read-only ORM statement (no FOR UPDATE), outside any transaction.

    On PostgreSQL it runs in autocommit: one round trip, where a transaction would add its
    BEGIN and ROLLBACK (the guard's query, the reads of read-only views). If its connection
    dies under it, it is retried once on a fresh one: a read may be. The objects it loaded
    stay in `db.session`, unexpired, and the session's next statement, a write say, begins
    a transaction as usual. Once a unit of work has begun (a transaction, or a change not
    yet flushed), it is a plain read of that unit of work, never an autocommit flush.
    """
    if _unit_of_work_begun():
        return list(db.session.execute(statement, params))
    try:
        return _read_outside_transaction(statement, params)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return _read_outside_transaction(statement, params)  # on a fresh connection


def _read_outside_transaction(
    statement: sa.Executable, params: Mapping[str, Any] | None
) -> list[sa.Row]:
    if db.engine.dialect.name == "postgresql":  # SQLite's driver begins no transaction
        db.session.connection(execution_options=AUTOCOMMIT)
    try:
        rows = list(db.session.execute(statement, params))
    except DBAPIError:
        db.session.close()
        raise
    _end_keeping_what_was_loaded()
    return rows


@contextmanager
def statement_alone() -> Iterator[None]:
    """Run a unit of work that is one statement (CTEs included) as its own transaction.

    On PostgreSQL a statement outside a transaction is atomic by itself and holds its locks
    until it ends: BEGIN and COMMIT around it would only add two round trips. So the block
    runs in autocommit, where every statement commits as it ends: it must send exactly
    one write, and the caller's commit after it sends nothing. On SQLite, or once a unit
    of work has begun, the block is part of the caller's transaction as usual.
    """
    if db.engine.dialect.name != "postgresql" or _unit_of_work_begun():
        yield
        return
    db.session.connection(execution_options=AUTOCOMMIT)
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    _end_keeping_what_was_loaded()


def _unit_of_work_begun() -> bool:
    """Whether the request's session holds a transaction or changes not yet flushed, which
    an autocommit statement would commit piecemeal."""
    session = db.session()
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted)


def _end_keeping_what_was_loaded() -> None:
    """End an autocommit "transaction" (nothing goes over the wire: nothing was begun) and
    give the connection back to the pool, keeping what was loaded unexpired."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


@event.listens_for(Pool, "checkout")
def _replace_if_closed_by_server(dbapi_connection, connection_record, connection_proxy) -> None:
    """Hand out no PostgreSQL connection that the server has closed: an idle connection
    has nothing to read unless the server ended it. A poll of the socket, not a round trip.
    DisconnectionError makes the pool discard it and check out a fresh one."""
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg's; SQLite has no socket
    if pgconn is None:
        return
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection was lost")
    poll = select.poll()
    poll.register(pgconn.socket, select.POLLIN)
    if poll.poll(0):
        raise DisconnectionError("the server closed the connection")


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
