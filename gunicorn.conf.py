"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Read from the environment, so the same file serves every host:

    GUNICORN_BIND      127.0.0.1:8000     address to listen on (the proxy's upstream)
    WEB_CONCURRENCY    2 x CPUs + 1       worker processes

Sync workers, one request at a time per process, behind nginx (which buffers slow
clients). Every request is CPU work in Python between short database round trips, and
bcrypt (about 0.25 s at cost 12) is CPU too, so processes use the cores better than
threads: the benchmark (bench/, docs/performance.md) measured gthread workers losing
half their throughput, either to threads queueing for the GIL after each round trip or to
keep-alive connections (nginx's upstream pool, a load generator's) piling up on one
worker while the others idle. Sync workers take one connection per request from the
shared listen queue, so the kernel spreads the load. Each worker holds at most one
database connection: allow for hosts x workers connections on PostgreSQL.
"""

import os
import sys

from gunicorn import util

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)) + 1)
# gunicorn's sync worker, except that what gunicorn refuses itself (a request line or
# headers over the limits below, a request it cannot parse) is answered in the JSON
# envelope instead of an HTML page (app/gunicorn_worker.py).
worker_class = "app.gunicorn_worker.JsonErrorWorker"

# Request limits, checked before the app sees a request: 414 uri_too_long past the
# request line's, 431 headers_too_large past either header limit. The longest URL of the
# API is GET /admin/users with a 320-character email filter, well under 4 KiB; a browser
# sends about 20 headers, nginx adds 4; the largest header, the Authorization of an RS256
# token or the Cookie of cookie mode, stays under 2 KiB. nginx in front refuses a request
# line or a header over 8 KiB itself (large_client_header_buffers), so these are the
# tighter ones, and answer the instances reached directly too.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# A request is bounded well below this by the database timeouts (app/database.py); this is
# for a worker that stops answering altogether. SIGTERM lets requests in flight finish.
timeout = 30
graceful_timeout = 30

# JSON lines: the access log on stdout (app/access_log.py), gunicorn's own log on stderr.
accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = "app.access_log.JsonAccessLogger"

# Who may set X-Forwarded-*: the app decides, from TRUSTED_PROXY_COUNT (werkzeug's
# ProxyFix, app/__init__.py). gunicorn itself trusts no peer, so that with
# TRUSTED_PROXY_COUNT=0 nothing believes the headers (gunicorn's default would believe
# X-Forwarded-Proto from 127.0.0.1), and gunicorn never takes SCRIPT_NAME or PATH_INFO from
# a header.
forwarded_allow_ips = ""
forwarder_headers = ""

proc_name = "auth-service"
# No `gunicornc` control socket: its default path is per user, not per instance, so two
# instances on one host would take each other's. Signals (TERM, HUP, TTIN) still work.
control_socket_disable = True
# The heartbeat file on tmpfs: a slow disk must not make healthy workers look dead.
if os.path.isdir("/dev/shm"):  # noqa: S108 (a directory for gunicorn's own mkstemp)
    worker_tmp_dir = "/dev/shm"  # noqa: S108


def on_starting(server):
    """Load the app once, in a child process, before the master listens or boots a worker.

    A configuration the app refuses (wsgi.py: `error: <why>`, exit status 4) then stops
    gunicorn with that one line, instead of every worker printing it at once (and the
    master tripping over several failed workers with a traceback of its own). A child,
    so that nothing the app opens (engines, pools, files) lives on in the master that
    forks the workers.
    """
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            util.import_app(server.app.app_uri)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: S110 (the workers fail on it too, and gunicorn says why)
            pass
        sys.stderr.flush()
        os._exit(status)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status:
        sys.exit(status)
