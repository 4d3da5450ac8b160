"""The connector protocol's job record, and what the purpose catalogue tells a data subject.

``connector_jobs``: one row per job the DSAR service sent (its id is the Standard Webhooks
message id), so a repeat is answered as the same job instead of being applied twice. It holds
no personal data: an access job's data is computed again on a repeat.

``purposes.recipients`` and ``retention_days``: Art. 15(1)(c) and (d), who receives the data
and how long it is kept. Purposes defined before this revision have no recipients and no
stated retention until an admin sets them.

Revision ID: c0007
Revises: c0006
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE connector_jobs (
        job         text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 200),
        request     text NOT NULL,
        action      text NOT NULL CHECK (action IN ('access', 'erasure', 'rectification',
                        'restriction', 'lift_restriction', 'objection')),
        status      text NOT NULL CHECK (status IN ('done', 'not_found', 'exempt')),
        reason      text,
        finished_at timestamptz NOT NULL DEFAULT now()
    );

    ALTER TABLE purposes
        ADD COLUMN recipients text[] NOT NULL DEFAULT '{}',
        ADD COLUMN retention_days integer CHECK (retention_days > 0);
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE purposes DROP COLUMN recipients, DROP COLUMN retention_days;
    DROP TABLE connector_jobs;
    """)
