"""Count the round trips an engine makes to PostgreSQL, from libpq's own protocol trace.

Why a trace and not SQLAlchemy's events: most of what a request may cost never passes
`before_cursor_execute`. psycopg sends `BEGIN` by itself ahead of the first statement of
a transaction; the pool's pre-ping runs on the raw DBAPI connection; the pool's
reset-on-return `ROLLBACK` fires no Connection event. libpq's trace (`PQtrace`, through
`psycopg.pq.PGconn.trace`) writes every protocol message the client sends, whoever sent
it, so it sees what the server's `log_statement = all` would log, and more (a `Sync` of a
statement that failed to parse). A round trip is a message the client then waits on: a
simple `Query` (BEGIN, COMMIT, ROLLBACK, the ping's `;`), or the `Sync` that ends an
extended-protocol exchange (Parse/Bind/Describe/Execute of one parameterised statement).
"""

import os
import re
import tempfile
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

# "F  <length>  Query  "BEGIN"" / "F  <length>  Sync": what the client sent, then waited on.
_SENT = re.compile(
    r'^F\t\d+\t(?:Query\t "(?P<query>.*?)"$|(?P<sync>Sync)$'
    r'|Parse\t "(?P<name>[^"]*)" "(?P<parsed>.*?)" \d+( NNNN)*$|Bind\t "[^"]*" "(?P<bound>[^"]*)")',
    re.MULTILINE | re.DOTALL,  # a statement's text may span lines
)


class RoundTrips:
    """Every connection `engine` opens from now on is traced; `take()` returns what was sent
    since the last `take()`: one entry per round trip (the statement, abbreviated)."""

    def __init__(self, engine: sa.Engine):
        self._directory = tempfile.TemporaryDirectory(prefix="wire-")
        self._connections: list[tuple[psycopg.Connection, Path, int]] = []
        self._prepared: dict[int, dict[str, str]] = {}  # per connection: name -> statement
        event.listen(engine, "connect", self._trace)

    def _trace(self, dbapi_connection, connection_record) -> None:
        path = Path(self._directory.name) / f"{len(self._connections)}.trace"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        _start(dbapi_connection, fd)
        self._connections.append((dbapi_connection, path, fd))

    def take(self) -> list[str]:
        sent: list[str] = []
        for connection, path, fd in self._connections:
            if not connection.closed:
                connection.pgconn.untrace()  # flushes libpq's buffer
            text = path.read_text()
            path.write_text("")
            if not connection.closed:
                _start(connection, fd)
            sent.extend(_round_trips(text, self._prepared.setdefault(fd, {})))
        return sent

    def close(self) -> None:
        for _, _, fd in self._connections:
            os.close(fd)
        self._directory.cleanup()


def _start(connection: psycopg.Connection, fd: int) -> None:
    connection.pgconn.trace(fd)
    connection.pgconn.set_trace_flags(
        psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
    )


def _round_trips(trace: str, prepared: dict[str, str]) -> list[str]:
    trips, statement = [], ""
    for match in _SENT.finditer(trace):
        if match["query"] is not None:
            trips.append(" ".join(match["query"].split())[:50])
        elif match["parsed"] is not None:
            statement = prepared[match["name"]] = " ".join(match["parsed"].split())[:50]
        elif match["bound"]:
            statement = prepared.get(match["bound"], match["bound"])
        elif match["sync"]:
            trips.append(statement)
    return trips
