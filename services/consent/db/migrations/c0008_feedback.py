"""Why a customer withdrew or asked for less: the "tell us why" of the preference centre, read
by the CX dashboard. The choice is a code; the free text is sealed with the subject's data key,
so erasing the subject (its key destroyed) makes the text unreadable with it.

Revision ID: c0008
Revises: c0007
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "c0008"
down_revision = "c0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE feedback (
        id           uuid PRIMARY KEY,
        subject_id   uuid NOT NULL REFERENCES subjects (id),
        kind         text NOT NULL CHECK (kind IN ('withdrawal', 'less', 'pause', 'stop_all')),
        purpose_key  text,
        channel      text,
        reason_code  text CHECK (reason_code IN ('too_many', 'not_relevant', 'never_signed_up',
                                                 'privacy', 'other')),
        text_ct      bytea,
        created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX feedback_by_time ON feedback (created_at);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE feedback;")
