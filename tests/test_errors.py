"""Every error answers with the contract's envelope, and malformed input is a 400, never a 500.

Covers the HTTP errors Werkzeug raises (404, 405, 413, 415), bodies that are not a JSON
object, values of the wrong type or that UTF-8 cannot carry, an unexpected exception, a
database that is down, and the headers every response carries.
"""

import importlib
import io
import json
import logging
import pkgutil

import pytest
import sqlalchemy as sa

from app import exceptions
from app.errors import ANSWERS
from tests.support import assert_error, make_app

LOGIN = "/auth/login"
CREDENTIALS = {"email": "user@example.com", "password": "correct horse battery"}


def post_raw(client, path, data, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type)


def test_unknown_url_is_404(client):
    assert_error(client.get("/no/such/page"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("get", LOGIN, {"POST"}), ("put", "/auth/register", {"POST"}), ("post", "/me", {"GET"})],
)
def test_wrong_method_is_405_with_allow_header(client, method, path, allowed):
    response = getattr(client, method)(path)

    assert_error(response, 405, "method_not_allowed")
    allow = {name.strip() for name in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method.upper() not in allow


def padded_credentials(size):
    """A login body of exactly `size` bytes (the padding is an ignored unknown field)."""
    body = json.dumps({**CREDENTIALS, "pad": ""})
    return body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"').encode()


def test_body_over_max_content_length_is_413(client):
    response = post_raw(client, LOGIN, padded_credentials(65536 + 1))

    assert_error(response, 413, "payload_too_large")


def test_body_of_exactly_max_content_length_is_accepted(client):
    response = post_raw(client, LOGIN, padded_credentials(65536))

    assert_error(response, 401, "invalid_credentials")


def post_chunked(client, path, data):
    """A body as gunicorn hands on a chunked one: no Content-Length, a stream that ends."""
    return client.post(
        path,
        input_stream=io.BytesIO(data),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_max_content_length_is_413(client):
    response = post_chunked(client, LOGIN, padded_credentials(65536 + 1))

    assert_error(response, 413, "payload_too_large")


def test_chunked_body_of_exactly_max_content_length_is_accepted(client):
    response = post_chunked(client, LOGIN, padded_credentials(65536))

    assert_error(response, 401, "invalid_credentials")


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024}], ids=["1KiB"])
def test_max_content_length_is_configurable(client):
    assert_error(post_raw(client, LOGIN, padded_credentials(1025)), 413, "payload_too_large")
    assert_error(post_raw(client, LOGIN, padded_credentials(1024)), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None],
)
def test_body_that_is_not_json_is_415(client, content_type):
    response = post_raw(client, LOGIN, json.dumps(CREDENTIALS), content_type)

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/problem+json"]
)
def test_json_content_types_with_parameters_or_suffix_are_accepted(client, content_type):
    response = post_raw(client, LOGIN, json.dumps(CREDENTIALS), content_type)

    assert_error(response, 401, "invalid_credentials")


