"""Audit outbox and idempotency records, shared by both services.

Revision ID: s0001
Revises:
Create Date: 2026-11-22
"""

from shared.db.script import execute_script

revision = "s0001"
down_revision = None
branch_labels = ("shared",)
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE audit_events (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id    uuid NOT NULL UNIQUE,
        service     text NOT NULL CHECK (service IN ('consent', 'dsar')),
        type        text NOT NULL,
        subject     text,
        time        timestamptz NOT NULL,
        data        jsonb NOT NULL,
        txid        text NOT NULL DEFAULT pg_current_xact_id()::text,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        sequence    bigint,
        prev_hash   bytea,
        hash        bytea,
        UNIQUE (service, sequence)
    );
    CREATE INDEX audit_events_unchained ON audit_events (service, id) WHERE sequence IS NULL;
    CREATE INDEX audit_events_subject ON audit_events (subject, service, sequence);

    CREATE TABLE idempotency_keys (
        principal    text NOT NULL,
        key          text NOT NULL,
        request_hash bytea NOT NULL,
        status_code  integer NOT NULL,
        response     jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, key)
    );
    """)


def downgrade() -> None:
    execute_script("DROP TABLE idempotency_keys; DROP TABLE audit_events;")
