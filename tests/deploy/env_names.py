"""The environment variables Lupa's code reads, found in the code itself, so a deployment
file that sets a misspelt or retired name fails its test instead of being silently ignored."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lupa import registry

REPO = Path(__file__).resolve().parents[2]
QUOTED_NAME = re.compile(r"""["'](LUPA_[A-Z0-9_]+|DATABASE_URL)["']""")


@cache
def names_read_by_code() -> frozenset[str]:
    names: set[str] = set()
    for package in ("lupa", "shared", "services"):
        for source in (REPO / package).rglob("*.py"):
            names.update(QUOTED_NAME.findall(source.read_text()))
    # Built per service (shared.settings.HttpSettings.from_env): LUPA_<SERVICE>_PORT, ..._URL.
    for service in registry.names():
        names.update({f"LUPA_{service.upper()}_PORT", f"LUPA_{service.upper()}_PUBLIC_URL"})
    return frozenset(names)


def unknown(names: set[str]) -> set[str]:
    """The Lupa-looking names in ``names`` that no code reads."""
    lupa_like = {n for n in names if n.startswith("LUPA_") or n == "DATABASE_URL"}
    return lupa_like - names_read_by_code()
