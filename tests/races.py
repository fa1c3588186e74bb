"""Support for race tests: hold one request at a chosen point while another one runs, and
see on PostgreSQL whether a statement waits for a row lock."""

import functools
import threading

import sqlalchemy as sa

HOLD_SECONDS = 30  # a bound on a wait, so that a broken test fails instead of hanging


def lock_waits(engine: sa.Engine) -> list[str]:
    """The statements of this database that are waiting for a lock (a fresh connection
    each time: pg_stat_activity is a snapshot within a transaction)."""
    with engine.connect() as conn:
        return conn.scalars(
            sa.text(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).all()


class Hold:
    """Stop the thread `thread` when it returns from a patched function, until `release()`.

    Other threads (the request it races) go through the same function without stopping.
    """

    def __init__(self, thread: threading.Thread):
        self.thread = thread
        self.reached = threading.Event()
        self._released = threading.Event()

    def after(self, function):
        """`function`, holding `thread` once it has returned."""

        @functools.wraps(function)
        def held(*args, **kwargs):
            result = function(*args, **kwargs)
            if threading.current_thread() is self.thread:
                self.reached.set()
                if not self._released.wait(HOLD_SECONDS):
                    raise AssertionError("the held request was never released")
            return result

        return held

    def wait_reached(self) -> None:
        if not self.reached.wait(HOLD_SECONDS):
            raise AssertionError("the held request never reached its point")

    def release(self) -> None:
        self._released.set()


class Background:
    """Run `work()` in a thread of its own; `result()` waits and returns or raises as it did."""

    def __init__(self, work):
        self._outcome: dict = {}
        self.thread = threading.Thread(target=self._run, args=(work,))

    def _run(self, work) -> None:
        try:
            self._outcome["value"] = work()
        except BaseException as exc:  # handed to the test's thread by result()
            self._outcome["error"] = exc

    def start(self) -> "Background":
        self.thread.start()
        return self

    def result(self):
        self.thread.join(HOLD_SECONDS)
        if self.thread.is_alive():
            raise AssertionError("the request in the background did not finish")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]
