"""The Alembic chain builds exactly the schema the models describe, on SQLite and Postgres.

Autogenerate's comparison must find nothing to do after `upgrade`, and the chain must go
down to base and up again. Deleting a user must take their rows in every table with it.
"""

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.models import EmailToken, LoginSession, RefreshToken, User
from tests.conftest import POSTGRES_URL, make_app, postgres_engine

MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")
SCHEMA = "migration_check"
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
    engine = postgres_engine()
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(sa.text(statements[0]))
    engine.dispose()


def schema_differences() -> list:
    """What `flask db migrate` would generate now (the env.py options: compare_type)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def check_migration_chain(database_url: str) -> None:
    app = make_app(database_url)
    with app.app_context():
        assert tables() == set()

        upgrade(MIGRATIONS)
        assert tables() == MODEL_TABLES | {"alembic_version"}
        assert schema_differences() == []

        downgrade(MIGRATIONS, "base")
        assert tables() == {"alembic_version"}

        upgrade(MIGRATIONS)
        assert schema_differences() == []
        db.engine.dispose()


def test_migrations_match_the_models_on_sqlite(tmp_path):
    check_migration_chain(f"sqlite:///{tmp_path / 'migrated.db'}")


def test_migrations_match_the_models_on_postgres(postgres_schema_url):
    check_migration_chain(postgres_schema_url)


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
        assert all(count(model, gone) == 1 for model in owned)

        db.session.delete(db.session.get(User, gone))
        db.session.commit()

        assert [count(model, gone) for model in owned] == [0, 0, 0]
        assert [count(model, stays) for model in owned] == [1, 1, 1]
