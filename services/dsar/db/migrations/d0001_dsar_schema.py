"""DSAR service schema: requests and their identity codes, notes, connectors, the durable job
queue, outgoing mail, and access packages with their download links.

Personal data here is sealed with the request's own data key (AES-GCM, wrapped by the
key-encryption key like a subject's key in the consent service); lookups go through keyed
hashes. Nothing in this schema is shared with another service.

Revision ID: d0001
Revises:
Create Date: 2026-12-02
"""

from shared.db.script import execute_script

revision = "d0001"
down_revision = None
branch_labels = ("dsar",)
depends_on = ("s0001",)


def upgrade() -> None:
    execute_script("""
    CREATE TABLE dsar_requests (
        id               uuid PRIMARY KEY,
        type             text NOT NULL CHECK (type IN ('access', 'portability', 'rectification',
                                                       'erasure', 'restriction', 'objection')),
        status           text NOT NULL CHECK (status IN ('identity_pending', 'received',
                             'in_progress', 'awaiting_requester', 'completed', 'rejected',
                             'withdrawn')),
        -- how it came in: a portal token, the public form, an officer, or an API client
        origin           text NOT NULL CHECK (origin IN ('portal', 'public', 'officer', 'api')),
        -- the company's own customer id, when the request names one (portal, officer)
        subject          text CHECK (char_length(subject) BETWEEN 1 AND 128),
        locale           text NOT NULL DEFAULT 'en' CHECK (locale IN ('fi', 'sv', 'en')),
        -- the request's data key, wrapped; NULL once shredded
        kek_id           text,
        wrapped_key      bytea,
        email_ct         bytea,      -- the requester's address, sealed with the request key
        email_index      bytea,      -- keyed hash of the normalised address (duplicates, limits)
        changes_ct       bytea,      -- a rectification's new values, sealed
        verified_at      timestamptz,
        verified_by      text CHECK (verified_by IN ('portal_token', 'email_code', 'officer')),
        received_at      timestamptz NOT NULL,  -- Art. 12(3): the month runs from receipt
        due_at           timestamptz NOT NULL,  -- the month (+ extension) + paused time, UTC
        paused_at        timestamptz,           -- set while the clock is stopped
        paused_seconds   bigint NOT NULL DEFAULT 0 CHECK (paused_seconds >= 0),
        pause_reason     text,                  -- why the clock stopped (no personal data)
        question_ct      bytea,                 -- what the requester was asked, sealed
        extended_months  smallint CHECK (extended_months IN (1, 2)),
        extension_reason_ct bytea,
        assignee         text CHECK (char_length(assignee) BETWEEN 1 AND 128),
        duplicate_of     uuid REFERENCES dsar_requests (id),
        outcome          text CHECK (outcome IN ('fulfilled', 'no_data_held', 'partly_exempt',
                                                 'rejected', 'withdrawn', 'unverified',
                                                 'duplicate')),
        reject_reason_ct bytea,
        erasure_receipt  text,       -- the signed receipt (JWS) of a completed erasure: no personal data
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        completed_at     timestamptz,
        CHECK ((wrapped_key IS NULL) = (kek_id IS NULL)),
        CHECK (status <> 'identity_pending' OR verified_at IS NULL),
        -- the clock stands still exactly while Lupa waits for the requester (Art. 12(3), (6))
        CHECK ((paused_at IS NOT NULL) = (status IN ('identity_pending', 'awaiting_requester')))
    );
    CREATE INDEX dsar_requests_inbox ON dsar_requests (due_at)
        WHERE status IN ('received', 'in_progress', 'awaiting_requester');
    CREATE INDEX dsar_requests_by_status ON dsar_requests (status, due_at);
    CREATE INDEX dsar_requests_open_by_subject ON dsar_requests (subject, type)
        WHERE status NOT IN ('completed', 'rejected', 'withdrawn');
    CREATE INDEX dsar_requests_open_by_email ON dsar_requests (email_index, type)
        WHERE status NOT IN ('completed', 'rejected', 'withdrawn');

    -- The one-time code of a request waiting for identity: a keyed hash, never the code.
    CREATE TABLE dsar_identity_codes (
        request_id  uuid PRIMARY KEY REFERENCES dsar_requests (id),
        code_hash   bytea NOT NULL,
        expires_at  timestamptz NOT NULL,
        attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        sent_at     timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE dsar_notes (
        id          uuid PRIMARY KEY,
        request_id  uuid NOT NULL REFERENCES dsar_requests (id),
        author      text NOT NULL,
        body_ct     bytea NOT NULL,  -- free text may name people: sealed with the request key
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dsar_notes_by_request ON dsar_notes (request_id, created_at);

    -- Systems that answer the connector protocol. The secret is sealed under a KEK.
    CREATE TABLE dsar_connectors (
        name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
        url         text NOT NULL,
        kek_id      text NOT NULL,
        secret_ct   bytea NOT NULL,
        actions     text[] NOT NULL,
        enabled     boolean NOT NULL DEFAULT true,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        CHECK (actions <@ ARRAY['access', 'erasure', 'rectification', 'restriction',
                                'lift_restriction', 'objection']::text[])
    );

    -- One durable job per (request, connector, action): the queue workers take with
    -- SKIP LOCKED. ``id`` is the job id a connector deduplicates on.
    CREATE TABLE dsar_jobs (
        id           uuid PRIMARY KEY,
        request_id   uuid NOT NULL REFERENCES dsar_requests (id),
        connector    text NOT NULL REFERENCES dsar_connectors (name),
        action       text NOT NULL,
        status       text NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'done',
                         'not_found', 'exempt', 'failed', 'skipped')),
        attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        run_at       timestamptz NOT NULL DEFAULT now(),  -- when it may run (backoff)
        locked_until timestamptz,                         -- a running job's lease
        worker       text,
        last_error   text,       -- no personal data: status codes, timeouts, parse errors
        reason       text,       -- exempt: the Art. 17(3) ground; skipped: the officer's reason
        result_ct    bytea,      -- access: what the system holds, sealed with the request key
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        UNIQUE (request_id, connector, action)
    );
    CREATE INDEX dsar_jobs_due ON dsar_jobs (run_at) WHERE status = 'queued';
    CREATE INDEX dsar_jobs_leased ON dsar_jobs (locked_until) WHERE status = 'running';
    CREATE INDEX dsar_jobs_by_request ON dsar_jobs (request_id);

    -- Mail waiting to be sent (codes, notices, download links), sent by the worker after the
    -- transaction that queued it commits. The whole message is sealed with the request key.
    CREATE TABLE dsar_outgoing_mail (
        id           uuid PRIMARY KEY,
        request_id   uuid NOT NULL REFERENCES dsar_requests (id),
        template     text NOT NULL,
        message_ct   bytea,       -- NULL once sent
        status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
        attempts     integer NOT NULL DEFAULT 0,
        run_at       timestamptz NOT NULL DEFAULT now(),
        last_error   text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        sent_at      timestamptz
    );
    CREATE INDEX dsar_outgoing_mail_due ON dsar_outgoing_mail (run_at) WHERE status = 'queued';

    -- The access/portability package of a completed request, sealed with the request key.
    CREATE TABLE dsar_packages (
        request_id  uuid PRIMARY KEY REFERENCES dsar_requests (id),
        package_ct  bytea NOT NULL,
        summary_ct  bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- Single-use download links mailed to a requester: the token's id, spent once.
    CREATE TABLE dsar_download_links (
        id          uuid PRIMARY KEY,
        request_id  uuid NOT NULL REFERENCES dsar_requests (id),
        expires_at  timestamptz NOT NULL,
        used_at     timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE dsar_download_links, dsar_packages, dsar_outgoing_mail,
        dsar_jobs, dsar_connectors, dsar_notes, dsar_identity_codes, dsar_requests;
    """)
