"""the role register: assignments and delegations over time, per mission (CONTRACT section 5)

Revision ID: 0007
Revises: 0006

Never deleted: ending an assignment or a delegation sets its `until_us`, and the database
refuses a DELETE on either table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLES = ("role_assignments", "role_delegations")


def upgrade() -> None:
    op.create_table(
        'role_assignments',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('mission', sa.String(length=64), nullable=False),
        sa.Column('person', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=64), nullable=False),
        sa.Column('from_us', sa.BigInteger(), nullable=False),
        sa.Column('until_us', sa.BigInteger(), nullable=True),
        sa.Column('granted_by', sa.String(), nullable=False),
        sa.Column('granted_by_role', sa.String(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_role_assignments_mission', 'role_assignments', ['mission', 'seq'])
    op.create_table(
        'role_delegations',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('mission', sa.String(length=64), nullable=False),
        sa.Column('delegator', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=64), nullable=False),
        sa.Column('delegate', sa.String(length=64), nullable=False),
        sa.Column('from_us', sa.BigInteger(), nullable=False),
        sa.Column('until_us', sa.BigInteger(), nullable=False),
        sa.Column('gates', sa.Text(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('made_by', sa.String(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_role_delegations_mission', 'role_delegations', ['mission', 'seq'])
    op.create_table(
        'role_registers',
        sa.Column('mission', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('mission'),
    )
    if op.get_context().dialect.name == "postgresql":
        for t in TABLES:  # exitgate_append_only() comes from migration 0002
            op.execute(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION exitgate_append_only()")
    else:
        for t in TABLES:
            op.execute(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN "
                       f"SELECT RAISE(ABORT, 'exitgate: {t} is never deleted from; DELETE refused'); END")


def downgrade() -> None:
    for t in TABLES:
        if op.get_context().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete ON {t}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
    op.drop_table('role_registers')
    op.drop_index('ix_role_delegations_mission', 'role_delegations')
    op.drop_table('role_delegations')
    op.drop_index('ix_role_assignments_mission', 'role_assignments')
    op.drop_table('role_assignments')
