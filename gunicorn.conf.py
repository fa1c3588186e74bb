"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Read from the environment, so the same file serves every host:

    GUNICORN_BIND      127.0.0.1:8000     address to listen on (the proxy's upstream)
    WEB_CONCURRENCY    2 x CPUs + 1       worker processes

Sync workers, one request at a time per process, behind nginx (which buffers slow
clients). Every request is CPU work in Python between short database round trips, and
bcrypt (about 0.25 s at cost 12) is CPU too, so processes use the cores better than
threads: the benchmark (bench/, README "Performance") measured gthread workers losing
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
worker_class = "sync"

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
    master tripping over several failed workers with a traceback of its own). The master
    itself never imports the app, so `kill -HUP` still brings in new code.
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
