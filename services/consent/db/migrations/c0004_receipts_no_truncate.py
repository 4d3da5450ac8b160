"""Receipts refuse TRUNCATE too, like the ledger (UPDATE and DELETE were refused already).

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-01
"""

from shared.db.script import execute_script

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts
        FOR EACH STATEMENT EXECUTE FUNCTION lupa_append_only();
    """)


def downgrade() -> None:
    execute_script("DROP TRIGGER receipts_no_truncate ON receipts;")
