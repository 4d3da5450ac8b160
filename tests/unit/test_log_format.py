"""Log format: console lines for a person at a terminal, JSON for everything else."""

from __future__ import annotations

import pytest
import structlog

from shared import logging as lupa_logging
from shared.settings import Settings

ENV = {"DATABASE_URL": "postgresql://x/x"}


def log_json(isatty: bool, **env: str) -> bool:
    return Settings.from_env("consent", {**ENV, **env}, isatty=lambda: isatty).log_json


def test_a_terminal_gets_console_lines_and_anything_else_json():
    assert log_json(isatty=True) is False
    assert log_json(isatty=False) is True


@pytest.mark.parametrize("isatty", [True, False])
def test_lupa_log_format_overrides_the_terminal_check(isatty):
    assert log_json(isatty, LUPA_LOG_FORMAT="json") is True
    assert log_json(isatty, LUPA_LOG_FORMAT="console") is False
    assert log_json(isatty, LUPA_LOG_FORMAT=" Console ") is False


def test_an_unknown_log_format_stops_start_up():
    with pytest.raises(ValueError, match="LUPA_LOG_FORMAT"):
        log_json(isatty=False, LUPA_LOG_FORMAT="xml")


@pytest.fixture
def restore_logging():
    config = structlog.get_config()
    access = lupa_logging._access
    before = (access.as_json, access.enabled, access.stream)
    yield
    structlog.configure(**config)
    access.configure(*before)


def test_console_is_honoured_even_when_stderr_is_not_a_terminal(restore_logging):
    lupa_logging.configure_logging(json=False, level="INFO")  # pytest's stderr is no terminal
    assert isinstance(structlog.get_config()["processors"][-1], structlog.dev.ConsoleRenderer)
    assert lupa_logging._access.as_json is False
