"""Both services' OpenAPI documents, built at collection time (Schemathesis parametrizes the
tests from them before any fixture exists). Building an app touches no database: its pools
open in the lifespan, which only the fixtures' apps run."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from litestar.serialization import encode_json
from schemathesis.specs.openapi.schemas import OpenApiSchema

from shared.keys import Keyring
from shared.settings import DatabaseSettings, HttpSettings, Settings

# Cases per operation. 20 keeps both documents within a minute or two on a busy 2-core
# machine; raise it for a deeper run: LUPA_FUZZ_EXAMPLES=500 pytest tests/fuzz
EXAMPLES = int(os.environ.get("LUPA_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("LUPA_FUZZ_SEED", "20261202"))
_UNUSED_DATABASE = "postgresql+asyncpg://nobody@127.0.0.1:1/never-opened"


def document(service: str) -> dict[str, Any]:
    """The document ``GET /schema/openapi.json`` serves, from an app that is never started."""
    settings = Settings(
        service=service,
        database=DatabaseSettings(url=_UNUSED_DATABASE),
        http=HttpSettings(port=8000, public_base_url="http://testserver"),
        keys_path=Path(tempfile.gettempdir()) / "lupa-fuzz-unused-keyring.json",
        log_json=True,
        log_level="ERROR",
    )
    if service == "consent":
        from services.consent.app import create_app as create_consent

        app = create_consent(settings, keyring=Keyring.generate())
    else:
        from services.dsar.app import create_app as create_dsar

        app = create_dsar(settings, keyring=Keyring.generate())
    # As served: through JSON, so examples are strings, not datetime objects.
    return json.loads(encode_json(app.openapi_schema.to_schema()))


def config() -> schemathesis.Config:
    """Seeded and bounded, positive and negative cases; only the fuzzing phase (the coverage
    phase's exhaustive boundary walk alone takes minutes over ~70 operations)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "mode": "all",
                # Our bearer token on every case; the role matrix tests tokens themselves.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "stateful": {"enabled": False},
            },
        }
    )


def schema(service: str) -> OpenApiSchema:
    return schemathesis.openapi.from_dict(document(service), config=config())
