"""``python -m benchmarks.profile_batch --url URL [--build N] [--against TREE]``: the batch's CPU.

The batch check on a busy machine: raw checks/s moves with whatever else runs, but the CPU
time the server process spends per 10,000-id call (``/proc``, like ``benchmarks/writes.py``)
does not. Serves this tree (and, with ``--against``, another checkout of the code, e.g.
``git archive main | tar -x -C /tmp/base``) with one uvicorn worker each, then alternates
rounds of serial batch calls between them and prints the CPU per call of each, their ratio,
and whether both answered the very same bytes. Also times the bare statement (what the
benchmark's ratio divides by) serially from asyncpg: wall time and this process's CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg

from benchmarks.__main__ import LUPA, PREFIX, PURPOSE
from benchmarks.datagen import external_id, populate
from benchmarks.loadgen import post_request, read_response
from benchmarks.stack import REPO, _wait_listening, free_port, fresh_database, with_database
from benchmarks.writes import cpu_seconds
from services.consent.db.check_query import fetch_batch
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

HOST = "127.0.0.1"
IDS = 10_000


@contextmanager
def serve_tree(tree: Path, url: str, keyring: Keyring) -> Iterator[tuple[int, int]]:
    """One uvicorn worker serving Lupa from ``tree``'s code; yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "DATABASE_URL": url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_DB_POOL_SIZE": "20",
        "LUPA_LOG_LEVEL": "WARNING",
    }
    args = ["--factory", LUPA, "--host", HOST, "--port", str(port), "--no-access-log"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--log-level", "warning"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def calls(port: int, request: bytes, n: int) -> tuple[float, bytes, int]:
    """``n`` serial calls on one keep-alive connection; (seconds, last 200 body, failures).

    A failure is a 503 when the busy machine holds the statement past its 1 s timeout."""
    reader, writer = await asyncio.open_connection(HOST, port)
    body, failures = b"", 0
    started = time.perf_counter()
    try:
        for _ in range(n):
            writer.write(request)
            status, answer = await read_response(reader)
            if status == 200:
                body = answer
            else:
                failures += 1
    finally:
        writer.close()
    return time.perf_counter() - started, body, failures


async def bare(url: str, ids: list[str], n: int) -> tuple[float, float]:
    """The bare statement, serially: (wall s, this process's CPU s) per call."""
    distinct = sorted(set(ids))
    conn = await asyncpg.connect(url)
    try:
        await fetch_batch(conn, distinct, PURPOSE, "email")
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await fetch_batch(conn, distinct, PURPOSE, "email")
        return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    url = args.url
    if args.build:
        url = await fresh_database(url, args.database)
        conn = await asyncpg.connect(url)
        try:
            await populate(conn, PURPOSE, PREFIX, args.build)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    elif args.database:
        url = with_database(url, args.database)
    count = args.subjects
    rng = random.Random(7)
    ids = [external_id(PREFIX, rng.randrange(count)) for _ in range(IDS)]
    keyring = Keyring.generate()
    token = issue_access_token(keyring, "marketing", None, 6 * 3600)
    quoted = ",".join(f'"{i}"' for i in ids)
    body = f'{{"purpose":"{PURPOSE}","channel":"email","subjects":[{quoted}]}}'.encode()
    trees = {"this": REPO, **({"against": Path(args.against)} if args.against else {})}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    wall: dict[str, list[float]] = {name: [] for name in trees}
    failures = dict.fromkeys(trees, 0)
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(serve_tree(t, url, keyring)) for name, t in trees.items()
        }
        requests = {
            name: post_request(
                f"{HOST}:{port}", "/v1/check/batch", {"Authorization": f"Bearer {token}"}, body
            )
            for name, (port, _) in servers.items()
        }
        answers = {}
        for name, (port, _) in servers.items():  # warm up: statement caches, imports
            _, answers[name], _ = await calls(port, requests[name], 5)
        if args.against:
            same = answers["this"] == answers["against"]
            print(f"answers byte-identical between the trees: {same}", flush=True)
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                port, pid = servers[name]
                before = cpu_seconds(pid)
                secs, _, failed = await calls(port, requests[name], args.calls)
                failures[name] += failed
                cpu[name].append((cpu_seconds(pid) - before) / args.calls)
                wall[name].append(secs / args.calls)
            print(
                f"round {r + 1}: "
                + "  ".join(f"{n} {cpu[n][-1] * 1000:.1f} ms CPU/call" for n in servers),
                flush=True,
            )
    bare_wall, bare_cpu = await bare(url, ids, args.calls)
    for name in trees:
        med = statistics.median(cpu[name])
        print(
            f"{name}: median server CPU {med * 1000:.1f} ms/call ({med / IDS * 1e6:.2f} µs/id), "
            f"median wall {statistics.median(wall[name]) * 1000:.1f} ms/call, "
            f"{failures[name]} calls failed"
        )
    if args.against:
        ratios = [a / b for a, b in zip(cpu["this"], cpu["against"], strict=True)]
        print(f"CPU this/against per round: {', '.join(f'{x:.3f}' for x in ratios)}")
        print(f"median ratio {statistics.median(ratios):.3f}")
    print(
        f"bare statement: {bare_wall * 1000:.1f} ms wall/call, "
        f"{bare_cpu * 1000:.1f} ms client CPU/call"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_batch")
    parser.add_argument("--url", required=True, help="a PostgreSQL server DSN")
    parser.add_argument("--database", default="lupa_bench_batch", help="database to use/build")
    parser.add_argument("--build", type=int, help="build the database with N subjects first")
    parser.add_argument("--subjects", type=int, default=200_000, help="subjects in the database")
    parser.add_argument("--against", help="another checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=20, help="serial calls per round")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
