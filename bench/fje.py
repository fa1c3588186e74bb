"""A flask-jwt-extended service of the same shape, for the side-by-side run.

`GET /me` is `@jwt_required()` and a `user_lookup_loader` that loads the user by primary
key, as flask-jwt-extended's documentation shows, over the same users table, with
Flask-SQLAlchemy's default engine settings, as its users deploy it. No revocation check,
rate limiter, audit log or security headers: that is the stock extension's whole hot path.
"""

import os

from flask import Flask
from flask_jwt_extended import JWTManager, current_user, jwt_required

from app.extensions import db
from app.models import User
from app.schemas.responses import AccountSchema

ACCOUNT = AccountSchema()


def create_fje_app(database_url: str | None = None, secret: str | None = None) -> Flask:
    """gunicorn calls this with no arguments: the settings come from the environment."""
    app = Flask(__name__)
    url = database_url or os.environ["DATABASE_URL"]
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        JWT_SECRET_KEY=secret or os.environ["JWT_ACCESS_SECRET"],
        JWT_ACCESS_TOKEN_EXPIRES=3600,
    )
    db.init_app(app)
    jwt = JWTManager(app)

    @jwt.user_lookup_loader
    def load_user(_header, payload):
        return db.session.get(User, int(payload["sub"]))

    @app.get("/me")
    @jwt_required()
    def me():
        return ACCOUNT.dump(current_user)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
