"""Service settings beyond the common ones are read from the environment once, by name."""

from __future__ import annotations

from services.consent.settings import CheckBounds, ConsentSettings, ExportBounds


def test_hot_path_and_export_bounds_come_from_the_environment() -> None:
    settings = ConsentSettings.from_env(
        {"LUPA_CHECK_STATEMENT_TIMEOUT_MS": "250", "LUPA_EXPORT_READ_TIMEOUT_S": "5", "X": "1"}
    )
    assert settings.check == CheckBounds(statement_timeout_ms=250)
    assert settings.export == ExportBounds(read_timeout_s=5)
