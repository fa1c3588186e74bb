"""gunicorn's sync worker, answering in the service's JSON envelope the requests that
gunicorn refuses itself, before the app sees them (gunicorn.conf.py sets `worker_class`).

Stock gunicorn answers those with an HTML page: a request line over `limit_request_line`
(414), too many headers or one too large (431), a request it cannot parse (400), and an
exception that escapes the app (500). It writes every one of them through one function,
`gunicorn.util.write_error` (called by `Worker.handle_error` in gunicorn/workers/base.py,
after its own classification and access log line); this worker swaps in one that writes
JSON. gunicorn's detail message is left out, as it can quote the request.
"""

import json

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from app.errors import HTTP_CODES, MESSAGES


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """`gunicorn.util.write_error`, with the envelope instead of HTML."""
    code = HTTP_CODES.get(status_int, reason.lower().replace(" ", "_"))
    body = json.dumps({"error": MESSAGES.get(status_int, f"{reason}."), "code": code})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin-1"))


class JsonErrorWorker(SyncWorker):
    """A sync worker whose own error answers are JSON."""

    def init_process(self):
        # In the worker process only, before it serves (init_process runs its loop).
        util.write_error = write_json_error
        super().init_process()
