"""Run the real service under gunicorn in a subprocess, and talk to it over HTTP.

For the tests that need what the test client cannot give: several processes sharing one
store (rate limits in Redis), real sockets, real workers. gunicorn runs with the
repository's gunicorn.conf.py, as in production.
"""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
START_SECONDS = 30


def service_env(**settings: str) -> dict[str, str]:
    """The environment of a service process: the testing defaults plus `settings`."""
    return {**os.environ, "APP_ENV": "testing", **settings}


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [BIN / "flask", "--app", "wsgi:app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextmanager
def gunicorn(env: dict[str, str], workers: int | None = 1, *, log: Path | None = None):
    """Start `gunicorn -c gunicorn.conf.py wsgi:app` on a free port; yield its base URL.

    Its stdout (the JSON access log, audit lines) and stderr go to `log` (a temporary file
    if not given). It is stopped with SIGTERM afterwards, as a service manager would.
    """
    with gunicorn_process(env, workers, log=log) as (_, base):
        yield base


@contextmanager
def gunicorn_process(
    env: dict[str, str],
    workers: int | None = 1,
    *,
    log: Path | None = None,
    app: str = "wsgi:app",
    port: int | None = None,
):
    """`gunicorn` for any WSGI `app`, yielding the master process along with the base URL.

    `workers=None` leaves the number to gunicorn.conf.py, as in production; `port` is a
    free one unless given (a service that must know its own URL in advance).
    """
    port = port or free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    with tempfile.TemporaryDirectory() as scratch:
        log = log or Path(scratch) / "gunicorn.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [BIN / "gunicorn", "-c", GUNICORN_CONF, app],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base, process, log)
            yield process, base
        finally:
            stop(process)


def wait_until_serving(base: str, process: subprocess.Popen, log: Path) -> None:
    """Wait until GET /healthz answers 200 (a worker has booted), or fail with the log."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if call(base, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{base} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def call(
    base: str,
    method: str,
    path: str,
    body=None,
    headers=None,
    *,
    raw: bytes | Iterable[bytes] | None = None,
    timeout: float = 10,
    source: str | None = None,
    tls: ssl.SSLContext | None = None,
):
    """One HTTP request on a fresh connection; returns (status, headers, body).

    The body is parsed when the answer is JSON, else None. `raw` sends bytes as they are
    (an iterable of them goes chunked, without Content-Length); `source` picks the client's
    own address (any of 127.0.0.0/8 works on loopback); `tls` verifies an https `base`. A
    server that does not answer within `timeout` seconds raises TimeoutError, so a hang
    fails the test instead of stalling it.
    """
    url = urlsplit(base)
    options = {"timeout": timeout, "source_address": (source, 0) if source else None}
    if url.scheme == "https":
        connection = http.client.HTTPSConnection(url.hostname, url.port, context=tls, **options)
    else:
        connection = http.client.HTTPConnection(url.hostname, url.port, **options)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        connection.request(
            method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        content = response.read()
    finally:
        connection.close()
    is_json = response.headers.get_content_type() == "application/json"
    return response.status, response.headers, (json.loads(content) if content and is_json else None)


def oversized(kind: str, size: int) -> bytes:
    """GET /healthz made `size` large in one way: a "request line" of `size` bytes or so, a
    "header count" of `size` headers, a "header size" of one `size`-byte header; or, for
    "not http", a line that is not HTTP at all."""
    line, headers = b"GET /healthz HTTP/1.1", [b"Host: localhost"]
    if kind == "request line":
        line = b"GET /healthz?q=" + b"a" * size + b" HTTP/1.1"
    elif kind == "header count":
        headers += [b"X-Header-%d: value" % n for n in range(size)]
    elif kind == "header size":
        headers.append(b"X-Large: " + b"a" * size)
    elif kind == "not http":
        line = b"HELLO THERE"
    return b"\r\n".join([line, *headers, b"Connection: close", b"", b""])


def raw_call(base: str, request: bytes, *, tls: ssl.SSLContext | None = None, timeout: float = 10):
    """Send `request` as it is, bytes a client library would refuse to write (a request
    line of any length, any number of headers); returns (status, headers, body) like
    `call`."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    if tls:
        sock = tls.wrap_socket(sock, server_hostname=url.hostname)
    with sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        content = response.read()
    is_json = response.headers.get_content_type() == "application/json"
    return response.status, response.headers, (json.loads(content) if content and is_json else None)


def wait_for(condition, what: str, seconds: float = 30, interval: float = 0.05):
    """Poll `condition()` until it returns something true, and return that; fail after
    `seconds` (a bound on a wait, not a measurement)."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds}s waiting for {what}")
        time.sleep(interval)
    return result
