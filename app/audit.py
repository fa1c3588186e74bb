"""The audit log: one JSON line per security event, on stdout, for the log shipper.

Every line has the time, the event, the user id when known, the client address, the user
agent and the request id. Callers pass only what is safe to keep: never a password, a hash
or a token (the tests check this).
"""

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, g, has_request_context, request

if TYPE_CHECKING:
    from app import users

logger = logging.getLogger("app.audit")

# A client-supplied X-Request-ID is kept only when it is short and plain, so that it
# cannot forge log lines or carry a payload.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def audit(event: str, *, user_id: int | None = None, **fields: Any) -> None:
    record: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": event,
        "user_id": user_id,
    }
    if has_request_context():
        record["ip"] = request.remote_addr
        record["user_agent"] = request.user_agent.string[:256] or None
        record["request_id"] = g.get("request_id")
    record.update(fields)
    logger.info(json.dumps(record, default=str))


def audit_change(change: "users.Change", **actor: Any) -> None:
    """Audit what an admin (`admin_id`) or an operator (`source="cli"`) changed of an
    account: one event per field that changed."""
    user = change.user
    if change.role_changed:
        audit("user_role_changed", user_id=user.id, role=user.role, **actor)
    if change.disabled_changed:
        audit("user_disabled" if user.disabled else "user_enabled", user_id=user.id, **actor)
    if change.mfa_reset:
        audit("mfa_reset", user_id=user.id, **actor)


def init_app(app: Flask) -> None:
    """Send audit lines to stdout as bare JSON, and tag every request with an id.

    Under APP_ENV=testing no handler is attached; tests collect the lines themselves.
    """
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not into Flask's "app" logger: one line per event
    if not logger.handlers and not app.testing:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response
