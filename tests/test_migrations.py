"""The Alembic chain builds exactly the schema the models describe, on SQLite and Postgres.

Autogenerate's comparison must find nothing to do after `upgrade`, and the chain must go
down to base one migration at a time and up again. Two hosts may upgrade at once on
Postgres. Deleting a user must take their rows in every table with it.
"""

import logging
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app.database import MIGRATION_LOCK_ID
from app.extensions import db
from app.models import EmailToken, LoginSession, RefreshToken, User
from tests.live import BIN, ROOT, service_env, wait_for
from tests.support import make_app, postgres_engine, private_schema

MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")
MODEL_TABLES = set(db.metadata.tables)


@pytest.fixture(autouse=True)
def restore_logging():
    """migrations/env.py runs fileConfig(), which replaces the root logger's handlers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.disabled
    ]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for logger in loggers:
        logger.disabled = False


@pytest.fixture
def postgres_schema_url():
    """A URL whose connections use an empty, private schema, dropped afterwards."""
    with private_schema("migration_check") as url:
        yield url


def schema_differences() -> list:
    """What `flask db migrate` would generate now (the env.py options: compare_type)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def revisions_newest_first() -> list[str]:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def check_migration_chain(database_url: str) -> None:
    app = make_app(database_url)
    with app.app_context():
        assert tables() == set()

        upgrade(MIGRATIONS)
        assert tables() == MODEL_TABLES | {"alembic_version"}
        assert schema_differences() == []

        # Every migration's downgrade, one step at a time, then every upgrade again.
        chain = revisions_newest_first()
        for below in [*chain[1:], None]:
            downgrade(MIGRATIONS, "-1")
            assert current_revision() == below
        assert tables() == {"alembic_version"}
        for revision in reversed(chain):
            upgrade(MIGRATIONS, "+1")
            assert current_revision() == revision
        assert schema_differences() == []
        db.engine.dispose()


def test_migrations_match_the_models_on_sqlite(tmp_path):
    check_migration_chain(f"sqlite:///{tmp_path / 'migrated.db'}")


def test_migrations_match_the_models_on_postgres(postgres_schema_url):
    check_migration_chain(postgres_schema_url)


def waiting_for_migration_lock(engine: sa.Engine) -> int:
    """How many sessions wait for the advisory lock of `flask db upgrade`."""
    with engine.connect() as conn:
        return conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid::bigint = :high AND objid::bigint = :low AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"high": MIGRATION_LOCK_ID >> 32, "low": MIGRATION_LOCK_ID & 0xFFFFFFFF},
        )


def test_two_hosts_upgrading_at_once_leave_one_correct_schema_on_postgres():
    """Two `flask db upgrade` at once on an empty schema: one migrates, the other waits and
    then finds nothing to do. Both queue first behind a lock this test holds (as if a third
    host were migrating), so that they surely overlap."""
    with private_schema("concurrent") as url:
        holder = postgres_engine()
        env = service_env(DATABASE_URL=url)
        with holder.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            upgrades = [
                subprocess.Popen(
                    [BIN / "flask", "--app", "wsgi:app", "db", "upgrade"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for _ in range(2)
            ]
            try:
                wait_for(lambda: waiting_for_migration_lock(holder) == 2, "both to queue")
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                conn.commit()
        outputs = [process.communicate(timeout=120)[0].decode() for process in upgrades]
        holder.dispose()

        assert [process.returncode for process in upgrades] == [0, 0], outputs
        app = make_app(url)
        with app.app_context():
            assert tables() == MODEL_TABLES | {"alembic_version"}
            assert schema_differences() == []
            assert current_revision() == revisions_newest_first()[0]
            db.engine.dispose()


def count(model, user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(model.user_id == user_id)
    )


def test_deleting_a_user_deletes_their_sessions_and_tokens(app, auth):
    auth.signup("gone@example.com")
    auth.signup("stays@example.com")
    for email in ("gone@example.com", "stays@example.com"):
        response = auth.client.post("/auth/forgot-password", json={"email": email})
        assert response.status_code == 200
    owned = (LoginSession, RefreshToken, EmailToken)

    with app.app_context():
        gone, stays = (
            db.session.scalar(sa.select(User.id).where(User.email == email))
            for email in ("gone@example.com", "stays@example.com")
        )
        # one session with its refresh token; a verification and a reset token
        assert [count(model, gone) for model in owned] == [1, 1, 2]

        db.session.delete(db.session.get(User, gone))
        db.session.commit()

        assert [count(model, gone) for model in owned] == [0, 0, 0]
        assert [count(model, stays) for model in owned] == [1, 1, 2]


def rows(table: str) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608 (our names)


def add_user(email: str) -> int:
    with db.engine.begin() as conn:
        return conn.scalar(
            sa.text(
                "INSERT INTO users (email, password_hash, created_at, updated_at)"
                " VALUES (:email, 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"email": email},
        )


def add_session_and_tokens(user_id: int) -> None:
    """A session with its refresh token, and an emailed token: what a rebuild of `users`
    could take with it through ON DELETE CASCADE."""
    with db.engine.begin() as conn:
        for statement in (
            "INSERT INTO login_sessions (id, user_id, created_at, last_used_at, expires_at)"
            " VALUES ('s1', :user, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO refresh_tokens (jti, session_id, user_id, issued_at, expires_at)"
            " VALUES ('r1', 's1', :user, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO email_tokens (user_id, purpose, token_hash, created_at, expires_at)"
            " VALUES (:user, 'reset', 'h1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        ):
            conn.execute(sa.text(statement), {"user": user_id})


OWNED = ("login_sessions", "refresh_tokens", "email_tokens")


def check_ids_are_never_reused_after_upgrade(database_url: str) -> None:
    app = make_app(database_url)
    with app.app_context():
        upgrade(MIGRATIONS, "0001")
        kept, last = add_user("kept@example.com"), add_user("last@example.com")
        add_session_and_tokens(kept)

        upgrade(MIGRATIONS)
        assert [rows(table) for table in ("users", *OWNED)] == [2, 1, 1, 1]
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": last})
        assert add_user("next@example.com") > last

        downgrade(MIGRATIONS, "0001")
        assert [rows(table) for table in ("users", *OWNED)] == [2, 1, 1, 1]
        upgrade(MIGRATIONS)
        # foreign keys are enforced again on the connections the migrations used
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": kept})
        assert [rows(table) for table in OWNED] == [0, 0, 0]
        db.engine.dispose()


def test_upgrade_keeps_every_row_and_ids_are_never_reused_on_sqlite(tmp_path):
    check_ids_are_never_reused_after_upgrade(f"sqlite:///{tmp_path / 'migrated.db'}")


def test_upgrade_keeps_every_row_and_ids_are_never_reused_on_postgres(postgres_schema_url):
    check_ids_are_never_reused_after_upgrade(postgres_schema_url)
