"""Check API: Art. 18/21 subject flags, suppression hashes, and indexes for audience export.

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-23
"""

from shared.db.script import execute_script

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- Restriction (Art. 18) and objection to direct marketing (Art. 21(2)): subject-wide stops.
    -- The suppression hashes are HMAC-SHA256 (suppression key) of the normalised address,
    -- computed when the address is written: the address itself is sealed per subject.
    ALTER TABLE subjects
        ADD COLUMN restricted_at     timestamptz,
        ADD COLUMN objected_at       timestamptz,
        ADD COLUMN email_suppression bytea,
        ADD COLUMN phone_suppression bytea;

    -- Audience export walks the live grants of one purpose and channel in subject order.
    CREATE INDEX consent_state_audience ON consent_state (purpose_key, channel, subject_id)
        WHERE state = 'granted';
    -- Suppression export walks refusals per channel.
    CREATE INDEX consent_state_refusals ON consent_state (channel, subject_id)
        WHERE state IN ('withdrawn', 'objected');
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX consent_state_refusals;
    DROP INDEX consent_state_audience;
    ALTER TABLE subjects DROP COLUMN phone_suppression, DROP COLUMN email_suppression,
                         DROP COLUMN objected_at, DROP COLUMN restricted_at;
    """)
