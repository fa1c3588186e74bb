"""The service as deployed: gunicorn with gunicorn.conf.py, its JSON access log, who may
set X-Forwarded-*, a stop and start, and SQLite under concurrent workers."""

import json
import os
import runpy
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.live import (
    GUNICORN_CONF,
    call,
    gunicorn,
    migrate,
    oversized,
    raw_call,
    service_env,
    wait_for,
)
from tests.support import PASSWORD, empty_database_url

EVIL_AGENT = 'curl "quoted" back\\slash\t{"log": "forged"}'


def gunicorn_settings(monkeypatch, **environ) -> dict:
    for name in ("GUNICORN_BIND", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    settings = gunicorn_settings(monkeypatch, GUNICORN_BIND="0.0.0.0:9000", WEB_CONCURRENCY="3")

    assert (settings["bind"], settings["workers"]) == ("0.0.0.0:9000", 3)


def test_gunicorn_defaults_are_sync_workers_two_per_cpu_plus_one(monkeypatch):
    settings = gunicorn_settings(monkeypatch)

    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert settings["worker_class"] == "app.gunicorn_worker.JsonErrorWorker"
    assert settings["forwarded_allow_ips"] == ""
    limits = ("limit_request_line", "limit_request_fields", "limit_request_field_size")
    assert [settings[name] for name in limits] == [4094, 50, 8190]


def access_lines(log) -> list[dict]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("log") == "access"]


@contextmanager
def sqlite_service(tmp_path, workers=1, **settings):
    env = service_env(DATABASE_URL=f"sqlite:///{tmp_path / 'auth.db'}", **settings)
    migrate(env)
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, workers, log=log) as base:
        yield base, log


def signup(base: str, email: str = "user@example.com", **options) -> dict:
    body = {"email": email, "password": PASSWORD}
    assert call(base, "POST", "/auth/register", body, **options)[0] == 201
    status, _, tokens = call(base, "POST", "/auth/login", body, **options)
    assert status == 200
    return tokens


def test_the_access_log_is_json_lines_without_credentials(tmp_path):
    with sqlite_service(tmp_path) as (base, log):
        tokens = signup(base)
        bearer = {"Authorization": f"Bearer {tokens['accessToken']}", "User-Agent": EVIL_AGENT}
        status, headers, _ = call(base, "GET", "/me?token=query-secret", headers=bearer)
        assert status == 200
        refresh = {"refreshToken": tokens["refreshToken"]}
        assert call(base, "POST", "/auth/refresh", refresh)[0] == 200
        request_id = headers["X-Request-ID"]
        me = wait_for(
            lambda: [line for line in access_lines(log) if line["request_id"] == request_id],
            "the access line of GET /me",
        )

    assert me == [
        {
            "log": "access",
            "time": me[0]["time"],
            "client": "127.0.0.1",
            "method": "GET",
            "path": "/me",
            "status": 200,
            "bytes": me[0]["bytes"],
            "duration_ms": me[0]["duration_ms"],
            "request_id": request_id,
            "user_agent": EVIL_AGENT,
        }
    ]
    assert not [line for line in access_lines(log) if line.get("log") == "forged"]
    text = log.read_text()
    for secret in (tokens["accessToken"], tokens["refreshToken"], "query-secret", PASSWORD):
        assert secret not in text


@pytest.mark.parametrize(
    ("proxies", "client", "hsts"),
    [("0", "127.0.0.1", False), ("1", "203.0.113.9", True)],
    ids=["no-proxy", "one-proxy"],
)
def test_forwarded_headers_are_believed_exactly_as_trusted_proxy_count_says(
    tmp_path, proxies, client, hsts
):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with sqlite_service(tmp_path, TRUSTED_PROXY_COUNT=proxies) as (base, log):
        status, headers, _ = call(base, "GET", "/healthz", headers=forwarded)
        request_id = headers["X-Request-ID"]
        line = wait_for(
            lambda: [line for line in access_lines(log) if line["request_id"] == request_id],
            "the access line",
        )[0]

    assert status == 200
    # gunicorn's own default would take X-Forwarded-Proto from 127.0.0.1 even with 0
    assert ("Strict-Transport-Security" in headers) is hsts
    assert line["client"] == client
    assert line.get("peer") == (None if proxies == "0" else "127.0.0.1")


