"""Row locks, and the one order every transaction takes them in, so that none can deadlock.

The order: a user's row first, then that user's session rows (in id order), then the
refresh tokens of those sessions; and a user's row before that user's emailed tokens.

- Every change that ends all of a user's sessions (password reset or change, role change,
  disabling, deletion) updates the user's row, then locks the sessions
  (`sessions.credentials_changed`); an emailed token is spent only under its user's row
  lock (`email_tokens.spend`); the admin rules lock users' rows (`lock_users`).
- A login takes the user's row `FOR SHARE` as it inserts its session
  (`sessions.start_session`): it waits for any of the changes above, and they wait for it.
- A refresh or a logout (of one session or of all) starts at the session rows
  (`lock_sessions`), never at the user's: a refresh only knows its session. Its one later
  touch of the user's row is the `FOR KEY SHARE` that the foreign key check of an insert
  takes, which conflicts with `FOR UPDATE` alone, that is with deleting the user. That is
  why user locks here are `FOR NO KEY UPDATE` (as an UPDATE of the row takes), and why a
  deletion ends every session first: once it holds all of them, no refresh of that user
  is between its session lock and its insert.
- The purge (`app/purge.py`) takes its rows `FOR UPDATE SKIP LOCKED`: it never waits.

SQLite has no row locks and ignores FOR UPDATE: a transaction takes the database's one
write lock at its first write and holds it to the end, so writers queue and cannot
deadlock. There `lock_users` writes (a no-op UPDATE) to take that lock early.
"""

import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession, User


def lock_users(*criteria) -> None:
    """Make other transactions that lock the same users wait until this one ends, so that
    what is read afterwards stays true until the commit.

    PostgreSQL: row locks in id order, so two lockers cannot deadlock. SQLite: the
    database's write lock, for the rest of the transaction.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        statement = sa.update(User).where(*criteria).values(updated_at=User.updated_at)
        db.session.execute(statement.execution_options(synchronize_session=False))
    else:
        db.session.execute(
            sa.select(User.id).where(*criteria).order_by(User.id).with_for_update(key_share=True)
        )


def lock_user(user_id: int) -> None:
    """Serialise read-check-write sequences on one user (see `lock_users`)."""
    lock_users(User.id == user_id)


def lock_sessions(session_match) -> None:
    """Lock the matching session rows, in id order, before touching any of their tokens.

    Every writer of a session's tokens (rotation, reuse revocation, logout, ending all
    sessions) takes the session row first, so concurrent requests queue on it instead of
    taking token rows in different orders and deadlocking (seen on Postgres before this).
    """
    db.session.execute(
        sa.select(LoginSession.id).where(session_match).order_by(LoginSession.id).with_for_update()
    ).all()
