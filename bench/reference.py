"""The service as the benchmark runs it: the real app plus the reference endpoint.

`GET /bench/users/<id>` does what `GET /me` does without authentication: one primary-key
lookup of a user and the same JSON, through the same app, hooks and gunicorn. It is the
floor that `/me` is measured against. It exists only here, never in the app `wsgi.py`
serves: it would hand anyone any account.
"""

from flask import Blueprint, Flask

from app import create_app
from app.errors import APIError
from app.extensions import db
from app.models import User
from app.schemas.responses import AccountSchema

reference = Blueprint("reference", __name__)
ACCOUNT = AccountSchema()


@reference.get("/bench/users/<int:user_id>")
def user(user_id: int):
    found = db.session.get(User, user_id)
    if found is None:
        raise APIError(404, "not_found", "There is no such user.")
    return ACCOUNT.dump(found)


def create_reference_app() -> Flask:
    service = create_app()
    service.register_blueprint(reference)
    return service
