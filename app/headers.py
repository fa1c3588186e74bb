"""Headers on every response: no caching of tokens or account data, no sniffing or
framing, HSTS over HTTPS, CORS for the browser origins in CORS_ORIGINS only, and no
Content-Type on an answer without a body."""

import flask
from flask import Flask, request
from flask_cors import CORS

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"


class Response(flask.Response):
    """Flask's response, without a type by default: the service answers JSON or nothing,
    and an empty answer (to OPTIONS, a 204) must not say it is text/html."""

    default_mimetype = None


def init_app(app: Flask) -> None:
    app.response_class = Response
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
