"""Mail settings, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SENDER = "Lupa <privacy@localhost>"


@dataclass(frozen=True)
class MailSettings:
    sender: str = DEFAULT_SENDER
    # An operator's directory of templates shadowing the shipped ones, file by file.
    templates: Path | None = None
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MailSettings:
        overrides = env.get("LUPA_MAIL_TEMPLATES") or None
        attempts = env.get("LUPA_MAIL_MAX_ATTEMPTS") or ""
        return cls(
            sender=env.get("LUPA_MAIL_FROM") or DEFAULT_SENDER,
            templates=Path(overrides) if overrides else None,
            max_attempts=int(attempts) if attempts else cls.max_attempts,
        )
