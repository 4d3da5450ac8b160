"""Consent service schema: purposes, subjects and their keys, the ledger, its projection,
receipts and preferences.

Revision ID: c0001
Revises:
Create Date: 2026-11-22
"""

from shared.db.script import execute_script

revision = "c0001"
down_revision = None
branch_labels = ("consent",)
depends_on = ("s0001",)


def upgrade() -> None:
    execute_script("""
    -- Rows of append-only tables may be added, never changed or removed, whoever asks.
    CREATE FUNCTION lupa_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'lupa: % on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$;

    CREATE TABLE purposes (
        key                    text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
        legal_basis            text NOT NULL CHECK (legal_basis IN
                                   ('consent', 'legitimate_interest', 'contract', 'legal_obligation')),
        channels               text[] NOT NULL,
        double_opt_in_channels text[] NOT NULL DEFAULT '{}',
        validity_days          integer CHECK (validity_days > 0),
        min_age                integer CHECK (min_age BETWEEN 0 AND 21),
        sale_or_sharing        boolean NOT NULL DEFAULT false,
        current_version        integer NOT NULL,
        min_accepted_version   integer NOT NULL DEFAULT 1,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now(),
        CHECK (double_opt_in_channels <@ channels),
        CHECK (min_accepted_version BETWEEN 1 AND current_version)
    );

    CREATE TABLE purpose_versions (
        purpose_key      text NOT NULL REFERENCES purposes (key),
        version          integer NOT NULL CHECK (version > 0),
        title            jsonb NOT NULL,
        description      jsonb NOT NULL,
        requires_renewal boolean NOT NULL DEFAULT false,
        created_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (purpose_key, version)
    );
    CREATE TRIGGER purpose_versions_append_only BEFORE UPDATE OR DELETE ON purpose_versions
        FOR EACH ROW EXECUTE FUNCTION lupa_append_only();
    CREATE TRIGGER purpose_versions_no_truncate BEFORE TRUNCATE ON purpose_versions
        FOR EACH STATEMENT EXECUTE FUNCTION lupa_append_only();

    CREATE TABLE subjects (
        id            uuid PRIMARY KEY,
        external_id   text NOT NULL UNIQUE CHECK (length(external_id) BETWEEN 1 AND 128),
        email_ct      bytea,
        phone_ct      bytea,
        name_ct       bytea,
        birth_date_ct bytea,
        email_index   bytea,
        phone_index   bytea,
        locale        text NOT NULL DEFAULT 'en' CHECK (locale IN ('fi', 'sv', 'en')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        erased_at     timestamptz
    );
    CREATE INDEX subjects_email_index ON subjects (email_index) WHERE email_index IS NOT NULL;
    CREATE INDEX subjects_phone_index ON subjects (phone_index) WHERE phone_index IS NOT NULL;

    -- Kept apart from subjects so that erasure deletes exactly one row: the wrapped data key.
    CREATE TABLE subject_keys (
        subject_id  uuid PRIMARY KEY REFERENCES subjects (id),
        kek_id      text NOT NULL,
        wrapped_dek bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        rewrapped_at timestamptz
    );
    CREATE INDEX subject_keys_kek ON subject_keys (kek_id);

    CREATE TABLE consent_events (
        id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id          uuid NOT NULL UNIQUE,
        subject_id        uuid NOT NULL REFERENCES subjects (id),
        purpose_key       text NOT NULL,
        purpose_version   integer NOT NULL,
        channel           text NOT NULL,
        action            text NOT NULL CHECK (action IN
                              ('grant', 'withdraw', 'confirm', 'expire', 'object')),
        state             text NOT NULL CHECK (state IN
                              ('granted', 'pending', 'withdrawn', 'expired', 'objected')),
        source            text NOT NULL,
        actor             text NOT NULL,
        given_by          text NOT NULL DEFAULT 'subject' CHECK (given_by IN ('subject', 'guardian')),
        collection_method text NOT NULL,
        page              text,
        ip_hash           bytea,
        ua_hash           bytea,
        reason_ct         bytea,
        occurred_at       timestamptz NOT NULL,
        recorded_at       timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (purpose_key, purpose_version) REFERENCES purpose_versions (purpose_key, version)
    );
    CREATE INDEX consent_events_subject ON consent_events (subject_id, id);
    CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
        FOR EACH ROW EXECUTE FUNCTION lupa_append_only();
    CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
        FOR EACH STATEMENT EXECUTE FUNCTION lupa_append_only();

    -- Current state, derived from the ledger in the same transaction as each ledger row.
    CREATE TABLE consent_state (
        subject_id      uuid NOT NULL REFERENCES subjects (id),
        purpose_key     text NOT NULL REFERENCES purposes (key),
        channel         text NOT NULL,
        state           text NOT NULL CHECK (state IN
                            ('granted', 'pending', 'withdrawn', 'expired', 'objected')),
        purpose_version integer NOT NULL,
        granted_at      timestamptz,
        last_event_id   bigint NOT NULL REFERENCES consent_events (id),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subject_id, purpose_key, channel)
    );

    CREATE TABLE receipts (
        id         uuid PRIMARY KEY,
        subject_id uuid NOT NULL REFERENCES subjects (id),
        event_id   uuid NOT NULL REFERENCES consent_events (event_id),
        jws        text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX receipts_subject ON receipts (subject_id);
    CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON receipts
        FOR EACH ROW EXECUTE FUNCTION lupa_append_only();

    CREATE TABLE preferences (
        subject_id uuid PRIMARY KEY REFERENCES subjects (id),
        doc        jsonb NOT NULL,
        version    integer NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE preferences, receipts, consent_state, consent_events, subject_keys, subjects,
               purpose_versions, purposes;
    DROP FUNCTION lupa_append_only();
    """)
