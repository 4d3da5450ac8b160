"""Rate-limit counters that hold across replicas: fixed windows keyed by a keyed hash of what
is limited (an IP address, an email address), never the value itself.

Revision ID: s0004
Revises: s0003
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE rate_limits (
        bucket       bytea NOT NULL,
        window_start timestamptz NOT NULL,
        hits         integer NOT NULL,
        PRIMARY KEY (bucket, window_start)
    );
    CREATE INDEX rate_limits_window ON rate_limits (window_start);
    """)


def downgrade() -> None:
    execute_script("DROP TABLE rate_limits;")
