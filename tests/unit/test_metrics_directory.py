"""The multiprocess metrics directory: chosen, emptied at start, dead workers' gauges dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.metrics.directory import MULTIPROC_ENV, prepare_metrics_dir
from shared.metrics.exposition import forget_dead_workers


def test_without_the_variable_each_service_gets_its_own_directory_under_lupa_home(tmp_path):
    env = {"LUPA_HOME": str(tmp_path)}
    consent = prepare_metrics_dir("consent", env)
    assert consent == tmp_path / "metrics" / "consent" and consent.is_dir()
    assert env[MULTIPROC_ENV] == str(consent)
    assert prepare_metrics_dir("dsar", {"LUPA_HOME": str(tmp_path)}) != consent


def test_a_new_start_empties_what_the_last_run_left(tmp_path):
    chosen = tmp_path / "prom"
    chosen.mkdir()
    (chosen / "counter_4242.db").write_bytes(b"old counts")
    assert prepare_metrics_dir("consent", {MULTIPROC_ENV: str(chosen)}) == chosen
    assert list(chosen.iterdir()) == []


def test_the_live_gauges_of_a_dead_worker_go_and_its_counters_stay(tmp_path: Path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = int(dead.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for name in (
            f"gauge_livesum_{gone}.db",
            f"gauge_livesum_{alive.pid}.db",
            f"counter_{gone}.db",
        ):
            (tmp_path / name).write_bytes(b"")
        forget_dead_workers(str(tmp_path))
        left = sorted(p.name for p in tmp_path.iterdir())
    finally:
        alive.kill()
        alive.wait()
    assert left == sorted([f"counter_{gone}.db", f"gauge_livesum_{alive.pid}.db"])
