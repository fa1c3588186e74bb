"""What the tests share besides fixtures: service URLs, app and key settings, a client of
the API, a mailbox, an audit log reader and small concurrency and network helpers.

Tests import these from here; `conftest.py` holds only the fixtures built on them.
"""

import json
import logging
import os
import re
import socket
import threading
import uuid
from contextlib import contextmanager
from email import message_from_bytes, policy

import pytest
import redis
import sqlalchemy as sa

# Before the app is imported: its settings default to the testing profile.
os.environ["APP_ENV"] = "testing"

from app import create_app
from app.config import DEV_SECRETS, derive_defaults, load_config, validate_config

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct horse battery"

# 32 random hex digits each: the shortest secrets production takes.
ACCESS = "9f2c47e1b06d8a35c7e4f910b2d68a5e"
REFRESH = "4b8e1d03f7a92c6e5d1b8f40a3c7e92d"
# A key that encrypts TOTP secrets (Fernet.generate_key()).
MFA_KEY = "lZ1cX2b1uRk5Zr3P0wWq9HkT7m8sVn4yJ6dA2eF0gHc="
# What production needs besides secrets; the defaults suit a developer's machine only.
SAFE_PRODUCTION = {
    "MFA_ENCRYPTION_KEY": MFA_KEY,
    "MAIL_BACKEND": "smtp",
    "PUBLIC_URL": "https://auth.example.com",
    "RESET_URL_TEMPLATE": "https://app.example.com/reset?token={token}",
    "VERIFY_URL_TEMPLATE": "https://app.example.com/verify?token={token}",
    "EMAIL_CHANGE_URL_TEMPLATE": "https://app.example.com/confirm-email?token={token}",
}


def production(**env):
    """An environment production starts with, `env` changing or adding settings."""
    return {
        "APP_ENV": "production",
        "JWT_ACCESS_SECRET": ACCESS,
        "JWT_REFRESH_SECRET": REFRESH,
        **SAFE_PRODUCTION,
        **env,
    }


def validated(environ):
    config = load_config(environ=environ)
    derive_defaults(config)
    validate_config(config)
    return config


def without_secrets(monkeypatch):
    """Unset the secrets development would write (JWT, MFA) now, and again at teardown.

    load_dotenv() copies what it reads into os.environ; setting a variable before deleting
    it makes monkeypatch delete that copy at teardown, so no secret leaks into later tests.
    """
    for name in DEV_SECRETS:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def dev_app():
    """A development app on an in-memory database (it writes `.env` in the cwd)."""
    return create_app({"DATABASE_URL": "sqlite://"})


def service_missing(name: str, reason: str, start_with: str) -> None:
    """Skip (locally) or fail (in CI) a test that needs a service that is not there."""
    message = f"{name} is not reachable: {reason}. Start it with: {start_with}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def postgres_engine(url: str = POSTGRES_URL) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        service_missing(
            "PostgreSQL",
            str(exc.orig).splitlines()[0],
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        )
    return engine


@contextmanager
def private_schema(prefix: str):
    """A database URL whose connections see only a new, empty schema (dropped afterwards).

    For tests that run migrations or several service processes of their own on the
    TEST_POSTGRES_URL database, without touching the `public` schema the `app` fixture uses.
    """
    engine = postgres_engine()
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


@contextmanager
def empty_database_url(kind: str, tmp_path, name: str):
    """The URL of a database without a table: a new SQLite file in `tmp_path` ("sqlite"), or a
    private PostgreSQL schema ("postgres"), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
    else:
        with private_schema(name) as url:
            yield url


def redis_or_skip(url: str = REDIS_URL) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(
            "Redis",
            str(exc),
            'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
        )
    return client


def reset_postgres_schema(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))


def make_app(database_url: str, **overrides):
    return create_app({"DATABASE_URL": database_url, **overrides})


def key_config(algorithm: str, signing: str, *verify_only: str) -> dict:
    """Settings for access tokens signed with `algorithm` by the key file `signing`."""
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY_FILE": signing,
        "JWT_VERIFY_ONLY_KEY_FILES": verify_only,
    }


class AuthActions:
    """Register, log in and build headers, as a client of the API would."""

    def __init__(self, client):
        self.client = client

    def register(self, email="user@example.com", password=PASSWORD):
        response = self.client.post("/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.json
        return response.json

    def login(self, email="user@example.com", password=PASSWORD):
        response = self.client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.json
        return response.json

    def signup(self, email="user@example.com", password=PASSWORD):
        """Register and log in; return the token pair."""
        self.register(email, password)
        return self.login(email, password)

    @staticmethod
    def headers(tokens):
        token = tokens["accessToken"] if isinstance(tokens, dict) else tokens
        return {"Authorization": f"Bearer {token}"}

    def refresh(self, refresh_token):
        return self.client.post("/auth/refresh", json={"refreshToken": refresh_token})

    def me(self, tokens):
        return self.client.get("/me", headers=self.headers(tokens))


def at_once(count, work):
    """Call `work(index)` from `count` threads released together; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        barrier.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives.

    Set `refuse` to N to answer the next N messages with a temporary failure (451).
    """

    def __init__(self):
        self.messages = []
        self.received = threading.Event()
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refuse -= 1
            return "451 Try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.received.set()
        return "250 Message accepted for delivery"

    def bodies(self):
        return [message.get_content() for message in self.messages]


def token_in(body: str, template: str) -> str:
    """The token of the link built from `template` (a *_URL_TEMPLATE) in a mail body."""
    pattern = re.escape(template).replace(re.escape("{token}"), "([A-Za-z0-9_-]+)")
    match = re.search(pattern, body)
    assert match, f"no link like {template} in:\n{body}"
    return match.group(1)


class AuditLog(list):
    """The parsed JSON of every audit line, in order; `.raw` keeps the text to search."""

    def __init__(self):
        super().__init__()
        self.raw = []
        self.handler = logging.Handler()
        self.handler.emit = self.record

    def record(self, record):
        self.raw.append(record.getMessage())
        self.append(json.loads(record.getMessage()))


def assert_error(response, status, code, *, details=False):
    """The contract's envelope: a message, a code, and `details` only for validation errors."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.json
    assert set(body) == ({"error", "code", "details"} if details else {"error", "code"})
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["code"] == code
    return body


def assert_refused(response, code="invalid_token"):
    """A 401 for a bearer token, with RFC 6750's challenge."""
    assert response.status_code == 401
    assert response.json["code"] == code
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token", error_description=')
