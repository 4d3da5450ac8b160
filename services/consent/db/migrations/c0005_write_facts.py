"""consent_write_facts(external_id, purpose, channel): a consent write's facts in one round trip.

Locks the subject's row (every ledger writer of one subject queues there), then reads, in a
fresh snapshot taken once the lock is held, the subject, the purpose with its current text,
the wrapped data key and the current state of (purpose, channel). A single SELECT could not do
this: one that waited for the lock re-reads only the locked row (EvalPlanQual) and would take
every other row, the current state included, from the snapshot it started with, missing the
write that held the lock. Inside a VOLATILE PL/pgSQL function each statement takes a new
snapshot (READ COMMITTED), so the state is read after the lock, as two statements would.

Columns are whole rows of their tables, so the function follows the tables' columns as they
change; callers pick the fields they need by name. No subject: no row. No purpose, key or
state: that column is NULL.

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-01
"""

from shared.db.script import execute_script

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE FUNCTION consent_write_facts(p_external_id text, p_purpose text, p_channel text)
    RETURNS TABLE (
        subject subjects, purpose purposes, title jsonb, description jsonb,
        key subject_keys, state consent_state
    )
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        v_subject subjects;
    BEGIN
        SELECT * INTO v_subject FROM subjects WHERE external_id = p_external_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- A new snapshot: whatever committed while this waited for the lock is seen here.
        RETURN QUERY
            SELECT s, p, v.title, v.description, k, cs
            FROM subjects s
            LEFT JOIN purposes p ON p.key = p_purpose
            LEFT JOIN purpose_versions v
                ON v.purpose_key = p.key AND v.version = p.current_version
            LEFT JOIN subject_keys k ON k.subject_id = s.id
            LEFT JOIN consent_state cs
                ON cs.subject_id = s.id AND cs.purpose_key = p_purpose
                AND cs.channel = p_channel
            WHERE s.id = v_subject.id;
    END $$;
    """)


def downgrade() -> None:
    execute_script("DROP FUNCTION consent_write_facts(text, text, text);")
