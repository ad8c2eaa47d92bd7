"""evidence_changes: the outbox of stored evidence, and the store's position

Revision ID: 0005
Revises: 0004

Each ingest transaction that stores records of an indicator adds a row here in the same
transaction; a relay tells the running phases and marks it delivered. Before, the signal was
sent after the commit, and a Temporal outage in between left a stored record unknown to the
gates that use it (the client's retry was a duplicate, so nothing signalled again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_changes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('mission', sa.String(length=64), nullable=False),
        sa.Column('indicator', sa.String(length=64), nullable=False),
        sa.Column('stored_at', sa.BigInteger(), nullable=False),
        sa.Column('delivered_at', sa.BigInteger(), nullable=True),
    )
    op.create_index('ix_evidence_changes_position', 'evidence_changes', ['mission', 'indicator', 'id'])
    op.create_index('ix_evidence_changes_pending', 'evidence_changes', ['delivered_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_evidence_changes_pending', table_name='evidence_changes')
    op.drop_index('ix_evidence_changes_position', table_name='evidence_changes')
    op.drop_table('evidence_changes')
