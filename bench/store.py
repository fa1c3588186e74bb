"""Fresh databases for a benchmark run, and the users, sessions and tokens its load uses.

Everything is made through the app itself (its migrations, `sessions.start_session`, its
token encoder), so the tokens are the ones a real client holds. Only the filler that makes
a store large is bulk-inserted, in the shape rotation leaves behind.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import bcrypt
import psycopg.sql
import sqlalchemy as sa
from flask import Flask
from flask_jwt_extended import create_access_token

from app.extensions import db
from app.models import LoginSession, RefreshToken, User, new_id, utcnow
from app.sessions import ClientInfo, start_session

PASSWORD = "bench: correct horse battery staple"
CLIENT_EMAIL = "client{n}@bench.example"  # the n-th client account
BATCH = 20_000


def fresh_database(backend: str, name: str, scratch: Path, postgres_url: str) -> str:
    """An empty database called `name`; returns its DATABASE_URL."""
    if backend == "sqlite":
        return f"sqlite:///{scratch / name}.db"
    server = sa.make_url(postgres_url)
    engine = sa.create_engine(
        server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        raise SystemExit(
            f"PostgreSQL at {server.render_as_string()} is not reachable ({error.orig}).\n"
            "Start it, point --postgres-url (or BENCH_POSTGRES_URL) at one, or run "
            "with --backend sqlite."
        ) from None
    finally:
        engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


@dataclass
class Clients:
    """Files of records for bench/wrk/client.lua, one per kind of load."""

    folder: Path
    user_ids: list[int] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.tsv"

    def write(self, name: str, rows) -> Path:
        path = self.path(name)
        path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
        return path


def seed_clients(app: Flask, folder: Path, users: int, refresh_sets: dict[str, int]) -> Clients:
    """`users` accounts (with a real bcrypt hash at the app's cost), each signed in once.

    Writes `bearer` (user id, access token) and `login` (email, password), and for every
    name in `refresh_sets` a file of that many fresh sessions' refresh tokens: each refresh
    phase spends its own sessions, so none starts on a token another phase spent.
    """
    folder.mkdir(parents=True, exist_ok=True)
    clients = Clients(folder)
    client = ClientInfo("127.0.0.1", "bench")
    with app.app_context():
        password_hash = bcrypt.hashpw(
            PASSWORD.encode(), bcrypt.gensalt(app.config["BCRYPT_ROUNDS"])
        ).decode()
        accounts = [
            User(email=CLIENT_EMAIL.format(n=n), password_hash=password_hash, email_verified=True)
            for n in range(users)
        ]
        db.session.add_all(accounts)
        db.session.flush()
        clients.user_ids = [user.id for user in accounts]
        bearer = [(user.id, start_session(user, client).access_token) for user in accounts]
        refresh = {
            name: [start_session(accounts[n % users], client).refresh_token for n in range(count)]
            for name, count in refresh_sets.items()
        }
        login = [(user.email, PASSWORD) for user in accounts]
        db.session.commit()
    clients.write("bearer", bearer)
    clients.write("login", login)
    for name, tokens in refresh.items():
        clients.write(name, [(token,) for token in tokens])
    return clients


def fje_clients(fje_app: Flask, clients: Clients) -> Path:
    """Access tokens that the flask-jwt-extended service accepts, for the same users."""
    with fje_app.app_context():
        rows = [(uid, create_access_token(identity=str(uid))) for uid in clients.user_ids]
    return clients.write("fje-bearer", rows)


def grow(app: Flask, users: int, tokens_per_session: int) -> None:
    """Add `users` accounts with one session each and a rotated chain of refresh tokens
    (all spent but the last), as months of use leave them; then ANALYZE, as any
    production database is."""
    now = utcnow()
    later = now + timedelta(days=7)
    with app.app_context():
        password_hash = db.session.scalar(sa.select(User.password_hash).limit(1))
        _insert(
            User,
            [
                {
                    "email": f"filler{n}@bench.example",
                    "password_hash": password_hash,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(users)
            ],
        )
        ids = db.session.scalars(
            sa.select(User.id).where(User.email.like("filler%")).order_by(User.id)
        ).all()
        sessions = [
            {"id": new_id(), "user_id": uid, "created_at": now, "last_used_at": now}
            | {"expires_at": later}
            for uid in ids
        ]
        _insert(LoginSession, sessions)
        tokens = []
        for session in sessions:
            chain = [new_id() for _ in range(tokens_per_session)]
            for jti, successor in zip(chain, [*chain[1:], None], strict=True):
                tokens.append(
                    {
                        "jti": jti,
                        "session_id": session["id"],
                        "user_id": session["user_id"],
                        "issued_at": now,
                        "expires_at": later,
                        "used_at": now if successor else None,
                        "replaced_by": successor,
                    }
                )
        _insert(RefreshToken, tokens)
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def _insert(model, rows: list[dict]) -> None:
    """Bulk-insert `rows` in the session's transaction: COPY on PostgreSQL (several times
    faster than batched INSERTs), executemany on SQLite."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), BATCH):
            connection.execute(model.__table__.insert(), rows[start : start + BATCH])
        return
    # A bulk load is not a request: lift the service's statement_timeout for it.
    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
    columns = list(rows[0])
    statement = psycopg.sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg.sql.Identifier(model.__tablename__),
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)),
    )
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (User, LoginSession, RefreshToken)
        }


def forked_sessions(app: Flask) -> dict[str, int]:
    """After the load: sessions holding more than one spendable refresh token (a fork),
    and sessions that reuse detection ended. Both must be zero."""
    with app.app_context():
        spendable = (
            sa.select(RefreshToken.session_id)
            .where(RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
            .group_by(RefreshToken.session_id)
            .having(sa.func.count() > 1)
            .subquery()
        )
        forks = db.session.scalar(sa.select(sa.func.count()).select_from(spendable))
        revoked = db.session.scalar(
            sa.select(sa.func.count()).where(LoginSession.revoked_at.is_not(None))
        )
    return {"forked": forks, "revoked": revoked}
