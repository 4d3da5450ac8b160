"""What ``lupa run`` does while the stack runs: keep every child and the embedded PostgreSQL up.

A child that exits is started again after a pause that doubles with each quick failure
(0.5 s, 1 s, 2 s, ... up to 30 s) and falls back to 0.5 s once the child has stayed up for a
minute; a child that keeps crashing keeps being retried at the cap, never given up on, so a
stack whose database comes back heals without an operator. Each exit and each restart is one
line on stderr. The embedded PostgreSQL is watched the same way; while it is down the services
answer 503 (they fail closed on their own) and reconnect once it is back.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.db.embedded import RestartFailed, postmaster_pid, restart_embedded

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # up this long, the next failure starts the backoff afresh
POLL_S = 0.2


def backoff(failures: int) -> float:
    """The pause before restart number ``failures`` (1-based) of a quickly failing child."""
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, failures - 1)))


def describe_exit(code: int) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL`` (Popen's negative codes)."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def become_subreaper() -> None:
    """Adopt the processes our children leave behind (Linux), so that a killed postmaster,
    which ``pg_ctl`` started detached, becomes our zombie to reap rather than PID 1's: an
    init that never reaps (many containers) would leave it looking alive, and PostgreSQL
    refuses to start while the pid in ``postmaster.pid`` seems to exist."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_child_subreaper = 36
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def reap_adopted(own: set[int]) -> None:
    """Reap exited processes we adopted (not the children Popen waits for itself)."""
    import os

    import psutil

    for process in psutil.Process().children():
        if process.pid in own:
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(process.pid, os.WNOHANG)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue


def _say(line: str) -> None:
    print(f"lupa run: {line}", file=sys.stderr, flush=True)


@dataclass
class _Restartable:
    """Backoff bookkeeping shared by children and the database."""

    name: str
    failures: int = 0
    up_since: float = field(default_factory=time.monotonic)
    restart_at: float | None = None  # set while down

    def went_down(self, now: float, why: str) -> None:
        if now - self.up_since >= STABLE_AFTER_S:
            self.failures = 0
        self.failures += 1
        delay = backoff(self.failures)
        self.restart_at = now + delay
        _say(f"the {self.name} {why}; restarting it in {delay:g} s")

    def retry_later(self, now: float, why: str) -> None:
        self.failures += 1
        delay = backoff(self.failures)
        self.restart_at = now + delay
        _say(f"could not restart the {self.name} ({why}); retrying in {delay:g} s")

    def came_up(self, now: float, pid: int) -> None:
        self.restart_at = None
        self.up_since = now
        _say(f"restarted the {self.name} (pid {pid})")


@dataclass
class Child(_Restartable):
    """A process ``lupa run`` started; ``start`` starts it again the same way."""

    start: Callable[[], subprocess.Popen[bytes]] = field(kw_only=True)
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.process = self.start()

    def tend(self, now: float) -> None:
        if self.restart_at is None:
            code = self.process.poll()
            if code is not None:
                self.went_down(now, f"(pid {self.process.pid}) {describe_exit(code)}")
        elif now >= self.restart_at:
            try:
                self.process = self.start()
            except OSError as exc:
                self.retry_later(now, str(exc))
                return
            self.came_up(now, self.process.pid)


@dataclass
class EmbeddedPostgres(_Restartable):
    """The embedded PostgreSQL (a pgserver handle), restarted on its own data directory."""

    server: Any = field(kw_only=True)
    pid: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.pid = postmaster_pid(self.server)

    def tend(self, now: float) -> None:
        if self.restart_at is None:
            if postmaster_pid(self.server) is None:
                self.went_down(now, f"(pid {self.pid}) is down")
        elif now >= self.restart_at:
            try:
                self.pid = restart_embedded(self.server)
            except RestartFailed as exc:  # all mean "later"; the line says why
                self.retry_later(now, str(exc))
                return
            self.came_up(now, self.pid)


class Supervisor:
    """Tends the children and the database until Ctrl-C/SIGTERM, then stops the children
    (the caller stops PostgreSQL after them, as it started it before them)."""

    def __init__(self, children: list[Child], database: EmbeddedPostgres | None = None) -> None:
        self.children = children
        self.database = database
        self.stopping = False

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [child.process for child in self.children]

    def run(self) -> None:
        def stop(*_: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not self.stopping:
                self.tend(time.monotonic())
                time.sleep(POLL_S)
        finally:
            self.stop()

    def tend(self, now: float) -> None:
        reap_adopted({process.pid for process in self.processes()})
        if self.database is not None:
            self.database.tend(now)
        for child in self.children:
            if self.stopping:  # a Ctrl-C reaches the children too: their exit is no crash
                return
            child.tend(now)

    def stop(self) -> None:
        running = [p for p in self.processes() if p.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
