"""Audit chain head, signed checkpoints, relay cursors, webhook subscriptions and dead letters.

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-22
"""

from shared.db.script import execute_script

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- One row per chain: the chainer locks it, so appends to a chain are serialised.
    CREATE TABLE audit_chain_state (
        service              text PRIMARY KEY CHECK (service IN ('consent', 'dsar')),
        sequence             bigint NOT NULL DEFAULT 0,
        head_hash            bytea,
        checkpoint_sequence  bigint NOT NULL DEFAULT 0,
        checkpoint_at        timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO audit_chain_state (service) VALUES ('consent'), ('dsar');

    CREATE TABLE audit_checkpoints (
        service     text NOT NULL,
        sequence    bigint NOT NULL,
        head_hash   bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        token       text NOT NULL,
        PRIMARY KEY (service, sequence)
    );

    -- Once chained, an event is never changed or removed (the chain would show it anyway).
    CREATE FUNCTION lupa_audit_chained_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.sequence IS NOT NULL THEN
            RAISE EXCEPTION 'audit event % is chained and cannot change', OLD.event_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER audit_events_final BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION lupa_audit_chained_is_final();

    -- How far each sink has acknowledged each chain; advanced only after the sink acked.
    CREATE TABLE audit_relay_cursors (
        sink        text NOT NULL,
        service     text NOT NULL,
        sequence    bigint NOT NULL DEFAULT 0,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sink, service)
    );

    CREATE TABLE webhook_subscriptions (
        id             uuid PRIMARY KEY,
        service        text NOT NULL CHECK (service IN ('consent', 'dsar')),
        url            text NOT NULL,
        types          text[] NOT NULL DEFAULT '{}',
        kek_id         text NOT NULL,
        sealed_secret  bytea NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        deleted_at     timestamptz
    );
    CREATE INDEX webhook_subscriptions_live ON webhook_subscriptions (service)
        WHERE deleted_at IS NULL;

    -- Per subscription: delivered up to ``sequence``; retry state of the next event.
    CREATE TABLE webhook_deliveries (
        subscription_id  uuid PRIMARY KEY REFERENCES webhook_subscriptions (id),
        sequence         bigint NOT NULL DEFAULT 0,
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        last_error       text
    );

    CREATE TABLE webhook_dead_letters (
        id                   uuid PRIMARY KEY,
        subscription_id      uuid NOT NULL REFERENCES webhook_subscriptions (id),
        service              text NOT NULL,
        sequence             bigint NOT NULL,
        event_id             uuid NOT NULL,
        attempts             integer NOT NULL,
        last_error           text,
        created_at           timestamptz NOT NULL DEFAULT now(),
        replay_requested_at  timestamptz,
        replayed_at          timestamptz,
        UNIQUE (subscription_id, event_id)
    );
    CREATE INDEX webhook_dead_letters_replay ON webhook_dead_letters (subscription_id)
        WHERE replay_requested_at IS NOT NULL AND replayed_at IS NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE webhook_dead_letters; DROP TABLE webhook_deliveries;
    DROP TABLE webhook_subscriptions;
    DROP TABLE audit_relay_cursors;
    DROP TRIGGER audit_events_final ON audit_events; DROP FUNCTION lupa_audit_chained_is_final();
    DROP TABLE audit_checkpoints; DROP TABLE audit_chain_state;
    """)
