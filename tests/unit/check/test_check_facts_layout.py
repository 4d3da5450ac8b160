"""check_facts entries keep the layout migration c0003 wrote into every existing database."""

from __future__ import annotations

from services.consent.db.check_facts_layout import ENTRY_FIELDS, entry_key, entry_values


def test_entries_are_laid_out_as_existing_databases_store_them() -> None:
    # A change here needs a migration that rewrites c0003's triggers and every stored entry.
    assert ENTRY_FIELDS == ("state", "purpose_version", "granted_at", "event_id", "given_by")
    assert entry_values("n", "e") == (
        "n.state, n.purpose_version, n.granted_at, e.event_id, e.given_by"
    )
    assert entry_key("n.purpose_key", "n.channel") == "n.purpose_key || '/' || n.channel"
