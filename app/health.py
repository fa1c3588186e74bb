"""Health checks for load balancers and orchestrators: liveness and readiness.

`/healthz` says the process serves requests; it touches nothing else, so a database
outage never gets a healthy process restarted. `/readyz` also runs `SELECT 1`: when the
database cannot be reached (within DATABASE_CONNECT_TIMEOUT), it answers 503
`service_unavailable` and the balancer sends traffic elsewhere. Redis is deliberately not
checked: rate limits fall back to per-process memory without it (see app/ratelimit.py),
so a Redis outage must not take every instance out of rotation. Neither is rate limited.
"""

import sqlalchemy as sa
from flask import Blueprint

from app.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Say that the process is up and serving (liveness); never touches the database."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Say whether this instance can serve: 503 service_unavailable without its database."""
    db.session.execute(sa.select(1))
    return {"status": "ok", "database": "ok"}
