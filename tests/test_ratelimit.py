"""Rate limits: per client address, per account, 429 envelope, proxies, a dead Redis;
counted before the password check, even by concurrent guesses; after the token check.

One budget shared by several instances through Redis is shown in tests/test_multihost.py,
and a Redis that stops and comes back in tests/test_outages.py.
"""

import json
import uuid

import pytest

from app.extensions import limiter
from tests.live import call, gunicorn, migrate, service_env, wait_for
from tests.support import PASSWORD, REDIS_URL, at_once, redis_or_skip

TIGHT = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN": "3 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "100 per minute",
    "RATELIMIT_REGISTER": "2 per minute",
    "RATELIMIT_REFRESH": "2 per minute",
    "RATELIMIT_FORGOT_PASSWORD": "2 per minute",
    "RATELIMIT_FORGOT_PASSWORD_ACCOUNT": "100 per minute",
    "RATELIMIT_RESET_PASSWORD": "2 per minute",
    "RATELIMIT_RESEND_VERIFICATION": "2 per minute",
    "RATELIMIT_PASSWORD_CHECK": "2 per minute",
}


@pytest.fixture
def app_config():
    return TIGHT


def post(client, path, body, ip="192.0.2.1", headers=None):
    return client.post(path, json=body, environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def assert_limited(response):
    assert response.status_code == 429
    assert response.json == {"error": "Too many requests; try again later.", "code": "rate_limited"}
    assert int(response.headers["Retry-After"]) > 0


def wrong_login(client, ip="192.0.2.1", email="victim@example.com", headers=None):
    return post(client, "/auth/login", {"email": email, "password": "wrong-password"}, ip, headers)


def test_login_is_limited_per_client_address(client):
    for _ in range(3):
        assert wrong_login(client).status_code == 401
    assert_limited(wrong_login(client))
    assert wrong_login(client, ip="192.0.2.2").status_code == 401


def test_forwarded_for_cannot_dodge_the_limit_without_a_trusted_proxy(client):
    for n in range(3):
        assert wrong_login(client, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
    assert_limited(wrong_login(client, headers={"X-Forwarded-For": "203.0.113.99"}))


@pytest.mark.parametrize(
    "app_config",
    [{**TIGHT, "RATELIMIT_LOGIN": "100 per minute", "RATELIMIT_LOGIN_ACCOUNT": "3 per minute"}],
)
def test_failed_logins_are_limited_per_account_across_addresses(client, auth):
    auth.register("victim@example.com")
    for n in range(3):
        assert wrong_login(client, ip=f"198.51.100.{n}").status_code == 401
    # a fourth address, even with the right password and another spelling of the email
    right = {"email": "VICTIM@example.com", "password": PASSWORD}
    assert_limited(post(client, "/auth/login", right, ip="198.51.100.77"))
    # other accounts are not affected
    assert wrong_login(client, ip="198.51.100.78", email="other@example.com").status_code == 401


@pytest.mark.parametrize(
    "app_config",
    [{**TIGHT, "RATELIMIT_LOGIN": "100 per minute", "RATELIMIT_LOGIN_ACCOUNT": "2 per minute"}],
)
def test_successful_logins_do_not_use_the_account_budget(client, auth):
    auth.register("busy@example.com")
    for _ in range(4):
        body = {"email": "busy@example.com", "password": PASSWORD}
        assert post(client, "/auth/login", body).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/register", {"email": "x@example.com", "password": "x"}),
        ("/auth/refresh", {"refreshToken": "garbage"}),
        ("/auth/forgot-password", {"email": "x@example.com"}),
        ("/auth/reset-password", {"token": "garbage", "password": PASSWORD}),
        ("/auth/resend-verification", {"email": "x@example.com"}),
    ],
)
def test_other_public_endpoints_are_limited_per_address(client, path, body):
    for _ in range(2):
        assert post(client, path, body).status_code != 429
    assert_limited(post(client, path, body))
    assert post(client, path, body, ip="192.0.2.2").status_code != 429


@pytest.mark.parametrize(
    "app_config",
    [
        {
            **TIGHT,
            "RATELIMIT_FORGOT_PASSWORD": "100 per minute",
            "RATELIMIT_FORGOT_PASSWORD_ACCOUNT": "2 per minute",
        }
    ],
)
def test_reset_mail_bombing_is_limited_per_account(client):
    for n in range(2):
        response = post(client, "/auth/forgot-password", {"email": "t@example.com"}, f"192.0.2.{n}")
        assert response.status_code == 200
    assert_limited(post(client, "/auth/forgot-password", {"email": "T@Example.com"}, "192.0.2.9"))


def test_a_rate_limit_hit_is_audited(client, audit_log):
    for _ in range(4):
        wrong_login(client)
    events = [line for line in audit_log if line["event"] == "rate_limited"]
    assert events
    assert events[0]["endpoint"] == "auth.login"
    assert events[0]["ip"] == "192.0.2.1"


@pytest.mark.parametrize(
    "app_config", [{**TIGHT, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}]
)
def test_a_dead_redis_does_not_fail_requests(client):
    """Redis unreachable: the limiter falls back to per-process memory, with no 5xx."""
    for _ in range(3):
        assert wrong_login(client).status_code == 401
    assert_limited(wrong_login(client))


