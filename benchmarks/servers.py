"""``python -m benchmarks.servers [--quick]``: uvicorn against Granian, 1 and 2 workers.

For each server and worker count, both the baseline app (``benchmarks/baseline_app.py``) and
the consent service are started under that very server and worker count (``lupa.server``),
and measured back to back:
- hello world (``GET /baseline/hello``: the server's and framework's ceiling);
- raw asyncpg lookup (``GET /baseline``) and Lupa's single check (``GET /v1/check``);
- Lupa's batch check (10,000 ids per call) against the bare statement it sends, from asyncpg
  (server-independent, measured once);
- bare INSERT (``POST /baseline/insert``) and consent writes (``POST /v1/subjects/{id}/consents``,
  the client and subject layout of ``benchmarks/writes.py``).
Ratios: check / raw lookup (target ≥ 0.85x), check / hello world, check / one-process uvicorn
of this run (target ≥ 1.5x for the best), batch / bare statement, writes/s (target ≥ 1,000/s).
Prints the table and writes ``benchmarks/results/servers.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from benchmarks import writes
from benchmarks.baseline_app import WRITES_TABLE
from benchmarks.datagen import external_id, populate
from benchmarks.loadgen import get_request, post_request, run_load
from benchmarks.stack import REPO, fresh_database, postgres, serve
from services.consent.db.check_query import fetch_batch
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

HOST, PURPOSE, PREFIX = "127.0.0.1", "bench", "s"
LUPA = "services.consent.app:create_app_from_env"
BASELINE = "benchmarks.baseline_app:create_baseline_app"
CONFIGS = (("uvicorn", 1), ("uvicorn", 2), ("granian", 1), ("granian", 2))
RESULTS = Path(__file__).resolve().parent / "results" / "servers.md"
CONNECTIONS = 64
BATCH_IDS = 10_000


@dataclass
class Figures:
    """One server and worker count: requests (or checks, writes) per second."""

    server: str
    workers: int
    rates: dict[str, float] = field(default_factory=dict)


async def measure_config(
    server: str, workers: int, url: str, keyring: Keyring, tokens: tuple[str, str], secs: float
) -> Figures:
    marketing, admin = tokens
    figures = Figures(server, workers)
    rng = random.Random(42)
    ids = [external_id(PREFIX, rng.randrange(SUBJECTS[0])) for _ in range(2_000)]
    auth = {"Authorization": f"Bearer {marketing}"}
    batch_ids = sorted({external_id(PREFIX, rng.randrange(SUBJECTS[0])) for _ in range(BATCH_IDS)})
    with (
        serve(BASELINE, url, keyring, server, workers) as (base_port, _),
        serve(LUPA, url, keyring, server, workers) as (port, _),
    ):
        base_at, lupa_at = f"{HOST}:{base_port}", f"{HOST}:{port}"
        errors = 0
        loads = {
            "hello": (base_port, [get_request(base_at, "/baseline/hello", {})]),
            "raw lookup": (
                base_port,
                [get_request(base_at, f"/baseline?subject={i}", {}) for i in ids],
            ),
            "check": (
                port,
                [
                    get_request(
                        lupa_at, f"/v1/check?subject={i}&purpose={PURPOSE}&channel=email", auth
                    )
                    for i in ids
                ],
            ),
        }
        for name, (at, requests) in loads.items():
            result = await run_load(HOST, at, requests, CONNECTIONS, secs)
            figures.rates[name] = result.rps
            errors += result.errors  # not 200 (e.g. 503 when the pool wait ran out): counted
        quoted = ",".join(f'"{i}"' for i in batch_ids)
        body = f'{{"purpose":"{PURPOSE}","channel":"email","subjects":[{quoted}]}}'.encode()
        batch = post_request(lupa_at, "/v1/check/batch", auth, body)
        result = await run_load(HOST, port, [batch], 2 * workers, secs)
        errors += result.errors
        figures.rates["batch"] = result.rps * len(batch_ids)
        if not CREATED:
            await writes.create_subjects(port, admin)
            CREATED.append(True)
        base = await writes.drive(base_port, writes.bare_inserts(), 201, secs)
        tag = f"{server}{workers}"
        lupa = await writes.drive(port, writes.consent_writes(admin, False, tag), 201, secs)
        # A write answered other than 201 is counted too, not fatal: the table shows them all.
        figures.rates["bare insert"], figures.rates["writes"] = base.rps, lupa.rps
        figures.rates["errors"] = float(errors + base.errors + lupa.errors)
    print(
        f"  {server} x{workers}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in figures.rates.items()),
        flush=True,
    )
    return figures


SUBJECTS = [0]
CREATED: list[bool] = []


async def bare_batch_rate(url: str, count: int, secs: float) -> float:
    """The batch statement for 10,000 sorted distinct ids from asyncpg: the SQL floor."""
    rng = random.Random(7)
    ids = sorted({external_id(PREFIX, rng.randrange(count)) for _ in range(BATCH_IDS)})
    conn = await asyncpg.connect(url)
    try:
        await fetch_batch(conn, ids, PURPOSE, "email")
        loop = asyncio.get_running_loop()
        started, calls = loop.time(), 0
        while loop.time() - started < secs:
            await fetch_batch(conn, ids, PURPOSE, "email")
            calls += 1
        return calls * len(ids) / (loop.time() - started)
    finally:
        await conn.close()


async def run(quick: bool) -> tuple[list[Figures], float]:
    count = 20_000 if quick else 200_000
    SUBJECTS[0] = count
    secs = 2.0 if quick else 8.0
    keyring = Keyring.generate()
    tokens = (
        issue_access_token(keyring, "marketing", None, 6 * 3600),
        issue_access_token(keyring, "admin", None, 6 * 3600),
    )
    with postgres() as server_dsn:
        url = await fresh_database(server_dsn, "lupa_bench_servers")
        conn = await asyncpg.connect(url)
        try:
            await populate(conn, PURPOSE, PREFIX, count)
            await conn.execute(WRITES_TABLE)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        bare = await bare_batch_rate(url, count, secs)
        print(f"  bare batch statement: {bare:,.0f} checks/s", flush=True)
        figures = [
            await measure_config(server, workers, url, keyring, tokens, secs)
            for server, workers in CONFIGS
        ]
    return figures, bare


def markdown(figures: list[Figures], bare_batch: float, quick: bool) -> str:
    today = figures[0].rates["check"]  # uvicorn, one process: what `lupa run` served before
    head = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'quick' if quick else 'full'} run, "
        f"{SUBJECTS[0]:,} subjects, {CONNECTIONS} connections; the baselines run under the same "
        "server and worker count as Lupa; bare batch statement (asyncpg, no server) "
        f"{bare_batch:,.0f} checks/s.",
        "",
        "| server | workers | hello | raw lookup | check | check / raw (≥ 0.85x) "
        "| check / hello | check / uvicorn x1 (≥ 1.5x) | batch checks/s | batch / bare (≥ 0.8x) "
        "| bare INSERT | writes/s (≥ 1,000) | writes / INSERT | failed requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        r = f.rates
        head.append(
            f"| {f.server} | {f.workers} | {r['hello']:,.0f} | {r['raw lookup']:,.0f} "
            f"| {r['check']:,.0f} | {r['check'] / r['raw lookup']:.2f}x "
            f"| {r['check'] / r['hello']:.2f}x | {r['check'] / today:.2f}x "
            f"| {r['batch']:,.0f} | {r['batch'] / bare_batch:.2f}x | {r['bare insert']:,.0f} "
            f"| {r['writes']:,.0f} | {r['writes'] / r['bare insert']:.2f}x "
            f"| {r['errors']:.0f} |"
        )
    return "\n".join(head)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.servers")
    parser.add_argument("--quick", action="store_true", help="small data, short runs (smoke)")
    args = parser.parse_args()
    figures, bare = asyncio.run(run(args.quick))
    table = markdown(figures, bare, args.quick)
    print(table, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(f"# uvicorn vs Granian\n\n{table}\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
