"""evidence_changes.record_ids: which records each change stored, for warm evidence indexes

Revision ID: 0008
Revises: 0007

A worker keeps each mission's evidence index in memory and brings it up to date by reading the
changes after the last one it saw (store/warm.py). A change names only its indicator, and
re-reading a whole indicator for one new record costs what the index saves; with the ids of
the records the change stored, catching up is a primary-key read of just those. Changes
written before this revision have none: an index that meets one is read again from the store.
The (mission, id) index serves "the changes of this mission after position P".

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('evidence_changes', sa.Column('record_ids', sa.Text(), nullable=True))
    op.create_index('ix_evidence_changes_mission', 'evidence_changes', ['mission', 'id'])


def downgrade() -> None:
    op.drop_index('ix_evidence_changes_mission', table_name='evidence_changes')
    with op.batch_alter_table('evidence_changes') as batch:
        batch.drop_column('record_ids')
