"""``lupa audit verify`` over a long chain: count lines on stderr, a Ctrl-C that names the last
signed checkpoint verified, and ``--after`` that continues from it (and only from one)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lupa.cli.main import main
from tests.integration.audit.test_audit_verify import chain, tamper  # noqa: F401


async def verify(capsys: Any, *extra: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["audit", "verify", "--service", "consent", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_progress_lines_count_the_events_verified(chain, capsys):  # noqa: F811
    code, out, err = await verify(capsys)
    assert code == 0, out
    lines = err.strip().splitlines()
    assert lines[0].startswith("verifying consent: 0 of 10 (0.0%), ")
    assert lines[-1].startswith("verifying consent: 10 of 10 (100.0%), ")


async def test_an_interrupted_run_names_the_checkpoint_to_continue_from(
    chain,  # noqa: F811
    capsys,
    monkeypatch,
):
    """Ctrl-C after the seventh event: the last signed checkpoint passed is at 6."""
    from shared.audit import verify as chain_verify
    from shared.progress import Counter

    monkeypatch.setattr(chain_verify, "TICK", 1)
    original = Counter.advance

    def advance(self: Any, n: int = 1) -> None:
        original(self, n)
        if self.done == 7:
            raise KeyboardInterrupt

    monkeypatch.setattr(Counter, "advance", advance)
    code, out, err = await verify(capsys)
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "verifying consent: interrupted after 7 of 10; run `lupa audit verify --service "
        "consent --after 6` to continue from the last signed checkpoint verified"
    )
    monkeypatch.setattr(Counter, "advance", original)
    code, out, err = await verify(capsys, "--after", "6")
    assert code == 0, out
    assert "ok consent: 10 events (sequences 7 to 10), 3 signed checkpoints" in out
    assert "verifying consent: 0 of 4 (0.0%)" in err


async def test_resuming_still_catches_tampering_after_the_checkpoint(chain, capsys):  # noqa: F811
    await tamper(chain, "UPDATE audit_events SET data = '{\"n\": 42}' WHERE sequence = 8")
    code, out, _ = await verify(capsys, "--after", "6")
    assert code == 1 and "TAMPERED consent: sequence 8" in out and "altered" in out


async def test_after_must_name_a_signed_checkpoint(chain, capsys):  # noqa: F811
    with pytest.raises(SystemExit, match="no valid signed checkpoint at sequence 5"):
        await verify(capsys, "--after", "5")
    with pytest.raises(SystemExit, match="--after needs --service"):
        await asyncio.to_thread(main, ["audit", "verify", "--after", "6"])
