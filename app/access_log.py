"""gunicorn's access log as one JSON object per request, for the same log shipper as the
audit log (gunicorn.conf.py sets `logger_class` to this).

gunicorn's own `access_log_format` cannot make valid JSON: it escapes quotes but not
backslashes or control characters, so a crafted User-Agent could break or forge a line.
Here `json.dumps` writes the line. It names the request by method and path only: the query
string, Authorization, Cookie and every other request header stay out, so no token or
password reaches the log. `client` is the address the app believed (after
TRUSTED_PROXY_COUNT), `peer` the socket's own when they differ, and `request_id` the
X-Request-ID that also tags the audit lines of the request.
"""

import json
from datetime import UTC, datetime

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        record = {
            "log": "access",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "client": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": _header(resp.headers, "x-request-id"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        peer = environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
        if peer and peer != record["client"]:
            record["peer"] = peer
        self.access_log.info(json.dumps(record))


def _header(headers, name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)
