"""``python -m benchmarks.profile_check [--baseline] [--secs S]``: where a single check's time goes.

Builds a 50,000-subject database like the benchmark, serves Lupa (or the baseline) in one
uvicorn worker under cProfile while the load generator drives it, and prints the top functions
by own and cumulative time. Also prints throughput without the profiler for comparison, and the
serial round trip of the check statement and the baseline lookup (EXPLAIN-free timing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.__main__ import BASELINE, HOST, LUPA, PURPOSE, build, check_requests, sample_ids
from benchmarks.loadgen import get_request, run_load
from benchmarks.stack import REPO, _wait_listening, free_port, postgres
from services.consent.db.check_query import SINGLE
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

COUNT = 50_000


def _server(factory: str, url: str, keyring: Keyring, port: int, prof: Path | None) -> Any:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_DB_POOL_SIZE": "20",
        "LUPA_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    }
    if prof is None:
        args = ["-m", "uvicorn", "--factory", factory, "--host", HOST, "--port", str(port)]
        args += ["--no-access-log", "--log-level", "warning"]
    else:
        args = ["-m", "benchmarks.profile_check", "--serve", factory, str(port), str(prof)]
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def serve_profiled(factory: str, port: int, prof: str) -> None:
    """Serve under cProfile until SIGTERM, then write the stats (uvicorn re-raises signals)."""
    import cProfile
    import signal

    import uvicorn

    config = uvicorn.Config(
        factory, factory=True, host=HOST, port=port, access_log=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(prof)


async def serial_round_trips(url: str, ids: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for name, sql, params in (
            ("check statement", SINGLE, (PURPOSE, "email")),
            ("baseline lookup", "SELECT id, erased_at FROM subjects WHERE external_id = $1", ()),
        ):
            for i in ids[:200]:
                await conn.fetchrow(sql, i, *params)
            started = time.perf_counter()
            for i in ids:
                await conn.fetchrow(sql, i, *params)
            per = (time.perf_counter() - started) / len(ids) * 1e6
            print(f"  serial round trip, {name}: {per:.0f} µs")
    finally:
        await conn.close()


async def main_async(baseline: bool, secs: float, top: int, plain: bool) -> None:
    keyring = Keyring.generate()
    token = issue_access_token(keyring, "marketing", None, 3600)
    ids = sample_ids(COUNT)
    factory = BASELINE if baseline else LUPA
    with postgres() as server_dsn:
        url = await build(server_dsn, "lupa_bench_profile", COUNT)
        await serial_round_trips(url, ids)
        profiles = [None] if plain else [None, Path(tempfile.mkdtemp()) / "server.prof"]
        for prof in profiles:
            port = free_port()
            proc = _server(factory, url, keyring, port, prof)
            try:
                _wait_listening(port, proc)
                reqs = (
                    [get_request(f"{HOST}:{port}", f"/baseline?subject={i}", {}) for i in ids]
                    if baseline
                    else check_requests(ids, token, port)
                )
                result = await run_load(HOST, port, reqs, 64, secs)
                label = "under cProfile" if prof else "plain"
                print(f"  {label}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            if prof is not None and prof.exists():
                stats = pstats.Stats(str(prof))
                stats.sort_stats("tottime").print_stats(top)
                stats.sort_stats("cumulative").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_check")
    parser.add_argument("--baseline", action="store_true", help="profile the baseline app")
    parser.add_argument("--secs", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--plain", action="store_true", help="throughput only, no profile")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_profiled(args.serve[0], int(args.serve[1]), args.serve[2])
        return 0
    asyncio.run(main_async(args.baseline, args.secs, args.top, args.plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
