"""approver page sessions of people signed in through an OpenID Connect provider

Revision ID: 0010
Revises: 0008

A session opened with a personal API key names the key (revoking it ends the session); one
opened through the organisation's identity provider names the person, and keeps the provider's
ID token only to hand back as `id_token_hint` when the person signs out there too. Exactly one
of key_id and person is set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ui_sessions') as t:
        t.alter_column('key_id', existing_type=sa.String(length=32), nullable=True)
        t.add_column(sa.Column('person', sa.String(length=64), nullable=True))
        t.add_column(sa.Column('end_hint', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM ui_sessions WHERE key_id IS NULL")
    with op.batch_alter_table('ui_sessions') as t:
        t.drop_column('end_hint')
        t.drop_column('person')
        t.alter_column('key_id', existing_type=sa.String(length=32), nullable=False)
