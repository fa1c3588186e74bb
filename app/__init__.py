"""The JWT authentication service: `create_app` builds it.

Two layers. The web layer (the blueprints, `security`, `cookies`, `schemas`, `errors`)
reads the request and answers it. The core (`sessions`, `rotation`, `users`,
`verification`, `email_tokens`, `tokens`...) takes plain arguments, never reads the
request, and refuses with the exceptions of `app/exceptions.py`, which `app/errors.py`
alone turns into HTTP answers.

Who commits and who audits, everywhere: services do neither. They write through
`db.session` and return (or raise); the caller, a view, a `flask` command or a background
job, is the unit of work: it commits once, and only after the commit writes the audit
events (`app.audit`), so the log never records what was rolled back. A refusal that must
still persist something (a reused refresh token ends its session) is committed by the
view, explicitly, before it lets the exception through. A service may roll back to
release its locks before it refuses. The one exception is `app/purge.py`, maintenance
whose every batch is a short transaction of its own, by design.
"""

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import find_dotenv, load_dotenv
from flask import Flask
from flask.helpers import get_debug_flag

from app import audit, database, dev_server_log, headers, keys, outbox, proxies, ratelimit, tokens
from app import config as configuration
from app.bodies import Request
from app.errors import register_error_handlers
from app.extensions import db, migrate
from app.web import health, openapi


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment (and `.env`); `config` overrides what it read."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.request_class = Request  # a chunked body over MAX_CONTENT_LENGTH is a 413 too
    load_settings(app, config)
    keys.init_app(app)
    tokens.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    audit.init_app(app)
    headers.init_app(app)
    proxies.init_app(app)
    dev_server_log.init_app(app)
    return app


def load_settings(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    overrides = dict(overrides or {})
    if os.environ.get("APP_ENV", "development") == "development":
        env_file = Path(find_dotenv(usecwd=True) or Path.cwd() / ".env")
        load_dotenv(env_file)
        if "JWT_ACCESS_SECRET" not in overrides and configuration.ensure_dev_secrets(env_file):
            load_dotenv(env_file)
            app.logger.warning("wrote random development secrets to %s", env_file)
    elif os.environ.get("APP_ENV") == "production":
        load_dotenv(find_dotenv(usecwd=True))
    settings = configuration.load_config()
    settings.update(overrides)
    configuration.derive_defaults(settings)
    configuration.validate_config(settings)
    if settings["DATABASE_URL"] is None:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        settings["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'auth.db'}"
    settings["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
    settings.setdefault("SQLALCHEMY_ENGINE_OPTIONS", database.engine_options(settings))
    app.config.from_mapping(settings)
    if settings["APP_ENV"] == "production":
        if get_debug_flag():
            raise configuration.ConfigError("APP_ENV=production never runs in debug mode")
        app.debug = False
    app.json.sort_keys = False
    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db)
    health.init_app(app)  # readiness compares the schema with Flask-Migrate's folder
    ratelimit.init_app(app)
    outbox.init_app(app)


def register_blueprints(app: Flask) -> None:
    from app.account import bp as account_bp
    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.introspection import bp as introspection_bp
    from app.pages import bp as pages_bp
    from app.reset import bp as reset_bp
    from app.wellknown import bp as wellknown_bp

    openapi.init_app(app)
    openapi.api.register_blueprint(auth_bp, url_prefix="/auth")
    openapi.api.register_blueprint(reset_bp, url_prefix="/auth")
    openapi.api.register_blueprint(introspection_bp, url_prefix="/auth")
    openapi.api.register_blueprint(account_bp, url_prefix="/me")
    openapi.api.register_blueprint(admin_bp, url_prefix="/admin")
    openapi.api.register_blueprint(health.bp)
    openapi.api.register_blueprint(openapi.bp)
    openapi.api.register_blueprint(wellknown_bp, url_prefix="/.well-known")
    openapi.freeze(app)
    # HTML for people, not part of the API: registered outside its OpenAPI document.
    app.register_blueprint(pages_bp)


def register_commands(app: Flask) -> None:
    from app.commands.mfa import mfa_cli
    from app.commands.tokens import tokens_cli
    from app.commands.users import users_cli

    app.cli.add_command(mfa_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(users_cli)
