"""Append-only audit tables refuse TRUNCATE; signed checkpoints refuse UPDATE and DELETE too.

Row triggers never fire on TRUNCATE, so ``audit_events_final`` alone let one statement empty
the outbox and the chain. A statement trigger closes that door for ``audit_events`` and
``audit_checkpoints`` (the signed heads, which nothing ever changes after insert).

Revision ID: s0003
Revises: s0002
Create Date: 2026-11-29
"""

from shared.db.script import execute_script

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE FUNCTION lupa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% on % is refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION lupa_audit_append_only();
    CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION lupa_audit_append_only();
    CREATE TRIGGER audit_checkpoints_final BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION lupa_audit_append_only();
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER audit_checkpoints_final ON audit_checkpoints;
    DROP TRIGGER audit_checkpoints_no_truncate ON audit_checkpoints;
    DROP TRIGGER audit_events_no_truncate ON audit_events;
    DROP FUNCTION lupa_audit_append_only();
    """)
