"""users: credential_version; on SQLite, ids that are never reused

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000

`users.credential_version` is bumped by every change that ends all of a user's sessions;
a login opens its session only under the version it checked (app/sessions.py).

SQLite gives a new row max(id) + 1 unless the table was created with AUTOINCREMENT, so a
deleted account's id went to the next one. AUTOINCREMENT can only be declared by CREATE
TABLE: batch mode rebuilds `users` on SQLite (copy, drop, rename). PostgreSQL's sequences
never go back, so there the table stays and only the column is added or dropped.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _foreign_keys(state: str) -> None:
    # A PRAGMA that is a no-op inside a transaction: run it between transactions.
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={state}")


@contextmanager
def _users_table(*, autoincrement: bool):
    """`batch_alter_table("users")`, rebuilding the table on SQLite.

    The rebuild drops the old table, and with foreign keys enforced (the app turns them on
    for every connection) dropping it would first delete its rows and, by ON DELETE
    CASCADE, every session and token. So they are off while the table is rebuilt, and
    checked when they are back on.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _foreign_keys("OFF")
    try:
        with op.batch_alter_table(
            "users",
            recreate="always" if sqlite else "auto",
            table_kwargs={"sqlite_autoincrement": autoincrement},
        ) as batch_op:
            yield batch_op
    finally:
        if sqlite:
            _foreign_keys("ON")
    if sqlite:
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"rows lost their user while users was rebuilt: {broken}")


def upgrade():
    with _users_table(autoincrement=True) as batch_op:
        batch_op.add_column(
            sa.Column('credential_version', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with _users_table(autoincrement=False) as batch_op:
        batch_op.drop_column('credential_version')
