"""Headers on every response: no caching of tokens or account data, no sniffing or
framing, HSTS over HTTPS, and CORS for the browser origins in CORS_ORIGINS only."""

from flask import Flask, request
from flask_cors import CORS

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"


def init_headers(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if origins:
        CORS(
            app,
            origins=origins,
            # Cookie-mode refresh needs credentialed requests; "*" is refused in config.
            supports_credentials=True,
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID"],
            max_age=600,
        )

    @app.after_request
    def security_headers(response):
        # Almost every answer carries tokens or account data; a view that serves something
        # public (a key set, the API document) sets its own Cache-Control.
        response.headers.setdefault("Cache-Control", "no-store")
        if response.headers["Cache-Control"] == "no-store":
            response.headers["Pragma"] = "no-cache"
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
