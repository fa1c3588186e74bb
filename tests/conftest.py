"""Fixtures: an app per test on SQLite and on real PostgreSQL, a client, an SMTP mailbox.

Every test that uses `app` runs twice, once per database (`[sqlite]` and `[postgres]` in
its id). Postgres gets its schema from the Alembic migrations, once per session, and is
emptied after each test. Tests skip with the reason when a service is down, but under CI
(`CI=true`) they fail instead.

Two fixtures are made to be overridden, and only these: a test module (or a test, with
`@pytest.mark.parametrize("app_config", [...])`) redefines `app_config` to give its app
other settings, and `sqlite_schema` to build SQLite's tables with the migrations. No other
fixture here is redefined by a test module. Helpers that tests import live in
`tests/support.py` and `tests/factories.py`, not here.
"""

import logging

import jwt
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_migrate import upgrade

from app.extensions import db
from app.keys import generate_private_key, write_private_key
from tests.support import (
    POSTGRES_URL,
    AuditLog,
    AuthActions,
    Mailbox,
    free_port,
    make_app,
    postgres_engine,
    reset_postgres_schema,
    without_secrets,
)


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


@pytest.fixture
def dev_env(tmp_path, monkeypatch):
    """A development environment without secrets, working in an empty directory: the path
    of the `.env` the app would write."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_ENV", "development")
    without_secrets(monkeypatch)
    return tmp_path / ".env"


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


@pytest.fixture
def auth(client):
    return AuthActions(client)


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


@pytest.fixture
def audit_log():
    """The audit lines the app writes during the test, as a list of dicts."""
    log = AuditLog()
    logger = logging.getLogger("app.audit")
    logger.addHandler(log.handler)
    yield log
    logger.removeHandler(log.handler)


@pytest.fixture
def signed_in_claims(auth):
    """A signed-in user: their token pair and the claims of their access token."""
    tokens = auth.signup()
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    return tokens, claims
