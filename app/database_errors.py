"""Which database errors mean "the database is gone or too slow" (a 503), and what the
driver said, without the SQL. Its own module, so that both the HTTP error handlers and
app/database.py use it without importing each other."""

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


def database_unreachable(exc: Exception) -> bool:
    """Whether a database error means "gone or too slow" (503) rather than a bug (500).

    OperationalError covers refused and timed-out connections and statement timeouts;
    InterfaceError a connection closed under us; `connection_invalidated` any error that
    the dialect recognised as a lost connection; PoolTimeoutError an exhausted pool.
    """
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def driver_reason(exc: Exception) -> str:
    """The driver's message ("connection refused", "statement timeout"), never the SQL or
    its parameters, which str(exc) would include."""
    return str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
