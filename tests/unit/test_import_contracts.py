"""The arrows between packages hold (docs/architecture.md), and the contracts that say so catch
an arrow drawn the wrong way. import-linter judges; the contracts live in pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True
    )


def test_every_import_contract_is_kept() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (file to write, its added line, the contract that must then break)
WRONG_ARROWS = [
    ("shared/errors.py", "import services.consent.app", "The kernel knows no service"),
    ("shared/errors.py", "import lupa.registry", "The kernel knows no service"),
    ("services/consent/cli.py", "import lupa.registry", "Services do not know the composition"),
    ("services/other/__init__.py", "import services.consent.db", "No service imports another"),
    ("services/consent/domain/subjects.py", "import sqlalchemy", "Domain rules are pure"),
    ("services/consent/domain/check.py", "import litestar", "Domain rules are pure"),
    ("services/consent/service/ledger.py", "import litestar", "Use cases and queries know no"),
    ("shared/db/engine.py", "import shared.audit.outbox", "Pure errors and the database"),
    ("shared/keys.py", "import shared.auth.tokens", "No import cycles"),
    ("services/consent/db/tables.py", "import services.consent.service.ledger", "No import cycles"),
]


@pytest.mark.parametrize(("path", "line", "contract"), WRONG_ARROWS)
def test_an_arrow_drawn_the_wrong_way_breaks_its_contract(
    tmp_path: Path, path: str, line: str, contract: str
) -> None:
    for package in ("lupa", "shared", "services"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if row.endswith(" BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout
