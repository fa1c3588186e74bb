"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Read from the environment, so the same file serves every host:

    GUNICORN_BIND      127.0.0.1:8000   address to listen on (the proxy's upstream)
    WEB_CONCURRENCY    CPUs available   worker processes
    GUNICORN_THREADS   4                threads per worker

Sizing: the heavy work is bcrypt (about 0.25 s of CPU at cost 12), which releases the GIL,
so threads hash in parallel; more hashes at once than there are cores only queue them.
One process per core with a few threads each uses the cores and overlaps the database
round trips, in less memory than the "2 x cores + 1" processes advised for I/O-bound sync
workers. Each thread may hold one database connection: allow for hosts x workers x threads
connections on PostgreSQL.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)))
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
worker_class = "gthread"

# A request is bounded well below this by the database timeouts (app/database.py); this is
# for a worker that stops answering altogether. SIGTERM lets requests in flight finish.
timeout = 30
graceful_timeout = 30
# Longer than the proxy's idle keepalive to us (nginx: keepalive_timeout 60s in the
# upstream block), so that gunicorn never closes a connection nginx is about to reuse.
keepalive = 75

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
