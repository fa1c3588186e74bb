"""Rate limits on the endpoints attackers hammer, per client address and per account.

Per-address limits stop one client from trying many accounts; per-account limits (keyed
by a hash of the normalised email) stop many addresses from trying one account. Counters
live in RATELIMIT_STORAGE_URI: `memory://` for one process, `redis://...` when several
workers or hosts must share one budget. If Redis fails, each process falls back to its own
in-memory counters (limits still apply, per process) rather than failing requests.
"""

import hashlib
import logging
from collections.abc import Callable

from flask import Flask, current_app, request
from flask.logging import default_handler
from flask_limiter.util import get_remote_address
from limits import parse_many

from app.audit import audit
from app.config import ConfigError
from app.errors import APIError
from app.extensions import limiter
from app.schemas import json_body, normalise_email

LIMIT_SETTINGS = (
    "RATELIMIT_LOGIN",
    "RATELIMIT_LOGIN_ACCOUNT",
    "RATELIMIT_REGISTER",
    "RATELIMIT_REFRESH",
    "RATELIMIT_FORGOT_PASSWORD",
    "RATELIMIT_FORGOT_PASSWORD_ACCOUNT",
    "RATELIMIT_RESET_PASSWORD",
    "RATELIMIT_RESEND_VERIFICATION",
    "RATELIMIT_PASSWORD_CHECK",
)


def account_key() -> str:
    """The account a request names: a hash of its normalised `email`, never the address."""
    try:
        email = json_body().get("email")
    except APIError:
        email = None
    if not isinstance(email, str):
        return "account:none"
    try:
        email = normalise_email(email)
    except ValueError:
        email = email.strip().lower()
    return "account:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()


def failed_login(response) -> bool:
    return response.status_code == 401


def limit(setting: str, key_func: Callable[[], str] = get_remote_address, **options):
    """Apply the limit named by a setting (read per request, so tests and config can vary)."""
    return limiter.limit(lambda: current_app.config[setting], key_func=key_func, **options)


def _on_breach(request_limit) -> None:
    audit("rate_limited", endpoint=request.endpoint, limit=str(request_limit.limit))


def init_rate_limits(app: Flask) -> None:
    for setting in LIMIT_SETTINGS:
        try:
            parse_many(app.config[setting])
        except ValueError:
            raise ConfigError(f"{setting}={app.config[setting]!r} is not a rate limit") from None
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_ON_BREACH_CALLBACK", _on_breach)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        # A dead Redis must cost a request milliseconds, not the default wait.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        )
    limiter.init_app(app)
    # Flask-Limiter says when it falls back to memory and when Redis is back, on a logger
    # that has only a NullHandler: send those lines where the app's own go.
    limiter_log = logging.getLogger("flask-limiter")
    limiter_log.setLevel(logging.INFO)
    if default_handler not in limiter_log.handlers:
        limiter_log.addHandler(default_handler)
