"""The production check every long-running command makes before it starts (``lupa serve``,
``lupa run``, ``lupa relay``, ``lupa worker``): see ``shared.production``."""

from __future__ import annotations

import os
from collections.abc import Iterable

from lupa import registry
from shared.production import refuse_insecure_production
from shared.settings import HttpSettings


def refuse_insecure(services: Iterable[str] = ()) -> None:
    """Exit before serving when production mode is on and a setting is insecure; ``services``
    are those whose public URL this process puts into links."""
    urls = {}
    for name in services:
        spec = registry.get(name)
        http = HttpSettings.from_env(spec.name, os.environ, spec.default_port)
        urls[f"LUPA_{spec.name.upper()}_PUBLIC_URL"] = http.public_base_url
    refuse_insecure_production(urls)
