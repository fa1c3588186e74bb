"""Rate limits on the endpoints attackers hammer, per client address and per account.

Per-address limits stop one client from trying many accounts; per-account limits stop many
addresses from trying one account: keyed by a hash of the normalised email the body names
(login, forgot-password), or by the signed-in user (the password checks of /me). Counters
live in RATELIMIT_STORAGE_URI: `memory://` for one process, `redis://...` when several
workers or hosts must share one budget. If Redis fails, each process falls back to its own
in-memory counters (limits still apply, per process) rather than failing requests.

Flask-Limiter takes any exception raised while it checks the limits for a dead storage and
switches to those in-memory counters, so a key function must never raise: each reads only
what is already checked (the peer address, the user the guard authenticated, a body that
`@bp.arguments` validated before the limits run), and an oversized or malformed body is
answered before any limit is counted. The fallback follows a storage error only.

Every attempt counts before the work it limits, atomically in the shared store (a fixed
window is one INCR in Redis), so that concurrent requests cannot all pass a test made
before any of them was counted. A login with the right password gives its per-account
attempt back (`refund_account_attempt`): only wrong guesses use up an account's budget.
"""

import hashlib
import logging
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask.logging import default_handler
from flask_limiter.util import get_remote_address
from limits import parse_many

from app.audit import audit
from app.config import ConfigError
from app.extensions import limiter
from app.security import current_user

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
    "RATELIMIT_PASSWORD_CHECK_ACCOUNT",
    "RATELIMIT_INTROSPECT",
    "RATELIMIT_INTROSPECT_FAILURES",
    "RATELIMIT_PASSKEY",
)


def account_key() -> str:
    """The account the validated body names: a hash of its normalised email, never the email."""
    return "account:" + hashlib.sha256(g.body["email"].encode()).hexdigest()


def user_key() -> str:
    """The account of the access token: `login_required` runs before the limits."""
    return f"user:{current_user().id}"


def refund_account_attempt(key_func: Callable[[], str] = account_key) -> None:
    """Give back the per-account attempt of this request (counted under `key_func`): its
    password, or its second factor, was right.

    A fixed-window counter gives back by a decrement. Should the window end between the
    attempt and its refund, the new window starts one lower: one more guess at most, and
    only after a login with the right password.
    """
    key = key_func()
    for taken in limiter.current_limits:
        if key not in taken.request_args:
            continue
        storage = taken.limiter.storage
        try:
            storage.incr(taken.key, taken.limit.get_expiry(), amount=-1)
        except storage.base_exceptions as exc:
            # The attempt stays counted: a user is at worst limited a little early.
            current_app.logger.warning("rate limit refund failed: %s", type(exc).__name__)


def limit(setting: str, key_func: Callable[[], str] = get_remote_address, **options):
    """Apply the limit named by a setting (read per request, so tests and config can vary)."""
    return limiter.limit(lambda: current_app.config[setting], key_func=key_func, **options)


def _on_breach(request_limit) -> None:
    audit("rate_limited", endpoint=request.endpoint, limit=str(request_limit.limit))


def init_app(app: Flask) -> None:
    """Check the RATELIMIT_* limits and bind the limiter with fail-open defaults."""
    for setting in LIMIT_SETTINGS:
        try:
            parse_many(app.config[setting])
        except ValueError:
            raise ConfigError(f"{setting}={app.config[setting]!r} is not a rate limit") from None
    # Counters, which `refund_account_attempt` can decrement.
    app.config["RATELIMIT_STRATEGY"] = "fixed-window"
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
