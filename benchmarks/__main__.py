"""``python -m benchmarks [--quick] [--subjects N]``: the check path against same-run baselines.

Builds two databases with COPY (10,000 subjects, and N: 50,000 quick / 1,000,000 full), then
measures, each against its baseline from this very run:
- single check vs a Litestar endpoint doing one raw asyncpg unique-key lookup (throughput, p99);
- batch check (10,000 ids per call) vs the bare SQL of the same shape run from asyncpg;
- audience export (subjects/s streamed, server memory growth);
- flat growth: check latency on N subjects vs on 10,000.
Then the write path (``benchmarks/writes.py``: consent writes and preference PATCHes vs a bare
INSERT endpoint), the audit relay, the DSAR intake (vs a bare INSERT), the DSAR execution
(approved erasures drained by two workers), the DSAR job queue against pgqueuer and the
server comparison (``benchmarks/servers.py``: uvicorn vs Granian, 1 and 2 workers). Prints
each table and writes ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from benchmarks import writes
from benchmarks.datagen import external_id, populate
from benchmarks.loadgen import fetch_stream, get_request, post_request, run_load
from benchmarks.stack import (
    REPO,
    fresh_database,
    peak_rss_kib,
    postgres,
    rss_kib,
    serve,
    server_settings_note,
)
from services.consent.db.check_query import fetch_batch
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

PURPOSE, PREFIX, SMALL = "bench", "s", 10_000
LUPA = "services.consent.app:create_app_from_env"
BASELINE = "benchmarks.baseline_app:create_baseline_app"
HOST = "127.0.0.1"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
AUDIENCE_RUNS = 3


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def add(
        self,
        name: str,
        baseline: float | None,
        lupa: float,
        unit: str,
        ratio: float | None,
        target: str,
    ) -> None:
        def fmt(v: float) -> str:
            return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"

        ok = "—" if ratio is None else ""
        self.rows.append(
            (
                name,
                fmt(baseline) if baseline is not None else "—",
                f"{fmt(lupa)} {unit}",
                f"{ratio:.2f}x" if ratio is not None else ok,
                target,
                "",
            )
        )
        print(
            f"  {name:<38} baseline {self.rows[-1][1]:>12}  lupa {self.rows[-1][2]:>18}"
            f"  ratio {self.rows[-1][3]:>7}  target {target}",
            flush=True,
        )

    def markdown(self) -> str:
        lines = ["| measure | baseline | Lupa | ratio | target |", "|---|---:|---:|---:|---|"]
        lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |" for r in self.rows]
        return "\n".join(lines)


def check_requests(ids: list[str], token: str, port: int) -> list[bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    return [
        get_request(
            f"{HOST}:{port}", f"/v1/check?subject={i}&purpose={PURPOSE}&channel=email", headers
        )
        for i in ids
    ]


def sample_ids(count: int, n: int = 2_000) -> list[str]:
    rng = random.Random(42)
    return [external_id(PREFIX, rng.randrange(count)) for _ in range(n)]


async def build(server_dsn: str, name: str, count: int) -> str:
    started = time.perf_counter()
    url = await fresh_database(server_dsn, name)
    conn = await asyncpg.connect(url)
    try:
        await populate(conn, PURPOSE, PREFIX, count)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(
        f"  built {name}: {count:,} subjects with COPY in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return url


async def single_check(
    table: Table, url: str, keyring: Keyring, token: str, count: int, conns: int, secs: float
) -> float:
    ids = sample_ids(count)
    with serve(BASELINE, url, keyring) as (port, _):
        base = await run_load(
            HOST,
            port,
            [get_request(f"{HOST}:{port}", f"/baseline?subject={i}", {}) for i in ids],
            conns,
            secs,
        )
    with serve(LUPA, url, keyring) as (port, _):
        lupa = await run_load(HOST, port, check_requests(ids, token, port), conns, secs)
    assert lupa.errors == 0 and base.errors == 0, (lupa.errors, base.errors)
    table.add(
        f"single check, {count:,} subjects (req/s)",
        base.rps,
        lupa.rps,
        "req/s",
        lupa.rps / base.rps,
        "≥ 0.85x",
    )
    table.add(
        "single check p99 latency (ms)",
        base.p99_ms,
        lupa.p99_ms,
        "ms",
        lupa.p99_ms / base.p99_ms,
        "≤ 1.5x",
    )
    return lupa.p50_ms


async def batch_and_audience(
    table: Table, url: str, keyring: Keyring, token: str, count: int, secs: float
) -> None:
    rng = random.Random(7)
    ids = [external_id(PREFIX, rng.randrange(count)) for _ in range(10_000)]
    bare = await bare_batch_rate(url, ids, secs)
    quoted = ",".join(f'"{i}"' for i in ids)
    body = f'{{"purpose":"{PURPOSE}","channel":"email","subjects":[{quoted}]}}'.encode()
    with serve(LUPA, url, keyring) as (port, pid):
        request = post_request(
            f"{HOST}:{port}", "/v1/check/batch", {"Authorization": f"Bearer {token}"}, body
        )
        result = await run_load(HOST, port, [request], 2, secs)
        assert result.errors == 0
        rate = result.rps * len(ids)
        table.add(
            "batch check, 10,000 ids per call (checks/s)",
            bare,
            rate,
            "checks/s",
            rate / bare,
            "≥ 250,000/s and ≥ 0.8x",
        )
        await audience(table, port, pid, token, count)


async def bare_batch_rate(url: str, ids: list[str], secs: float) -> float:
    """The statement Lupa runs for these ids (sorted, distinct), from asyncpg, with no HTTP and
    no decisions: the SQL floor."""
    distinct = sorted(set(ids))
    conn = await asyncpg.connect(url)
    try:
        await fetch_batch(conn, distinct, PURPOSE, "email")
        started, calls = time.perf_counter(), 0
        while time.perf_counter() - started < secs:
            await fetch_batch(conn, distinct, PURPOSE, "email")
            calls += 1
        return calls * len(ids) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def audience(table: Table, port: int, pid: int, token: str, count: int) -> None:
    request = get_request(
        f"{HOST}:{port}",
        f"/v1/audience?purpose={PURPOSE}&channel=email",
        {"Authorization": f"Bearer {token}", "Connection": "close"},
    )
    before = rss_kib(pid)
    # Median of three full exports: one ~2 s transfer is at the mercy of whatever else runs.
    runs = [await fetch_stream(HOST, port, request) for _ in range(AUDIENCE_RUNS)]
    growth_mib = max(0, peak_rss_kib(pid) - before) / 1024
    size = runs[0][0]
    rate = statistics.median(count / secs for _, secs in runs)
    table.add(
        f"audience export, {count:,} subjects (subjects/s, median of {AUDIENCE_RUNS})",
        None,
        rate,
        "subjects/s",
        None,
        "≥ 500,000/s",
    )
    table.add(
        f"audience server memory growth (MiB; body {size / 2**20:.0f} MiB)",
        None,
        growth_mib,
        "MiB",
        None,
        "flat (≪ body size)",
    )


async def flat_growth(
    table: Table,
    small_url: str,
    keyring: Keyring,
    token: str,
    large_p50: float,
    count: int,
    conns: int,
    secs: float,
) -> None:
    with serve(LUPA, small_url, keyring) as (port, _):
        small = await run_load(
            HOST, port, check_requests(sample_ids(SMALL), token, port), conns, secs
        )
    table.add(
        f"check p50 latency, {count:,} vs {SMALL:,} subjects (ms)",
        small.p50_ms,
        large_p50,
        "ms",
        large_p50 / small.p50_ms,
        "≤ 1.3x",
    )


def writes_benchmark(quick: bool) -> str:
    """Consent writes and preference PATCHes against a bare INSERT (``benchmarks/writes.py``)."""
    table = writes.markdown(asyncio.run(writes.run(quick)))
    print(table, flush=True)
    return f"\n## Writes\n\n{table}\n"


def module_benchmark(module: str, title: str, quick: bool, fenced: bool = True) -> str:
    """Another benchmark module of ``benchmarks/``, run in its own process; its output as a
    section of the results."""
    args = [sys.executable, "-m", f"benchmarks.{module}", *(["--quick"] if quick else [])]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1800)
    print(done.stdout, flush=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr, flush=True)
    body = done.stdout.strip() or f"(failed: exit {done.returncode})"
    return f"\n## {title}\n\n" + (f"```\n{body}\n```\n" if fenced else f"{body}\n")


def other_benchmarks(quick: bool) -> str:
    return (
        module_benchmark("audit_relay", "Audit relay", quick)
        + module_benchmark("dsar_intake", "DSAR intake", quick, fenced=False)
        + module_benchmark("dsar_execution", "DSAR execution", quick, fenced=False)
        + module_benchmark("jobs", "DSAR job queue vs pgqueuer", quick)
        + module_benchmark("servers", "Servers: uvicorn vs Granian", quick, fenced=False)
    )


async def run(quick: bool, subjects: int | None) -> str:
    count = subjects or (50_000 if quick else 1_000_000)
    conns, secs = 64, (3.0 if quick else 10.0)
    keyring = Keyring.generate()
    token = issue_access_token(keyring, "marketing", None, 6 * 3600)
    table = Table()
    with postgres() as server_dsn:
        small_url = await build(server_dsn, "lupa_bench_small", SMALL)
        large_url = await build(server_dsn, "lupa_bench_large", count)
        large_p50 = await single_check(table, large_url, keyring, token, count, conns, secs)
        await batch_and_audience(table, large_url, keyring, token, count, secs)
        await flat_growth(table, small_url, keyring, token, large_p50, count, conns, secs)
    return report(table, quick, count, conns, secs)


def report(table: Table, quick: bool, count: int, conns: int, secs: float) -> str:
    return (
        f"# Benchmark results\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{'quick' if quick else 'full'} run: {count:,} subjects, {conns} connections, "
        f"{secs:.0f} s per measurement, {os.cpu_count()} CPUs ({platform.machine()}), "
        "load generator, server and PostgreSQL on the same machine. "
        f"{server_settings_note()}\n\n"
        f"{table.markdown()}\n\nAnalysis of the gaps and what would close them: "
        "`benchmarks/NOTES.md`.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small data, short runs (smoke)")
    parser.add_argument("--subjects", type=int, help="size of the large database")
    args = parser.parse_args()
    text = asyncio.run(run(args.quick, args.subjects))
    text += writes_benchmark(args.quick) + other_benchmarks(args.quick)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
