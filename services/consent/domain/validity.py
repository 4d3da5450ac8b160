"""How long a consent lives: the one rule behind the ledger's read-time expiry and the check."""

from __future__ import annotations

from datetime import datetime, timedelta


def expires_at(granted_at: datetime, validity_days: int) -> datetime:
    """``validity_days`` whole days of 24 hours after the grant; still live at this instant.

    Whole 24-hour days, not calendar days: a validity spanning a daylight-saving change lapses
    at the same instant whatever zone it is read in (the audience export's SQL counts the same).
    """
    return granted_at + timedelta(days=validity_days)
