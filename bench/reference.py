"""The service as the benchmark runs it: the real app plus the reference endpoint.

`GET /bench/users/<id>` does what `GET /me` does without authentication: one primary-key
lookup of a user and the same JSON, through the same app, hooks and gunicorn, in one
round trip on PostgreSQL as the guard's query (`app.database.read`). It is the floor that
`/me` is measured against. It exists only here, never in the app `wsgi.py`
serves: it would hand anyone any account.
"""

import sqlalchemy as sa
from flask import Blueprint, Flask

from app import create_app, database
from app.errors import APIError
from app.models import User
from app.schemas.responses import AccountSchema

reference = Blueprint("reference", __name__)
ACCOUNT = AccountSchema()


@reference.get("/bench/users/<int:user_id>")
def user(user_id: int):
    found = database.read(sa.select(User).where(User.id == user_id))
    if not found:
        raise APIError(404, "not_found", "There is no such user.")
    return ACCOUNT.dump(found[0][0])


def create_reference_app(config: dict | None = None) -> Flask:
    service = create_app(config)
    service.register_blueprint(reference)
    return service