def test_a_chunked_body_over_max_content_length_is_413(tmp_path):
    """A real chunked request: no Content-Length, so only reading the body can tell."""
    credentials = {"email": "user@example.com", "password": "wrong-password"}
    small = json.dumps(credentials).encode()
    large = json.dumps({**credentials, "pad": "x" * 65536}).encode()
    with sqlite_service(tmp_path) as (base, _):
        too_large = call(base, "POST", "/auth/login", raw=iter([large[:1000], large[1000:]]))
        fits = call(base, "POST", "/auth/login", raw=iter([small[:10], small[10:]]))

    assert (too_large[0], too_large[2]["code"]) == (413, "payload_too_large")
    assert (fits[0], fits[2]["code"]) == (401, "invalid_credentials")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    with empty_database_url(request.param, tmp_path, "restart") as url:
        yield url


def test_users_sessions_and_tokens_survive_a_restart(database_url):
    env = service_env(DATABASE_URL=database_url)
    migrate(env)
    with gunicorn(env) as base:
        phone = signup(base)
        laptop = signup(base, "other@example.com")
        assert (
            call(base, "POST", "/auth/logout", {"refreshToken": laptop["refreshToken"]})[0] == 204
        )

    with gunicorn(env) as base:  # stopped with SIGTERM, started again on the same database
        bearer = {"Authorization": f"Bearer {phone['accessToken']}"}
        assert call(base, "GET", "/me", headers=bearer)[0] == 200
        refreshed = call(base, "POST", "/auth/refresh", {"refreshToken": phone["refreshToken"]})
        assert refreshed[0] == 200
        sessions = call(base, "GET", "/me/sessions", headers=bearer)[2]["sessions"]
        assert len(sessions) == 1
        # what had ended before the stop stays ended
        status, _, body = call(
            base, "POST", "/auth/refresh", {"refreshToken": laptop["refreshToken"]}
        )
        assert (status, body["code"]) == (401, "token_revoked")
        assert (
            call(base, "POST", "/auth/login", {"email": "user@example.com", "password": PASSWORD})[
                0
            ]
            == 200
        )
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with sa.create_engine(f"sqlite:///{path}").connect() as conn:
            assert conn.scalar(sa.text("PRAGMA journal_mode")) == "wal"


def test_two_sqlite_workers_under_concurrent_load_never_fail(tmp_path):
    """Two workers, 16 clients, 200 requests that write (login, refresh) and read (/me): the
    busy timeout queues the writers, so none sees "database is locked"."""
    with sqlite_service(tmp_path, workers=2) as (base, log):
        emails = [f"load{n}@example.com" for n in range(16)]
        for email in emails:
            body = {"email": email, "password": PASSWORD}
            assert call(base, "POST", "/auth/register", body)[0] == 201
        statuses: list[int] = []
        budget = iter(range(200))
        lock = threading.Lock()

        def take() -> bool:
            with lock:
                return next(budget, None) is not None

        def client(email: str) -> None:
            tokens, step = None, 0
            while take():
                step += 1
                if tokens is None:
                    body = {"email": email, "password": PASSWORD}
                    status, _, tokens = call(base, "POST", "/auth/login", body)
                elif step % 2:
                    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
                    status = call(base, "GET", "/me", headers=bearer)[0]
                else:
                    body = {"refreshToken": tokens["refreshToken"]}
                    status, _, tokens = call(base, "POST", "/auth/refresh", body)
                statuses.append(status)
                if status != 200:
                    tokens = None

        threads = [threading.Thread(target=client, args=(email,)) for email in emails]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(statuses) == 200
    assert set(statuses) == {200}, sorted(set(statuses))
    assert "database is locked" not in log.read_text()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with sqlite_service(tmp_path_factory.mktemp("limits")) as (base, _):
        yield base


@pytest.mark.parametrize(
    ("kind", "size", "status", "code"),
    [
        ("request line", 5000, 414, "uri_too_long"),
        ("header count", 60, 431, "headers_too_large"),
        ("header size", 9000, 431, "headers_too_large"),
        ("not http", 0, 400, "bad_request"),
    ],
)
def test_requests_gunicorn_refuses_itself_get_the_json_envelope(service, kind, size, status, code):
    answer = raw_call(service, oversized(kind, size))

    assert raw_call(service, oversized("request line", 4000))[0] == 200  # within the limit
    assert raw_call(service, oversized("header count", 40))[0] == 200
    assert (answer[0], answer[2]["code"]) == (status, code)
    assert answer[1]["Content-Type"] == "application/json"
    assert set(answer[2]) == {"error", "code"}
