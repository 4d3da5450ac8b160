"""Service settings beyond the common ones are read from the environment once, by name."""

from __future__ import annotations

from shared.settings import extra_from_env


def test_hot_path_and_export_bounds_come_from_the_environment() -> None:
    extra = extra_from_env(
        {"LUPA_CHECK_STATEMENT_TIMEOUT_MS": "250", "LUPA_EXPORT_READ_TIMEOUT_S": "5", "X": "1"}
    )
    assert extra == {"check_statement_timeout_ms": "250", "export_read_timeout_s": "5"}
