"""The example connector (``examples/connector/app.py``) loaded from its file and served on a
free loopback port for the length of a ``with`` block."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

APP = Path(__file__).resolve().parents[4] / "examples" / "connector" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_connector", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


def anna() -> dict[str, dict[str, Any]]:
    """A person the example holds, with invoices bookkeeping law makes it keep."""
    return {"cust-42": {"email": "anna@example.com", "name": "Anna", "invoices": ["2026-001"]}}


@contextmanager
def serving(connector: Any, **options: Any) -> Iterator[str]:
    """The URL of ``connector`` served by the example's HTTP server on 127.0.0.1."""
    server = example.make_server(connector, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jobs"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
