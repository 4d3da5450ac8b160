"""The layout of ``check_facts.consents``: written by migration c0003, read by the check.

``consents`` maps ``"<purpose key>/<channel>"`` to one JSON array per projection entry: the
fields of ``Consent`` in their order, so the check decodes an entry straight into a ``Consent``
by position (no dict per row). Migration c0003's triggers and backfill build the arrays and
keys from here, and the check's statement finds its entry by the same key.

A database keeps the triggers c0003 wrote, so changing ``Consent``'s fields, their order or
where they come from takes a new migration that rewrites the triggers and every stored entry
(tests/unit/check/test_check_facts_layout.py holds the layout databases have).
"""

from __future__ import annotations

from services.consent.domain.check import Consent

ENTRY_FIELDS: tuple[str, ...] = Consent._fields
# Each field is the column of the same name of the consent_state row, or of the last ledger
# event that row points at (consent_events) for these.
_FROM_LAST_EVENT = frozenset({"event_id", "given_by"})


def entry_key(purpose_key: str, channel: str) -> str:
    """The SQL of an entry's key from the SQL of its purpose key and channel (neither holds '/')."""
    return f"{purpose_key} || '/' || {channel}"


def entry_values(state: str, event: str) -> str:
    """The SQL of an entry's values in order (for ``jsonb_build_array``).

    ``state`` and ``event`` are the aliases of the consent_state row and of its last event.
    """
    return ", ".join(f"{event if f in _FROM_LAST_EVENT else state}.{f}" for f in ENTRY_FIELDS)


def entry_shape() -> str:
    """The layout in words, for the schema's own comment."""
    return '{"<purpose>/<channel>": [' + ", ".join(ENTRY_FIELDS) + "]}"
