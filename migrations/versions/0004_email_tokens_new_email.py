"""email_tokens: the new address an email-change link confirms

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:10:00.000000

An email-change token (purpose "email_change") carries the address it was mailed to, which
becomes the account's when the link is followed; the other purposes leave it empty.
Adding a nullable column needs no table rebuild on SQLite.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('email_tokens', sa.Column('new_email', sa.String(length=320), nullable=True))


def downgrade():
    with op.batch_alter_table('email_tokens') as batch_op:
        batch_op.drop_column('new_email')
