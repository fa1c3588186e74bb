"""Several hosts: two gunicorn instances over one PostgreSQL database and one Redis, with
the documented nginx site (deploy/nginx/auth.conf) in front, as in production.

The instances run with APP_ENV=production, the same secrets and TRUSTED_PROXY_COUNT=1,
each on its own port, as two hosts behind a load balancer would. What one instance does,
the other must see at once: tokens, rotation, ended sessions, rate-limit budgets. The
nginx tests skip when nginx is not installed, and fail instead under CI (.ci/run
installs it).
"""

import json
import secrets
import uuid
from contextlib import ExitStack

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from tests.live import (
    call,
    gunicorn,
    migrate,
    oversized,
    raw_call,
    service_env,
    wait_for,
)
from tests.nginx import nginx
from tests.support import (
    PASSWORD,
    REDIS_URL,
    Mailbox,
    at_once,
    free_port,
    private_schema,
    redis_or_skip,
)

HOSTS = {
    "APP_ENV": "production",
    "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
    "JWT_REFRESH_SECRET": secrets.token_urlsafe(48),
    "MFA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "BCRYPT_ROUNDS": "10",
    "TRUSTED_PROXY_COUNT": "1",
    "RATELIMIT_ENABLED": "true",
    "RATELIMIT_STORAGE_URI": REDIS_URL,
    "RATELIMIT_LOGIN": "6 per minute",
    "MAIL_BACKEND": "smtp",
    "SMTP_HOST": "127.0.0.1",
    "PUBLIC_URL": "https://auth.example.com",
    "RESET_URL_TEMPLATE": "https://app.example.com/reset?token={token}",
    "VERIFY_URL_TEMPLATE": "https://app.example.com/verify?token={token}",
    "EMAIL_CHANGE_URL_TEMPLATE": "https://app.example.com/confirm-email?token={token}",
}


class Cluster:
    def __init__(self, a: str, b: str, logs, redis, prefix):
        self.a, self.b, self.logs, self.redis, self.prefix = a, b, logs, redis, prefix

    def upstreams(self) -> list[str]:
        return [base.removeprefix("http://") for base in (self.a, self.b)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    store = redis_or_skip()
    prefix = f"multihost-{uuid.uuid4().hex}"
    directory = tmp_path_factory.mktemp("multihost")
    logs = (directory / "a.log", directory / "b.log")
    mail = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    mail.start()
    with private_schema("multihost") as url, ExitStack() as running:
        running.callback(mail.stop)
        env = service_env(
            **HOSTS, DATABASE_URL=url, RATELIMIT_KEY_PREFIX=prefix, SMTP_PORT=str(mail.port)
        )
        migrate(env)
        a, b = (running.enter_context(gunicorn(env, log=log)) for log in logs)
        yield Cluster(a, b, logs, store, prefix)
    for key in store.scan_iter(f"*{prefix}*"):
        store.delete(key)


@pytest.fixture(scope="module")
def front(cluster, tmp_path_factory):
    with nginx(tmp_path_factory.mktemp("nginx"), cluster.upstreams()) as served:
        yield served


class Client:
    """One user's device: its own address (so that rate limits do not mix between tests)
    and its own account."""

    def __init__(self, source: str):
        self.source = source
        self.email = f"{uuid.uuid4().hex[:12]}@example.com"

    def call(self, base, method, path, body=None, headers=None, **options):
        return call(base, method, path, body, headers, source=self.source, **options)

    def signup(self, base, **options) -> dict:
        credentials = {"email": self.email, "password": PASSWORD}
        assert self.call(base, "POST", "/auth/register", credentials, **options)[0] == 201
        status, _, tokens = self.call(base, "POST", "/auth/login", credentials, **options)
        assert status == 200, tokens
        return tokens

    def me(self, base, tokens, **options):
        bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
        return self.call(base, "GET", "/me", headers=bearer, **options)

    def refresh(self, base, tokens, **options):
        body = {"refreshToken": tokens["refreshToken"]}
        return self.call(base, "POST", "/auth/refresh", body, **options)


def test_a_token_issued_by_one_instance_works_on_the_other(cluster):
    device = Client("127.0.1.1")
    tokens = device.signup(cluster.a)

    status, _, account = device.me(cluster.b, tokens)

    assert status == 200
    assert account["email"] == device.email


def test_a_refresh_token_rotated_on_one_instance_is_spent_on_the_other(cluster):
    device = Client("127.0.1.2")
    first = device.signup(cluster.a)
    status, _, second = device.refresh(cluster.a, first)
    assert status == 200

    status, _, body = device.refresh(cluster.b, first)

    assert (status, body["code"]) == (401, "token_revoked")
    # Reuse is theft: the whole session ended, on both instances.
    assert device.refresh(cluster.a, second)[0] == 401
    assert device.me(cluster.b, second)[2]["code"] == "token_revoked"


def test_a_session_ended_on_one_instance_is_refused_by_the_other_at_once(cluster):
    device = Client("127.0.1.3")
    tokens = device.signup(cluster.a)
    assert device.me(cluster.b, tokens)[0] == 200

    body = {"refreshToken": tokens["refreshToken"]}
    assert device.call(cluster.a, "POST", "/auth/logout", body)[0] == 204

    status, _, answer = device.me(cluster.b, tokens)
    assert (status, answer["code"]) == (401, "token_revoked")
    assert device.refresh(cluster.b, tokens)[0] == 401


def test_rate_limits_are_one_budget_across_instances(cluster):
    attacker, bystander = Client("127.0.1.4"), Client("127.0.1.5")

    def wrong_login(device, base):
        # a different account each time: only the per-address budget is spent
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-password"}
        return device.call(base, "POST", "/auth/login", body)

    statuses = [wrong_login(attacker, base)[0] for base in [cluster.a, cluster.b] * 3]
    assert statuses == [401] * 6  # RATELIMIT_LOGIN: 6 per minute, spent over both

    for base in (cluster.a, cluster.b):
        status, headers, body = wrong_login(attacker, base)
        assert (status, body["code"]) == (429, "rate_limited")
        assert int(headers["Retry-After"]) > 0
    assert wrong_login(bystander, cluster.b)[0] == 401
    assert any(cluster.redis.scan_iter(f"*{cluster.prefix}*"))


def test_concurrent_refreshes_across_instances_have_exactly_one_winner(cluster):
    device = Client("127.0.1.6")
    tokens = device.signup(cluster.a)

    results = at_once(8, lambda i: device.refresh((cluster.a, cluster.b)[i % 2], tokens))

    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [401] * 7


def test_nginx_terminates_tls_and_forwards_the_address_it_saw(cluster, front):
    device = Client("127.0.1.7")
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    tokens = device.signup(front.https, tls=front.tls, headers=spoofed)
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}

    status, headers, body = device.call(
        front.https, "GET", "/me/sessions", headers={**bearer, **spoofed}, tls=front.tls
    )

    assert status == 200
    # TRUSTED_PROXY_COUNT=1: the address nginx saw, not the one the client claimed
    assert [session["ip"] for session in body["sessions"]] == ["127.0.1.7"]
    # X-Forwarded-Proto: the service knows the request came over HTTPS
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_nginx_redirects_plain_http_to_https(front):
    status, headers, _ = call(front.http, "GET", "/healthz")

    assert status == 301
    assert headers["Location"].startswith("https://")