PASSWORD_CHECKS = pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "post",
            "/me/password",
            {"currentPassword": "guess-one-two", "newPassword": "another pass 9"},
        ),
        ("delete", "/me", {"password": "guess-one-two"}),
    ],
)


def check_password(client, method, path, body, headers=None, ip="192.0.2.1"):
    return getattr(client, method)(
        path, json=body, headers=headers or {}, environ_base={"REMOTE_ADDR": ip}
    )


@PASSWORD_CHECKS
def test_password_checks_with_a_stolen_token_are_limited(client, auth, method, path, body):
    headers = auth.headers(auth.signup())
    for _ in range(2):
        response = check_password(client, method, path, body, headers)
        assert response.json["code"] == "invalid_credentials"
    assert_limited(check_password(client, method, path, body, headers))


@PASSWORD_CHECKS
def test_guarded_routes_check_the_token_before_any_limit(client, method, path, body):
    for _ in range(5):
        response = check_password(client, method, path, body)
        assert (response.status_code, response.json["code"]) == (401, "missing_token")


@pytest.mark.parametrize(
    "app_config",
    [
        {
            **TIGHT,
            "RATELIMIT_PASSWORD_CHECK": "100 per minute",
            "RATELIMIT_PASSWORD_CHECK_ACCOUNT": "2 per minute",
        }
    ],
)
@PASSWORD_CHECKS
def test_password_checks_are_limited_per_account_across_addresses(client, auth, method, path, body):
    headers = auth.headers(auth.signup())
    for n in range(2):
        response = check_password(client, method, path, body, headers, ip=f"198.51.100.{n}")
        assert response.json["code"] == "invalid_credentials"
    assert_limited(check_password(client, method, path, body, headers, ip="198.51.100.9"))
    # another account is not affected
    other = auth.headers(auth.signup("other@example.com"))
    response = check_password(client, method, path, body, other, ip="198.51.100.9")
    assert response.json["code"] == "invalid_credentials"


ON_REDIS = {**TIGHT, "RATELIMIT_STORAGE_URI": REDIS_URL}


def uses_shared_store() -> bool:
    return limiter.limiter.storage is limiter.storage


def clear_counters(store) -> None:
    # Flask-Limiter keeps the key prefix of the first app of the process, so the counters
    # are found by the storage's own prefix.
    for key in store.scan_iter("LIMITS:*"):
        store.delete(key)


@pytest.fixture
def shared_store(client):
    """Redis under the limits of this test, without counters before or after.

    Flask-Limiter is one object for every app of a test run: after a test with a dead Redis
    it stays on its in-memory fallback until its next backend check, so wait for that.
    """
    store = redis_or_skip()
    wait_for(
        lambda: client.get("/healthz") and uses_shared_store(), "the limiter on Redis", seconds=40
    )
    clear_counters(store)
    yield store
    clear_counters(store)
    store.close()


def password_checks(audit_log) -> int:
    return sum(1 for line in audit_log if line.get("reason") == "wrong_password")


@pytest.mark.parametrize(
    "app_config",
    [{**ON_REDIS, "RATELIMIT_LOGIN": "100 per minute", "RATELIMIT_LOGIN_ACCOUNT": "3 per minute"}],
)
def test_oversized_bodies_do_not_switch_off_the_shared_account_limit(
    client, auth, shared_store, audit_log
):
    """A 413 raised by a key function would look to Flask-Limiter like a dead Redis: each
    worker would then count the account's guesses afresh in its own memory."""
    auth.register("victim@example.com")
    oversized = json.dumps({"email": "victim@example.com", "password": "x" * 70_000})
    for n in range(8):
        response = client.post(
            "/auth/login",
            data=oversized,
            content_type="application/json",
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
        assert response.json["code"] == "payload_too_large"
        wrong_login(client, ip=f"198.51.100.{n}")

    assert password_checks(audit_log) == 3
    assert uses_shared_store()
    assert any(shared_store.scan_iter("LIMITS:*account:*"))


def test_concurrent_wrong_passwords_reach_bcrypt_at_most_the_limit(tmp_path):
    """Twenty guesses at once on four workers sharing Redis: the limit holds exactly."""
    store = redis_or_skip()
    prefix = f"test-concurrent-{uuid.uuid4().hex}"
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'auth.db'}",
        BCRYPT_ROUNDS="10",  # a check long enough for the guesses to overlap
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        RATELIMIT_LOGIN="100 per minute",
        RATELIMIT_LOGIN_ACCOUNT="5 per minute",
    )
    migrate(env)
    body = {"email": "victim@example.com", "password": "wrong-password"}
    try:
        with gunicorn(env, workers=4) as base:
            right = {**body, "password": PASSWORD}
            assert call(base, "POST", "/auth/register", right)[0] == 201
            statuses = at_once(20, lambda n: call(base, "POST", "/auth/login", body)[0])
    finally:
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
        store.close()

    assert sorted(statuses) == [401] * 5 + [429] * 15
