"""Flask extensions, created unbound and bound to the app in `create_app`."""

from importlib.metadata import PackageNotFoundError, version

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.api import Api

# Named constraints, so that later migrations (SQLite batch mode included) can alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# Batch mode lets Alembic alter SQLite tables (it recreates them), so one chain serves both.
migrate = Migrate(render_as_batch=True, compare_type=True)
# Configured from RATELIMIT_* settings; the limits themselves are in app/ratelimit.py.
limiter = Limiter(key_func=get_remote_address)


def _version() -> str:
    try:
        return version("flask-jwt-auth-service")
    except PackageNotFoundError:
        return "0.0.0"


# The views' declarations and the OpenAPI document (app/api.py, app/web/openapi.py).
api = Api(
    spec_kwargs={
        "title": "JWT authentication service",
        "version": _version(),
        "openapi_version": "3.0.3",
        "info": {"description": "Register, log in, refresh, log out, reset passwords."},
    }
)
