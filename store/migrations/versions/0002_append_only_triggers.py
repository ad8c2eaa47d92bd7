"""append-only guards: the database itself refuses UPDATE and DELETE on evidence and audit_log

Revision ID: 0002
Revises: 0001

The application never changes or removes a stored record or audit entry; these triggers make
the database refuse it too, so a bug, a stray script or a mistaken admin session cannot. (The
hash chain still catches whoever disables them first: `exitgate audit verify`.)
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

TABLES = ("evidence", "audit_log")


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION exitgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'exitgate: % is append-only; % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$""")
        for t in TABLES:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION exitgate_append_only()")
            op.execute(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION exitgate_append_only()")
        # The chain head moves forward on every append, but is never removed.
        op.execute("CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
                   "FOR EACH ROW EXECUTE FUNCTION exitgate_append_only()")
    else:
        for t in TABLES:
            for what in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {t}_no_{what.lower()} BEFORE {what} ON {t} BEGIN "
                           f"SELECT RAISE(ABORT, 'exitgate: {t} is append-only; {what} refused'); END")
        op.execute("CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN "
                   "SELECT RAISE(ABORT, 'exitgate: audit_head is append-only; DELETE refused'); END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for t in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
            op.execute(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS exitgate_append_only()")
    else:
        for t in TABLES:
            for what in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {t}_no_{what}")
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
