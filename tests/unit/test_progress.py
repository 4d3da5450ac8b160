"""Progress on a pipe or file: plain count lines (total at once, each tenth, the end) and one
line naming how far an interrupted run got."""

from __future__ import annotations

import io

import pytest

from shared.progress import progress


def test_plain_lines_give_the_count_share_and_rate_then_a_final_line():
    out = io.StringIO()
    with progress("rewrapping", 1_000_000, stream=out, interval=3600) as bar:
        for _ in range(4):
            bar.advance(250_000)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("rewrapping: 0 of 1,000,000 (0.0%), ")
    assert lines[1].startswith("rewrapping: 250,000 of 1,000,000 (25.0%), ")
    assert lines[-1].startswith("rewrapping: 1,000,000 of 1,000,000 (100.0%), ")
    assert all(line.endswith("/s") for line in lines)


def test_between_tenths_and_intervals_it_stays_quiet():
    out = io.StringIO()
    with progress("expiring", 1000, stream=out, interval=3600) as bar:
        for _ in range(99):
            bar.advance()  # 99 of 1000: below the first tenth
    assert len(out.getvalue().splitlines()) == 2  # the total at once, and the final line


def test_an_unknown_total_shows_the_count_and_rate():
    out = io.StringIO()
    with progress("retrying", None, stream=out, interval=3600) as bar:
        bar.advance(12_000)
    assert out.getvalue().splitlines()[-1].startswith("retrying: 12,000, ")


def test_an_interruption_says_how_far_it_got_and_how_to_continue():
    out = io.StringIO()
    with (
        pytest.raises(KeyboardInterrupt),
        progress("rewrapping", 1_000_000, stream=out, resume="run it again") as bar,
    ):
        bar.advance(12_000)
        raise KeyboardInterrupt
    last = out.getvalue().splitlines()[-1]
    assert last == "rewrapping: interrupted after 12,000 of 1,000,000; run it again"


def test_lupa_says_interrupted_once_when_no_progress_line_did(monkeypatch, capsys):
    from lupa.cli import main as cli
    from shared import progress as progress_module

    def interrupted(_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(progress_module, "_reported", [])
    monkeypatch.setattr("services.consent.cli.expire_consents", interrupted)
    assert cli.main(["consents", "expire"]) == 130
    assert capsys.readouterr().err == "interrupted\n"

    def interrupted_in_progress(_: object) -> int:
        with progress("expiring", 10, stream=io.StringIO()):
            raise KeyboardInterrupt

    monkeypatch.setattr("services.consent.cli.expire_consents", interrupted_in_progress)
    assert cli.main(["consents", "expire"]) == 130
    assert capsys.readouterr().err == ""  # the progress line said it already
