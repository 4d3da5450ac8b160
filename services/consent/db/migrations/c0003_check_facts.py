"""Check facts: one row per subject carrying everything a check reads, found by one probe.

A check used to visit four indexes and tables per subject (subjects by external id, the
projection, its last ledger event, preferences). ``check_facts`` holds the same facts in one
narrow row: the subject-wide stops, every (purpose, channel) projection entry with its last
event's id and giver, and the preference document. Triggers keep it in step with its sources
in the writer's own transaction, so it can never be behind a committed change; the check reads
it through a hash index on the external id (one bucket page and one heap page per subject).

Also ``subjects.gpc_at``: when the person's browser last sent ``Sec-GPC: 1``, so that a
sale/sharing purpose or channel added after the signal is refused too.

Revision ID: c0003
Revises: c0002
Create Date: 2026-12-01
"""

from services.consent.db.check_facts_layout import entry_key, entry_shape, entry_values
from shared.db.script import execute_script

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entry keys and values as check_facts_layout lays them out: the check decodes them so.
    merged_key, merged_values = entry_key("n.purpose_key", "n.channel"), entry_values("n", "e")
    dropped_key = entry_key("purpose_key", "channel")
    filled_key, filled_values = entry_key("c.purpose_key", "c.channel"), entry_values("c", "e")
    execute_script(f"""
    ALTER TABLE subjects ADD COLUMN gpc_at timestamptz;

    -- consents: {entry_shape()}
    -- (purpose keys and channels never contain '/'). external_id compares bytewise ("C"):
    -- a check only ever asks for equality.
    CREATE TABLE check_facts (
        subject_id  uuid PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
        external_id text COLLATE "C" NOT NULL,
        erased      boolean NOT NULL DEFAULT false,
        restricted  boolean NOT NULL DEFAULT false,
        objected    boolean NOT NULL DEFAULT false,
        gpc_at      timestamptz,
        consents    jsonb NOT NULL DEFAULT '{{}}',
        preferences jsonb
    );
    CREATE INDEX check_facts_by_external_id ON check_facts USING hash (external_id);

    -- Writers of one subject queue on its subjects row lock before they touch any source
    -- table, so these updates never race; each still changes only its own columns (and one
    -- key of consents), so that even two writers that did not queue would compose.
    CREATE FUNCTION check_facts_insert_subjects() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO check_facts (subject_id, external_id, erased, restricted, objected, gpc_at)
        SELECT id, external_id, erased_at IS NOT NULL, restricted_at IS NOT NULL,
               objected_at IS NOT NULL, gpc_at
        FROM new_rows;
        RETURN NULL;
    END $$;
    CREATE TRIGGER subjects_check_facts_insert AFTER INSERT ON subjects
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_insert_subjects();

    CREATE FUNCTION check_facts_update_subject() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE check_facts
        SET external_id = NEW.external_id,
            erased = NEW.erased_at IS NOT NULL,
            restricted = NEW.restricted_at IS NOT NULL,
            objected = NEW.objected_at IS NOT NULL,
            gpc_at = NEW.gpc_at
        WHERE subject_id = NEW.id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER subjects_check_facts_update AFTER UPDATE ON subjects
        FOR EACH ROW
        WHEN (OLD.external_id IS DISTINCT FROM NEW.external_id
              OR OLD.erased_at IS DISTINCT FROM NEW.erased_at
              OR OLD.restricted_at IS DISTINCT FROM NEW.restricted_at
              OR OLD.objected_at IS DISTINCT FROM NEW.objected_at
              OR OLD.gpc_at IS DISTINCT FROM NEW.gpc_at)
        EXECUTE FUNCTION check_facts_update_subject();

    -- The projection entries written by one statement (an upsert fires both INSERT and UPDATE).
    CREATE FUNCTION check_facts_merge_consents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE check_facts f
        SET consents = f.consents || changed.entries
        FROM (
            SELECT n.subject_id,
                   jsonb_object_agg({merged_key}, jsonb_build_array(
                       {merged_values})) AS entries
            FROM new_rows n JOIN consent_events e ON e.id = n.last_event_id
            GROUP BY n.subject_id
        ) AS changed
        WHERE f.subject_id = changed.subject_id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER consent_state_check_facts_insert AFTER INSERT ON consent_state
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_merge_consents();
    CREATE TRIGGER consent_state_check_facts_update AFTER UPDATE ON consent_state
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_merge_consents();

    CREATE FUNCTION check_facts_drop_consents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE check_facts f
        SET consents = f.consents - gone.keys
        FROM (
            SELECT subject_id, array_agg({dropped_key}) AS keys
            FROM old_rows GROUP BY subject_id
        ) AS gone
        WHERE f.subject_id = gone.subject_id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER consent_state_check_facts_delete AFTER DELETE ON consent_state
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_drop_consents();

    CREATE FUNCTION check_facts_set_preferences() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE check_facts f SET preferences = n.doc
        FROM new_rows n WHERE f.subject_id = n.subject_id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER preferences_check_facts_insert AFTER INSERT ON preferences
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_set_preferences();
    CREATE TRIGGER preferences_check_facts_update AFTER UPDATE ON preferences
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_set_preferences();

    CREATE FUNCTION check_facts_clear_preferences() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE check_facts f SET preferences = NULL
        FROM old_rows o WHERE f.subject_id = o.subject_id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER preferences_check_facts_delete AFTER DELETE ON preferences
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION check_facts_clear_preferences();

    -- The rows of subjects that exist already.
    INSERT INTO check_facts
        (subject_id, external_id, erased, restricted, objected, gpc_at, consents, preferences)
    SELECT s.id, s.external_id, s.erased_at IS NOT NULL, s.restricted_at IS NOT NULL,
           s.objected_at IS NOT NULL, s.gpc_at,
           coalesce((SELECT jsonb_object_agg({filled_key}, jsonb_build_array(
                         {filled_values}))
                     FROM consent_state c JOIN consent_events e ON e.id = c.last_event_id
                     WHERE c.subject_id = s.id), '{{}}'),
           p.doc
    FROM subjects s LEFT JOIN preferences p ON p.subject_id = s.id;
    """)  # noqa: S608 (composed from the layout's constants; nothing comes from outside)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER subjects_check_facts_insert ON subjects;
    DROP TRIGGER subjects_check_facts_update ON subjects;
    DROP TRIGGER consent_state_check_facts_insert ON consent_state;
    DROP TRIGGER consent_state_check_facts_update ON consent_state;
    DROP TRIGGER consent_state_check_facts_delete ON consent_state;
    DROP TRIGGER preferences_check_facts_insert ON preferences;
    DROP TRIGGER preferences_check_facts_update ON preferences;
    DROP TRIGGER preferences_check_facts_delete ON preferences;
    DROP FUNCTION check_facts_insert_subjects(), check_facts_update_subject(),
                  check_facts_merge_consents(), check_facts_drop_consents(),
                  check_facts_set_preferences(), check_facts_clear_preferences();
    DROP TABLE check_facts;
    ALTER TABLE subjects DROP COLUMN gpc_at;
    """)
