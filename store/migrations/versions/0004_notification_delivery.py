"""notifications: an idempotency key and the webhook delivery outcome

Revision ID: 0004
Revises: 0003

The notify activity may run more than once for one reminder (a retry after a crash); the key
(its workflow, run and activity id) keeps one row per notification. delivered_at and
delivery_error say whether the configured webhook took it, so an undelivered one can be found
and sent again (`exitgate notifications resend`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as t:
        t.add_column(sa.Column('idem_key', sa.String(length=200), nullable=True))
        t.add_column(sa.Column('delivered_at', sa.BigInteger(), nullable=True))
        t.add_column(sa.Column('delivery_error', sa.Text(), nullable=True))
        t.create_unique_constraint('uq_notifications_idem_key', ['idem_key'])


def downgrade() -> None:
    with op.batch_alter_table('notifications') as t:
        t.drop_constraint('uq_notifications_idem_key', type_='unique')
        t.drop_column('delivery_error')
        t.drop_column('delivered_at')
        t.drop_column('idem_key')
