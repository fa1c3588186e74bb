"""The client's address: believed from X-Forwarded-For only as far as trusted proxies
vouch for it, and only when it is an IP address.

TRUSTED_PROXY_COUNT says how many proxies in front of the service append to
X-Forwarded-For; werkzeug's ProxyFix takes the address the outermost of them saw. With the
default 0 the headers are ignored, so a client cannot fake its address. ProxyFix copies
the value as it is, and a count higher than the real number of proxies lets the client
write it: so it is checked here, once, for every reader of `request.remote_addr` (rate
limits, sessions, audit lines, the access log). A value that is not an IP address (too
long for the session's column, markup, `host:port`, an IPv6 zone) gives way to the peer's
own address, the proxy's, so such requests share one rate-limit budget rather than escape
it; an address is kept in its canonical form (`2001:db8::1`).
"""

import ipaddress

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.sessions import ClientInfo

USER_AGENT_LENGTH = 512  # what the sessions' and refresh tokens' column keeps


def init_app(app: Flask) -> None:
    """Believe X-Forwarded-* only from the TRUSTED_PROXY_COUNT proxies in front of us."""
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(
            checked_address(app.wsgi_app), x_for=count, x_proto=count, x_host=count
        )


def canonical_address(value: str | None) -> str | None:
    """`value` in canonical form if it is an IP address without a zone, else None."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if getattr(address, "scope_id", None):
        return None
    return str(address)


def checked_address(wsgi_app):
    """Wrap the app that ProxyFix calls: REMOTE_ADDR is an address, or the peer's."""

    def app(environ, start_response):
        forwarded = canonical_address(environ.get("REMOTE_ADDR"))
        peer = environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
        environ["REMOTE_ADDR"] = forwarded or peer
        return wsgi_app(environ, start_response)

    return app


def client_info() -> ClientInfo:
    """The client of this request, as the sessions keep it: its address, believed as
    above, and its user agent."""
    return ClientInfo(request.remote_addr, request.user_agent.string[:USER_AGENT_LENGTH] or None)
