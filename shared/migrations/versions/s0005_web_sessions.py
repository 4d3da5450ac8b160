"""Browser sessions of the web pages (preference centre, officer console, CX dashboard), kept in
PostgreSQL so that every replica knows them. The cookie holds a random token; the table only its
SHA-256 hash, so a copy of the table opens no session.

Revision ID: s0005
Revises: s0004
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE web_sessions (
        token_hash  bytea PRIMARY KEY,
        service     text NOT NULL,
        role        text NOT NULL,
        subject     text,
        csrf        text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL
    );
    CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE web_sessions;")
