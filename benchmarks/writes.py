"""``python -m benchmarks.writes [--quick]``: the consent write path against a bare INSERT.

Every client owns its own subjects (64 clients on distinct subjects), so no two requests
queue on one subject's row lock; what is measured is the cost of a write, not contention:
- consent writes: ``POST /v1/subjects/{id}/consents``, grant and withdraw alternating;
- the same with a fresh ``Idempotency-Key`` on every request;
- ``PATCH /v1/subjects/{id}/preferences`` with ``If-Match`` set to the ETag the client was
  last given (a real editor's loop: read the tag, send it back);
against the baseline of this very run: a Litestar endpoint doing one asyncpg INSERT in its own
transaction on the same server (``benchmarks/baseline_app.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from benchmarks.baseline_app import WRITES_TABLE
from benchmarks.datagen import ensure_purpose
from benchmarks.loadgen import LoadResult
from benchmarks.stack import fresh_database, postgres, serve
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

HOST = "127.0.0.1"
PURPOSE = "bench"
LUPA = "services.consent.app:create_app_from_env"
BASELINE = "benchmarks.baseline_app:create_baseline_app"
CONNECTIONS = 64
SUBJECTS_PER_CLIENT = 8
# Makes one request for (client, step, the ETag last answered to this client on its subject).
Maker = Callable[[int, int, str | None], bytes]


def request(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read(reader: asyncio.StreamReader) -> tuple[int, str | None]:
    """Status and ETag of one response; the body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    length, etag = 0, None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"etag":
            etag = value.strip().decode()
    if length:
        await reader.readexactly(length)
    return int(head[9:12]), etag


# The ETag each subject's preferences were last answered with, kept across rounds as an
# editor keeps the tag it was given (a fresh client would GET first).
LAST_ETAG: dict[str, str | None] = {}


@dataclass
class Tally:
    latencies: list[float]
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


async def client(
    port: int, index: int, make: Maker, ok: int, window: tuple[float, float], tally: Tally
) -> None:
    measure_from, stop_at = window
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for step in itertools.count():
            if (started := time.perf_counter()) >= stop_at:
                return
            subject = subject_id(index, step)
            writer.write(make(index, step, LAST_ETAG.get(subject)))
            status, etag = await read(reader)
            LAST_ETAG[subject] = etag or LAST_ETAG.get(subject)
            if (done := time.perf_counter()) >= measure_from:
                tally.latencies.append(done - started)
                tally.errors += status != ok
                tally.statuses[status] += 1
    finally:
        writer.close()


async def drive(port: int, make: Maker, ok: int, seconds: float, warmup: float = 1.0) -> LoadResult:
    """``CONNECTIONS`` clients for ``warmup + seconds``; the last ``seconds`` are measured."""
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)
    tally = Tally([])
    await asyncio.gather(*(client(port, i, make, ok, window, tally) for i in range(CONNECTIONS)))
    if tally.errors:  # which statuses, so a failing run says what went wrong
        print(f"  answers other than {ok}: {dict(tally.statuses)}", flush=True)
    lat = sorted(tally.latencies)
    n = len(lat)

    def pick(q: float) -> float:
        return lat[min(n - 1, int(q * n))] * 1000 if n else 0.0

    return LoadResult(n, seconds, tally.errors, pick(0.50), pick(0.99))


def subject_id(client_index: int, step: int) -> str:
    return f"w{client_index:03d}-{step % SUBJECTS_PER_CLIENT}"


