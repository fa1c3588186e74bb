"""Health checks for load balancers and orchestrators: liveness and readiness.

`/healthz` says the process serves requests; it touches nothing else, so a database
outage never gets a healthy process restarted. `/readyz` also reads the schema's version
(one `SELECT` of Alembic's `alembic_version`): when the database cannot be reached (within
DATABASE_CONNECT_TIMEOUT), or its schema is not migrated to this code's head, it answers
503 `service_unavailable` and the balancer sends traffic elsewhere. A revision this code
does not know counts as ready: a later release migrated first, and migrations keep the
running version working (docs/deployment.md, "Deployment order"). Redis is deliberately not checked:
rate limits fall back to per-process memory without it (see app/ratelimit.py), so a
Redis outage must not take every instance out of rotation. Neither is rate limited.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.config import ConfigError
from app.errors import APIError
from app.extensions import db
from app.schemas.responses import HealthSchema, ReadinessSchema
from app.web.api import Blueprint

bp = Blueprint("health", __name__, description="Liveness and readiness")

VERSION_QUERY = sa.text("SELECT version_num FROM alembic_version")
UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a missing table


@dataclass(frozen=True)
class Migrations:
    """The revisions of this code's migrations folder: its heads, and every one it knows."""

    heads: frozenset[str]
    known: frozenset[str]

    def ready(self, stored: set[str]) -> bool:
        """Whether a schema at the `stored` revisions can serve this code."""
        return stored == self.heads or (bool(stored) and not stored & self.known)


@cache
def read_migrations(directory: Path) -> Migrations:
    """Read the migrations folder once per process (it changes only with the code)."""
    script = ScriptDirectory(str(directory))
    return Migrations(
        heads=frozenset(script.get_heads()),
        known=frozenset(revision.revision for revision in script.walk_revisions()),
    )


def init_app(app: Flask) -> None:
    """Find the migrations `flask db upgrade` applies; readiness compares against them.

    Flask-Migrate's folder is relative to the working directory (the deployment's, see
    docs/deployment.md); a development checkout also finds the one next to the package.
    """
    configured = Path(app.extensions["migrate"].directory)
    for directory in (configured, Path(app.root_path).parent / configured.name):
        if (directory / "env.py").is_file():
            app.extensions["migrations"] = read_migrations(directory.resolve())
            return
    raise ConfigError(f"no migrations folder at {configured.resolve()}: start from the project")


@bp.get("/healthz")
@bp.response(200, HealthSchema)
def healthz():
    """Say that the process is up and serving (liveness); never touches the database."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.response(200, ReadinessSchema)
@bp.errors(503)
def readyz():
    """Say whether this instance can serve: 503 service_unavailable without its database,
    or with a schema that is not migrated to this code."""
    stored = stored_revisions()
    if stored is None or not current_app.extensions["migrations"].ready(stored):
        current_app.logger.warning(
            "not ready: the database schema is at %s, this code needs %s",
            sorted(stored or ()) or "no revision",
            sorted(current_app.extensions["migrations"].heads),
        )
        raise APIError(
            503,
            "service_unavailable",
            "The database schema is not migrated to this version.",
            headers={"Retry-After": "5"},
        )
    return {"status": "ok", "database": "ok"}


def stored_revisions() -> set[str] | None:
    """The revisions in alembic_version; None when the table is missing (never migrated).

    Any other database error goes to the 503 (unreachable) or 500 handler of app/errors.py.
    """
    try:
        return set(db.session.scalars(VERSION_QUERY))
    except (OperationalError, ProgrammingError) as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == UNDEFINED_TABLE or "no such table" in str(orig):
            return None
        raise
