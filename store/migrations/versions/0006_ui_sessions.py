"""approver page sessions, ended on the server at sign-out

Revision ID: 0006
Revises: 0005

The page's cookie used to be the whole session (signed, valid until it expired), so a copy
replayed after sign-out kept working. The cookie now names a row here; sign-out sets ended_at.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ui_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('ends_at', sa.BigInteger(), nullable=False),
        sa.Column('ended_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id_hash'),
    )


def downgrade() -> None:
    op.drop_table('ui_sessions')
