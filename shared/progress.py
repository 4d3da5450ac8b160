"""Progress of long command-line work, on stderr: a rich bar on a terminal, plain lines otherwise.

``with progress("rewrapping data keys", total) as bar: ... bar.advance(n)``. On a terminal the
bar shows count/total, rate and time left; when stderr is a file or a pipe (cron, CI, ``kubectl
logs``) it writes one line with the total at once, then at most every ``interval`` seconds or each
tenth of the total, and a final line. The total may be unknown (``None``): count and rate then.

Ctrl-C inside the block (KeyboardInterrupt, or the task cancelled by ``asyncio.run``'s SIGINT
handler) writes one line saying how far it got and how to continue, then lets the interruption
go on: ``lupa``'s ``main`` turns it into exit status 130 without a traceback.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

INTERVAL_S = 5.0
STEPS = 10  # plain lines at each tenth of the total, besides the interval
RESUME = "run it again to continue"
_reported: list[str] = []  # interrupted lines written in this process (read by ``lupa``'s main)


def interruption_reported() -> bool:
    """Whether a progress block already told the operator about an interruption."""
    return bool(_reported)


class Counter:
    """What the block reports to: ``advance(n)``; ``done`` is the count so far; ``resume``,
    what to do after an interruption, may change as the work goes (a new checkpoint passed)."""

    def __init__(self, label: str, total: int | None, resume: str = RESUME) -> None:
        self.label = label
        self.total = total
        self.resume = resume
        self.done = 0
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def position(self) -> str:
        """``12,000 of 1,000,000`` (or ``12,000`` when the total is unknown)."""
        return f"{self.done:,}" if self.total is None else f"{self.done:,} of {self.total:,}"


class _PlainLines(Counter):
    def __init__(
        self, label: str, total: int | None, resume: str, stream: TextIO, interval: float
    ) -> None:
        super().__init__(label, total, resume)
        self.stream = stream
        self.interval = interval
        self.last_line: float | None = None
        self.last_step = 0

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        now = time.monotonic()
        step = self.done * STEPS // self.total if self.total else 0
        due = self.last_line is None or now - self.last_line >= self.interval
        if due or step > self.last_step:
            self.line()
            self.last_step = step

    def line(self) -> None:
        self.last_line = time.monotonic()
        share = f" ({self.done / self.total:.1%})" if self.total else ""
        print(
            f"{self.label}: {self.position()}{share}, {self.rate():,.0f}/s",
            file=self.stream,
            flush=True,
        )


class _RichBar(Counter):
    def __init__(self, label: str, total: int | None, resume: str, bar: Progress) -> None:
        super().__init__(label, total, resume)
        self.bar = bar
        self.task = bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        self.bar.advance(self.task, n)


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "-/s", style="progress.data.speed")


def _rich_progress(stream: TextIO, known_total: bool) -> Progress:
    console = Console(file=stream)
    if known_total:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
        )
    return Progress(
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f}"),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def progress(
    label: str,
    total: int | None,
    *,
    resume: str = RESUME,
    stream: TextIO | None = None,
    interval: float = INTERVAL_S,
) -> Iterator[Counter]:
    """Report the block's ``advance`` calls on ``stream`` (stderr); ``resume`` is what the
    interrupted line tells the operator to do next."""
    out = stream or sys.stderr
    bar = _rich_progress(out, total is not None) if out.isatty() else None
    counter: Counter
    plain: _PlainLines | None = None
    interrupted = False
    if bar is None:
        counter = plain = _PlainLines(label, total, resume, out, interval)
        plain.line()  # the total at once, before the first batch
    else:
        counter = _RichBar(label, total, resume, bar)
        bar.start()
    try:
        yield counter
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        raise
    finally:
        if bar:
            bar.stop()
        if interrupted:
            line = f"{label}: interrupted after {counter.position()}; {counter.resume}"
            print(line, file=out, flush=True)
            _reported.append(line)
        elif plain:
            plain.line()


class ProgressFactory(Protocol):
    """``progress`` or ``quiet``: what library code that loops in batches is handed."""

    def __call__(
        self, label: str, total: int | None, *, resume: str = RESUME
    ) -> AbstractContextManager[Counter]: ...


@contextmanager
def quiet(label: str, total: int | None, *, resume: str = RESUME) -> Iterator[Counter]:
    """Counts and says nothing (library callers and the services themselves)."""
    yield Counter(label, total, resume)
