"""A small background worker for work that must not run on the request path.

Sending mail is slow and, on forgot-password, would reveal by its timing whether an
account exists. Views hand such work to the outbox and answer at once; a worker thread of
the same process runs it in an app context. Mail delivery that fails is retried after the
delays in MAIL_RETRY_DELAYS, then logged as lost (without the message body, which holds
a token). With MAIL_ASYNC=false (the test default) work runs inline instead.
"""

import atexit
import os
import queue
import threading
from collections.abc import Callable
from email.message import EmailMessage

from flask import Flask, current_app

from app import mail

SHUTDOWN_GRACE_SECONDS = 10


class Outbox:
    def __init__(self, app: Flask):
        self.app = app
        self._queue: queue.Queue = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._worker_pid: int | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable, *args) -> None:
        """Run `job(*args)` in an app context, off the request path."""
        self._enqueue(self._run_job, job, args)

    def send(self, message: EmailMessage) -> None:
        """Deliver a message, retrying on failure."""
        self._enqueue(self._deliver, message, 0)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted job (retries included) is done; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _enqueue(self, runner: Callable, *args) -> None:
        with self._idle:
            self._pending += 1
        if self.app.config["MAIL_ASYNC"]:
            self._ensure_worker()
            self._queue.put((runner, args))
        else:
            self._execute(runner, args)

    def _ensure_worker(self) -> None:
        # One worker per process: a gunicorn worker forked from a parent that had already
        # started one has the queue object but not the thread.
        with self._lock:
            if self._worker_pid != os.getpid():
                self._worker_pid = os.getpid()
                threading.Thread(target=self._work, name="outbox", daemon=True).start()
                atexit.register(self._drain_at_exit)

    def _work(self) -> None:
        while True:
            runner, args = self._queue.get()
            self._execute(runner, args)

    def _execute(self, runner: Callable, args: tuple) -> None:
        try:
            with self.app.app_context():
                runner(*args)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _run_job(self, job: Callable, args: tuple) -> None:
        try:
            job(*args)
        except Exception:
            current_app.logger.exception("background job %s failed", job.__name__)

    def _deliver(self, message: EmailMessage, attempt: int) -> None:
        try:
            mail.deliver(message)
        except mail.MailError as exc:
            delays = current_app.config["MAIL_RETRY_DELAYS"]
            if attempt >= len(delays):
                current_app.logger.error(
                    "mail to %s lost after %d attempts: %s", message["To"], attempt + 1, exc
                )
                return
            current_app.logger.warning(
                "mail to %s failed (attempt %d), retrying in %ss: %s",
                message["To"],
                attempt + 1,
                delays[attempt],
                exc,
            )
            with self._idle:
                self._pending += 1
            if self.app.config["MAIL_ASYNC"]:
                retry = threading.Timer(
                    delays[attempt],
                    self._queue.put,
                    args=((self._deliver, (message, attempt + 1)),),
                )
                retry.daemon = True
                retry.start()
            else:
                self._execute(self._deliver, (message, attempt + 1))

    def _drain_at_exit(self) -> None:
        if not self.wait_idle(SHUTDOWN_GRACE_SECONDS):
            self.app.logger.error("shutting down with %d mail job(s) not done", self._pending)


def init_app(app: Flask) -> None:
    """Give the app its outbox (its worker thread starts with the first job)."""
    app.extensions["outbox"] = Outbox(app)


def submit(job: Callable, *args) -> None:
    current_app.extensions["outbox"].submit(job, *args)


def send_mail(to: str, subject: str, body: str) -> None:
    """Queue a plain-text message for delivery through the configured mail backend."""
    current_app.extensions["outbox"].send(mail.build(to, subject, body))
