"""Purposes carry their Kantara Consent Receipt v1.1 purpose category and PII categories.

Purposes defined before this revision read as "Marketing" of "Contact" data, which is what
their receipts said in effect; an admin corrects a purpose with PUT /v1/purposes/{key}. The
API checks the vocabulary; the table keeps whatever the API let through.

Revision ID: c0006
Revises: c0005
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE purposes
        ADD COLUMN purpose_category text NOT NULL DEFAULT 'Marketing',
        ADD COLUMN pii_categories text[] NOT NULL DEFAULT '{Contact}';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE purposes DROP COLUMN purpose_category, DROP COLUMN pii_categories;
    """)
