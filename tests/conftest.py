"""Fixtures: an app per test on SQLite and on real PostgreSQL, a client, an SMTP mailbox.

Every test that uses `app` runs twice, once per database (`[sqlite]` and `[postgres]` in
its id). Postgres gets its schema from the Alembic migrations, once per session, and is
emptied after each test. Tests skip with the reason when a service is down, but under CI
(`CI=true`) they fail instead.
"""

import json
import logging
import os
import socket
import threading
import uuid
from contextlib import closing, contextmanager
from email import message_from_bytes, policy

import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_migrate import upgrade

os.environ["APP_ENV"] = "testing"

from app import create_app
from app.extensions import db
from app.keys import generate_private_key, write_private_key

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "correct horse battery"


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


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(request):
    """Which database the test runs on; for Postgres, a schema built by the migrations."""
    if request.param == "postgres":
        engine = postgres_engine()
        reset_postgres_schema(engine)
        engine.dispose()
        with make_app(POSTGRES_URL).app_context():
            upgrade()
            db.engine.dispose()
    return request.param


@pytest.fixture
def app_config():
    """Settings a test wants on top of the testing defaults (override to change them)."""
    return {}


@pytest.fixture
def sqlite_schema():
    """How the SQLite database of `app` gets its tables: "create_all" from the models
    (fast, for most tests), or "migrations" for tests that read the schema's version
    (readiness). Postgres always has the migrations' schema."""
    return "create_all"


@pytest.fixture
def app(database, tmp_path, app_config, sqlite_schema):
    url = f"sqlite:///{tmp_path / 'test.db'}" if database == "sqlite" else POSTGRES_URL
    app = make_app(url, **app_config)
    with app.app_context():
        if database == "sqlite" and sqlite_schema == "migrations":
            upgrade()
        elif database == "sqlite":
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        if database == "postgres":
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def key_files(tmp_path_factory):
    """PEM files of test keys, made once per run: RSA 2048 `a` and `b`, P-256 `ec`.

    Never committed: each run makes its own, with the service's own key writer.
    """
    directory = tmp_path_factory.mktemp("keys")
    files = {}
    for name, algorithm in (("a", "RS256"), ("b", "RS256"), ("ec", "ES256")):
        files[name] = str(directory / f"{name}.pem")
        write_private_key(generate_private_key(algorithm), files[name])
    return files


def key_config(algorithm: str, signing: str, *verify_only: str) -> dict:
    """Settings for access tokens signed with `algorithm` by the key file `signing`."""
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY_FILE": signing,
        "JWT_VERIFY_ONLY_KEY_FILES": verify_only,
    }


@pytest.fixture
def deploy(app):
    """Start the service again on the test's database with other settings (a redeploy)."""
    started = []

    def start(**settings):
        started.append(make_app(app.config["DATABASE_URL"], **settings))
        return started[-1]

    yield start
    for other in started:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


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


@pytest.fixture
def auth(client):
    return AuthActions(client)


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
    with closing(socket.socket()) as sock:
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


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 for the duration of one test."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


@pytest.fixture
def mail_config(smtp_server):
    return {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


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


@pytest.fixture
def audit_log():
    """The audit lines the app writes during the test, as a list of dicts."""
    log = AuditLog()
    logger = logging.getLogger("app.audit")
    logger.addHandler(log.handler)
    yield log
    logger.removeHandler(log.handler)