def consent_writes(token: str, idempotent: bool, run: str) -> Maker:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def make(i: int, step: int, _: str | None) -> bytes:
        # Grant on even rounds over a client's subjects, withdraw on odd ones.
        action = "grant" if (step // SUBJECTS_PER_CLIENT) % 2 == 0 else "withdraw"
        body = json.dumps({"purpose": PURPOSE, "channel": "email", "action": action}).encode()
        headers = {**auth, "Idempotency-Key": f"{run}-{i}-{step}"} if idempotent else auth
        return request("POST", f"/v1/subjects/{subject_id(i, step)}/consents", headers, body)

    return make


def preference_patches(token: str) -> Maker:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}

    def make(i: int, step: int, etag: str | None) -> bytes:
        frequency = ("weekly", "monthly")[(step // SUBJECTS_PER_CLIENT) % 2]
        body = json.dumps({"channels": {"email": {"frequency": frequency}}}).encode()
        headers = {**auth, "If-Match": etag or '"0"'}
        return request("PATCH", f"/v1/subjects/{subject_id(i, step)}/preferences", headers, body)

    return make


def bare_inserts() -> Maker:
    def make(i: int, step: int, _: str | None) -> bytes:
        body = json.dumps({"subject": subject_id(i, step), "action": "grant"}).encode()
        return request("POST", "/baseline/insert", {"Content-Type": "application/json"}, body)

    return make


async def create_subjects(port: int, token: str) -> None:
    """Every client's subjects, through the API (so each has its data key), not timed."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for i in range(CONNECTIONS):
            for n in range(SUBJECTS_PER_CLIENT):
                body = json.dumps({"email": f"w{i}-{n}@example.com", "locale": "fi"}).encode()
                writer.write(request("PUT", f"/v1/subjects/{subject_id(i, n)}", auth, body))
                status, _ = await read(reader)
                assert status in (200, 201), status
    finally:
        writer.close()


@dataclass(frozen=True)
class Row:
    name: str
    baseline: float | None
    lupa: float
    unit: str
    target: str
    ratio: float | None = None  # the median of the rounds' ratios

    def line(self) -> str:
        ratio = f"{self.ratio:.2f}x" if self.ratio else "—"
        base = f"{self.baseline:,.1f}" if self.baseline is not None else "—"
        return f"| {self.name} | {base} | {self.lupa:,.1f} {self.unit} | {ratio} | {self.target} |"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process ``pid`` and its children (uvicorn's workers, with
    ``BENCH_WORKERS``) have used so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_child_cpu_seconds(child) for child in _children(pid))


def _child_cpu_seconds(pid: int) -> float:
    """0 for a child that exited since it was listed (e.g. an autovacuum worker): its time
    is not counted, so a figure read across its exit is at most a little low."""
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listed:
            return [int(child) for child in listed.read().split()]
    except OSError:
        return []


async def postmaster_pid(database_url: str) -> int | None:
    """The PostgreSQL server's main process, whose children are its backends, WAL writer and
    the rest; None when that server is not a process of this machine that we may read."""
    conn = await asyncpg.connect(database_url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        # Read while the connection is open: its backend exits as soon as it closes.
        parent = parent_pid(backend)
        cpu_seconds(parent)
    except (OSError, ValueError, IndexError):
        return None
    finally:
        await conn.close()
    return parent


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


@dataclass
class Measured:
    """One load run and the server's and the database's CPU it cost per request."""

    load: LoadResult
    cpu_us: float
    db_cpu_us: float | None


async def measure(
    port: int,
    pid: int,
    database_pid: int | None,
    maker: Callable[[str], Maker],
    ok: int,
    seconds: float,
    tag: str,
) -> Measured:
    """A warm-up second, then ``seconds`` measured, with the server's and the database's CPU
    read around them (the other server under test is idle meanwhile)."""
    await drive(port, maker(f"{tag}w"), ok, 1.0, warmup=0)
    before = cpu_seconds(pid)
    db_before = None if database_pid is None else cpu_seconds(database_pid)
    load = await drive(port, maker(tag), ok, seconds, warmup=0)
    spent = cpu_seconds(pid) - before
    per = 1e6 / max(1, load.requests)
    db_spent = None
    if database_pid is not None and db_before is not None:
        db_spent = cpu_seconds(database_pid) - db_before
    return Measured(load, spent * per, db_spent * per if db_spent is not None else None)


ROUNDS = 3


def median_of(values: list[float]) -> float:
    return statistics.median(values)


async def run(quick: bool) -> list[Row]:
    """``ROUNDS`` rounds, each measuring the baseline and then Lupa's writes back to back with
    both servers up: a noisy machine slows both sides of a round alike, and the median of the
    rounds' ratios is what is reported."""
    seconds = 3.0 if quick else 10.0
    rounds = 2 if quick else ROUNDS
    keyring = Keyring.generate()
    admin = issue_access_token(keyring, "admin", None, 6 * 3600)
    runs: dict[str, list[Measured]] = {name: [] for name in KINDS}

    def plain(tag: str) -> Maker:
        return consent_writes(admin, False, tag)

    def keyed(tag: str) -> Maker:
        return consent_writes(admin, True, tag)

    with postgres() as server_dsn:
        url = await fresh_database(server_dsn, "lupa_bench_writes")
        conn = await asyncpg.connect(url)
        try:
            await ensure_purpose(conn, PURPOSE)
            await conn.execute(WRITES_TABLE)
        finally:
            await conn.close()
        database_pid = await postmaster_pid(url)
        with (
            serve(BASELINE, url, keyring) as (base_port, base_pid),
            serve(LUPA, url, keyring) as (port, pid),
        ):
            await create_subjects(port, admin)
            for n in range(rounds):
                base = (base_port, base_pid, database_pid)
                lupa = (port, pid, database_pid)
                runs["base"].append(
                    await measure(*base, lambda _: bare_inserts(), 201, seconds, "")
                )
                runs["plain"].append(await measure(*lupa, plain, 201, seconds, f"p{n}"))
                runs["keyed"].append(await measure(*lupa, keyed, 201, seconds, f"k{n}"))
                runs["prefs"].append(
                    await measure(*lupa, lambda _: preference_patches(admin), 200, seconds, "")
                )
    failed = {KINDS[k]: sum(m.load.errors for m in v) for k, v in runs.items()}
    failed = {name: n for name, n in failed.items() if n}
    if failed:  # a write answered other than 201/200 (e.g. 503 when the pool wait ran out)
        print(f"  NOT ALL WRITES SUCCEEDED: {failed}", flush=True)
    return rows(runs)


KINDS = {
    "base": "bare INSERT",
    "plain": "consent write",
    "keyed": "with Idempotency-Key",
    "prefs": "preference PATCH",
}


def rows(runs: dict[str, list[Measured]]) -> list[Row]:
    """Medians over the rounds; a ratio is the median of the rounds' own ratios."""

    def pair(kind: str, value: Callable[[Measured], float]) -> tuple[float, float, float]:
        base = [value(m) for m in runs["base"]]
        lupa = [value(m) for m in runs[kind]]
        ratio = median_of([b and x / b for b, x in zip(base, lupa, strict=True)])
        return median_of(base), median_of(lupa), ratio

    def row(
        name: str, kind: str, value: Callable[[Measured], float], unit: str, target: str
    ) -> Row:
        base, lupa, ratio = pair(kind, value)
        return Row(name, base, lupa, unit, target, ratio)

    def rps(m: Measured) -> float:
        return m.load.rps

    def db_cpu(m: Measured) -> float:
        return m.db_cpu_us or 0.0

    return [
        row("consent write (writes/s)", "plain", rps, "writes/s", "≥ 0.5x"),
        row("consent write p50 (ms)", "plain", lambda m: m.load.p50_ms, "ms", ""),
        row("consent write p99 (ms)", "plain", lambda m: m.load.p99_ms, "ms", ""),
        row("consent write: server CPU per request (µs)", "plain", lambda m: m.cpu_us, "µs", ""),
        *(
            [row("consent write: database CPU per request (µs)", "plain", db_cpu, "µs", "")]
            if all(m.db_cpu_us is not None for m in runs["base"] + runs["plain"])
            else []
        ),
        row("consent write with Idempotency-Key (writes/s)", "keyed", rps, "writes/s", ""),
        row("preference PATCH with If-Match (writes/s)", "prefs", rps, "writes/s", ""),
        row("preference PATCH p99 (ms)", "prefs", lambda m: m.load.p99_ms, "ms", ""),
    ]


def markdown(rows: list[Row]) -> str:
    head = [
        f"{CONNECTIONS} clients, each on its own {SUBJECTS_PER_CLIENT} subjects; baseline: a "
        "Litestar endpoint doing one asyncpg INSERT in its own transaction, same server, same run; "
        "medians of alternating rounds (baseline, then Lupa), ratios the median of each round's.",
        "",
        "| measure | bare INSERT | Lupa | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    return "\n".join(head + [row.line() for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writes")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke)")
    args = parser.parse_args()
    print(markdown(asyncio.run(run(args.quick))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
