"""passkeys: WebAuthn credentials, their challenges, and the users' WebAuthn user handle

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:30:00.000000

`users.webauthn_user_handle` is made at a user's first passkey registration, so existing
rows stay NULL. Its uniqueness is a unique index, not a constraint: an index is added in
place on SQLite, where a constraint would rebuild `users` (and, with foreign keys on, a
rebuild of `users` would cascade into every table that refers to it).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('passkeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.LargeBinary(length=1023), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=2048), nullable=False),
    sa.Column('sign_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('transports', sa.String(length=255), server_default='', nullable=False),
    sa.Column('aaguid', sa.String(length=36), nullable=True),
    sa.Column('backup_eligible', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('backed_up', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkeys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passkeys'))
    )
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkeys_credential_id'), ['credential_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_passkeys_user_id'), ['user_id'], unique=False)

    op.create_table('passkey_challenges',
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_passkey_challenges_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('challenge_hash', name=op.f('pk_passkey_challenges'))
    )
    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passkey_challenges_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_passkey_challenges_user_id'), ['user_id'], unique=False)

    op.add_column('users', sa.Column('webauthn_user_handle', sa.LargeBinary(length=64), nullable=True))
    op.create_index(op.f('ix_users_webauthn_user_handle'), 'users', ['webauthn_user_handle'], unique=True)


def downgrade():
    op.drop_index(op.f('ix_users_webauthn_user_handle'), table_name='users')
    # In place on SQLite too (ALTER TABLE DROP COLUMN, SQLite 3.35+): see the note above.
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.drop_column('webauthn_user_handle')

    with op.batch_alter_table('passkey_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_challenges_user_id'))
        batch_op.drop_index(batch_op.f('ix_passkey_challenges_expires_at'))

    op.drop_table('passkey_challenges')
    with op.batch_alter_table('passkeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkeys_user_id'))
        batch_op.drop_index(batch_op.f('ix_passkeys_credential_id'))

    op.drop_table('passkeys')