INVALID_JSON = {
    "empty": b"",
    "truncated": b'{"email": "user@example.com"',
    "single-quotes": b"{'email': 'user@example.com'}",
    "trailing-comma": b'{"email": "user@example.com",}',
    "not-utf8": b'{"email": "\xff\xfe@example.com"}',
    "array": b"[]",
    "array-of-object": b'[{"email": "user@example.com"}]',
    "string": b'"user@example.com"',
    "number": b"42",
    "null": b"null",
    "nested-arrays-50k-unclosed": b"[" * 50_000,
    "nested-arrays-30k-closed": b"[" * 30_000 + b"]" * 30_000,
    "nested-objects-10k": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "integer-over-4300-digits": b'{"email": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("path", [LOGIN, "/auth/register", "/auth/forgot-password"])
@pytest.mark.parametrize("body", INVALID_JSON.values(), ids=INVALID_JSON.keys())
def test_body_that_is_not_a_json_object_is_invalid_json(client, path, body):
    assert_error(post_raw(client, path, body), 400, "invalid_json")


# (path, raw JSON text, the field that must be reported). Lone surrogates are sent as the
# JSON escape, which json.loads turns into a str that UTF-8 (bcrypt, the database) refuses.
WRONG_VALUES = {
    "email-number": (LOGIN, '{"email": 42, "password": "x"}', "email"),
    "email-list": (LOGIN, '{"email": ["a@example.com"], "password": "x"}', "email"),
    "email-object": (LOGIN, '{"email": {"a": 1}, "password": "x"}', "email"),
    "email-null": (LOGIN, '{"email": null, "password": "x"}', "email"),
    "email-bool": (LOGIN, '{"email": true, "password": "x"}', "email"),
    "email-nan": (LOGIN, '{"email": NaN, "password": "x"}', "email"),
    "password-number": (LOGIN, '{"email": "a@example.com", "password": 12345678}', "password"),
    "password-list": ("/auth/register", '{"email": "a@example.com", "password": []}', "password"),
    "refresh-number": ("/auth/refresh", '{"refreshToken": 1}', "refreshToken"),
    "token-object": ("/auth/reset-password", '{"token": {}, "password": "long enough"}', "token"),
    "surrogate-email": (LOGIN, r'{"email": "\ud800@example.com", "password": "x"}', "email"),
    "surrogate-login-password": (
        LOGIN,
        r'{"email": "a@example.com", "password": "pass\ud800word"}',
        "password",
    ),
    "surrogate-register-password": (
        "/auth/register",
        r'{"email": "a@example.com", "password": "\udfffpassword"}',
        "password",
    ),
    "surrogate-forgot-email": (
        "/auth/forgot-password",
        r'{"email": "a\udc00@example.com"}',
        "email",
    ),
    "surrogate-refresh": ("/auth/refresh", r'{"refreshToken": "\ud800"}', "refreshToken"),
    "surrogate-reset-token": (
        "/auth/reset-password",
        r'{"token": "\ud800", "password": "long enough"}',
        "token",
    ),
    "surrogate-reset-password": (
        "/auth/reset-password",
        r'{"token": "abc", "password": "long \ud800 enough"}',
        "password",
    ),
    "nul-in-password": (
        LOGIN,
        r'{"email": "a@example.com", "password": "pass\u0000word"}',
        "password",
    ),
}


@pytest.mark.parametrize(("path", "text", "field"), WRONG_VALUES.values(), ids=WRONG_VALUES.keys())
def test_wrong_value_is_a_validation_error_not_a_500(client, path, text, field):
    body = assert_error(post_raw(client, path, text), 400, "validation_error", details=True)

    assert field in body["details"]


def test_unexpected_exception_is_500_without_internals(app, client, caplog, monkeypatch):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret-detail in /srv/app/module.py")

    response = client.get("/boom")

    assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    for leak in ("secret-detail", "Traceback", "RuntimeError", ".py"):
        assert leak not in text
    assert "secret-detail" in caplog.text, "the operator still gets the exception in the log"


def test_database_error_is_500_without_sql_or_parameters(app, client, caplog, monkeypatch):
    @app.get("/bad-query")
    def bad_query():
        raise sa.exc.IntegrityError("INSERT INTO users (email) VALUES (?)", ("leak@x.io",), None)

    response = client.get("/bad-query")

    assert_error(response, 500, "internal_error")
    for leak in ("INSERT", "leak@x.io"):
        assert leak not in response.get_data(as_text=True)
        assert leak not in caplog.text


def dead_database_app(url):
    """An app whose database refuses connections (nothing listens on port 1)."""
    return make_app(url, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (LOGIN, CREDENTIALS),
        ("/auth/register", {"email": "new@example.com", "password": "a fine passphrase"}),
        ("/auth/forgot-password", {"email": "user@example.com"}),
    ],
)
def test_unreachable_database_is_503(path, body):
    app = dead_database_app("postgresql+psycopg://postgres@127.0.0.1:1/test")

    response = app.test_client().post(path, json=body)

    assert_error(response, 503, "service_unavailable")
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/no/such/page", None),
        ("get", LOGIN, None),
        ("post", LOGIN, {"email": 1}),
        ("post", LOGIN, CREDENTIALS),
        ("get", "/me", None),
    ],
    ids=["404", "405", "400", "401", "401-missing-token"],
)
def test_error_answers_are_no_store_and_nosniff(client, method, path, body):
    response = getattr(client, method)(path, json=body)

    assert response.status_code >= 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_token_answer_is_no_store_and_nosniff(auth):
    auth.register()
    response = auth.client.post(LOGIN, json=CREDENTIALS)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_logged_database_outage_names_no_credentials(caplog, monkeypatch):
    app = dead_database_app("postgresql+psycopg://postgres:hunter2-password@127.0.0.1:1/test")
    caplog.set_level(logging.INFO)

    response = app.test_client().post(LOGIN, json=CREDENTIALS)

    assert_error(response, 503, "service_unavailable")
    assert "database unavailable" in caplog.text
    assert "hunter2-password" not in caplog.text


def _raised(kind=exceptions.ServiceError):
    """The exceptions of app.exceptions that have no subclass: those the code raises."""
    for sub in kind.__subclasses__():
        yield from _raised(sub) if sub.__subclasses__() else [sub]


@pytest.mark.parametrize("kind", list(_raised()), ids=lambda kind: kind.__name__)
def test_every_domain_exception_has_an_answer(kind):
    """Listed in errors.ANSWERS, itself or through a base more precise than ServiceError."""
    assert any(base in ANSWERS for base in kind.__mro__ if base is not exceptions.ServiceError)


def test_no_module_keeps_an_exception_instance():
    """A raised instance keeps its traceback and every frame's locals (a password) alive."""
    import app

    for info in pkgutil.walk_packages(app.__path__, "app."):
        module = importlib.import_module(info.name)
        kept = [name for name, value in vars(module).items() if isinstance(value, BaseException)]
        assert not kept, f"{info.name} keeps {kept}"