def test_nginx_refuses_a_body_over_max_content_length_with_the_envelope(front):
    padding = 65536 - len(b'{"email": "", "password": "x"}')
    fits = b'{"email": "' + b"a" * padding + b'", "password": "x"}'
    assert len(fits) == 65536

    status, headers, body = call(front.https, "POST", "/auth/login", raw=fits + b" ", tls=front.tls)
    assert (status, body["code"]) == (413, "payload_too_large")
    assert headers["Content-Type"] == "application/json"

    status, _, body = call(front.https, "POST", "/auth/login", raw=fits, tls=front.tls)
    assert (status, body["code"]) == (400, "validation_error")  # the service read it


def test_nginx_spreads_requests_over_both_instances(cluster, front):
    ids = [call(front.https, "GET", "/readyz", tls=front.tls)[1]["X-Request-ID"] for _ in range(6)]

    def served() -> list[int]:
        return [sum(log.read_text().count(i) for i in ids) for log in cluster.logs]

    # every request in exactly one instance's access log, and both instances got some
    counts = wait_for(lambda: sum(served()) == len(ids) and served(), "the access lines")
    assert all(counts), counts

    # nginx logged the same ids, as JSON lines naming the instance
    def nginx_lines() -> list[dict]:
        text = (front.directory / "auth.access.log").read_text()
        lines = [json.loads(line) for line in text.splitlines()]
        return [line for line in lines if line["request_id"] in ids]

    logged = wait_for(lambda: len(nginx_lines()) == len(ids) and nginx_lines(), "nginx's log")
    assert {line["upstream"] for line in logged} == set(cluster.upstreams())


def test_nginx_answers_the_503_envelope_when_no_instance_is_up(tmp_path):
    nowhere = [f"127.0.0.1:{port}" for port in (1, 9)]  # nothing listens on these ports
    with nginx(tmp_path, nowhere) as lonely:
        status, headers, body = call(lonely.https, "GET", "/readyz", tls=lonely.tls)

    assert (status, body["code"]) == (503, "service_unavailable")
    assert headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("port", "kind", "size", "status", "code"),
    [
        ("https", "request line", 9000, 414, "uri_too_long"),  # over nginx's 8 KiB
        ("https", "request line", 5000, 414, "uri_too_long"),  # over gunicorn's 4 KiB only
        ("https", "header size", 9000, 431, "headers_too_large"),  # over nginx's 8 KiB
        ("https", "header count", 60, 431, "headers_too_large"),  # gunicorn's; nginx counts none
        ("https", "not http", 0, 400, "bad_request"),
        # plain HTTP: what nginx refuses before its redirect to HTTPS
        ("http", "request line", 9000, 414, "uri_too_long"),
        ("http", "header size", 9000, 431, "headers_too_large"),
        ("http", "not http", 0, 400, "bad_request"),
    ],
)
def test_what_nginx_or_an_instance_refuses_before_the_app_is_the_envelope(
    front, port, kind, size, status, code
):
    tls = front.tls if port == "https" else None

    status_, headers, body = raw_call(getattr(front, port), oversized(kind, size), tls=tls)

    assert (status_, body["code"]) == (status, code)
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"


def test_the_error_pages_of_nginx_are_not_served_to_clients(front):
    status, headers, body = call(front.https, "GET", "/.errors/503", tls=front.tls)

    assert (status, body["code"]) == (404, "not_found")
    assert "Retry-After" not in headers
