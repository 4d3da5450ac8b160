"""``python -m benchmarks.dsar_execution [--quick]``: approved erasures drained by two workers.

The consent service and the DSAR service run as uvicorn processes on one fresh database, the
consent service registered as the DSAR service's connector (the built-in one, over the signed
protocol, as ``lupa run`` does). N subjects are created in the consent service and N erasure
requests filed and approved through the DSAR API while no worker runs; then two ``lupa
worker`` processes start and the time until every request is ``completed`` gives completed
requests/s, with the workers' memory (RSS) sampled along the way. Then, with the workers
idle, single requests are approved one at a time and the time from the approval's answer to
``completed`` (polled every 20 ms) gives the median latency. Targets (issue 10): ≥ 50
completed requests/s with two workers and flat memory; median approval → completed < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx

from benchmarks.stack import REPO, fresh_database, postgres, rss_kib, serve
from shared.audit.webhooks import new_secret
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

CONSENT = "services.consent.app:create_app_from_env"
DSAR = "services.dsar.app:create_app_from_env"
SETUP_CONCURRENCY = 32
LATENCY_SAMPLES = 20


async def _each(items: list[str], call: object) -> None:
    """Run ``call(item)`` for every item, SETUP_CONCURRENCY at a time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def runner() -> None:
        while not queue.empty():
            await call(queue.get_nowait())  # type: ignore[operator]

    await asyncio.gather(*(runner() for _ in range(SETUP_CONCURRENCY)))


def start_workers(
    url: str, keyring: Keyring, dsar_port: int, home: Path, n: int
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_HOME": str(home),
        "LUPA_DSAR_PUBLIC_URL": f"http://127.0.0.1:{dsar_port}",
        "LUPA_LOG_LEVEL": "WARNING",
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "lupa", "worker", "--name", f"bench-{i}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]


async def run(quick: bool) -> str:
    count = 1_000 if quick else 10_000
    keyring = Keyring.generate()
    admin = issue_access_token(keyring, "admin", None, 6 * 3600)
    officer = issue_access_token(keyring, "officer", None, 6 * 3600)
    secret = new_secret()
    os.environ["LUPA_CONSENT_CONNECTOR_SECRET"] = secret  # for the consent server below
    with postgres() as server_dsn, tempfile.TemporaryDirectory() as home, ExitStack() as stack:
        url = await fresh_database(server_dsn, "lupa_bench_dsar_exec")
        consent_port, _ = stack.enter_context(serve(CONSENT, url, keyring))
        dsar_port, _ = stack.enter_context(serve(DSAR, url, keyring))
        c = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{consent_port}",
            timeout=30,
            headers={"Authorization": f"Bearer {admin}"},
        )
        d = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{dsar_port}",
            timeout=30,
            headers={"Authorization": f"Bearer {officer}"},
        )
        async with c, d:
            registered = await d.put(
                "/v1/connectors/consent",
                headers={"Authorization": f"Bearer {admin}"},
                json={
                    "url": f"http://127.0.0.1:{consent_port}/v1/connector",
                    "secret": secret,
                    "actions": [
                        "access",
                        "erasure",
                        "rectification",
                        "restriction",
                        "lift_restriction",
                        "objection",
                    ],
                },
            )
            registered.raise_for_status()
            subjects = [f"x{n:07d}" for n in range(count + LATENCY_SAMPLES)]

            async def create(subject: str) -> None:
                body = {"email": f"{subject}@example.com", "name": "Bench Person", "locale": "fi"}
                (await c.put(f"/v1/subjects/{subject}", json=body)).raise_for_status()

            await _each(subjects, create)
            request_ids: list[str] = []

            async def file_and_approve(subject: str) -> None:
                filed = await d.post("/v1/requests", json={"type": "erasure", "subject": subject})
                filed.raise_for_status()
                rid = filed.json()["id"]
                (await d.post(f"/v1/requests/{rid}/approve")).raise_for_status()
                request_ids.append(rid)

            await _each(subjects[:count], file_and_approve)

            conn = await asyncpg.connect(url)
            try:
                workers = start_workers(url, keyring, dsar_port, Path(home), 2)
                try:
                    started = time.perf_counter()
                    rss: list[int] = []
                    done = 0
                    deadline = started + (120 if quick else 900)
                    while done < count and time.perf_counter() < deadline:
                        await asyncio.sleep(0.5)
                        done = await conn.fetchval(
                            "SELECT count(*) FROM dsar_requests WHERE type = 'erasure'"
                            " AND status = 'completed'"
                        )
                        rss.append(sum(rss_kib(w.pid) for w in workers))
                    drained_s = time.perf_counter() - started
                    latencies = [
                        await single_latency(d, conn, subject) for subject in subjects[count:]
                    ]
                finally:
                    for w in workers:
                        w.terminate()
                    for w in workers:
                        w.wait(timeout=30)
            finally:
                await conn.close()
    rate = done / drained_s
    early = statistics.median(rss[: max(1, len(rss) // 4)]) / 1024
    late = statistics.median(rss[-max(1, len(rss) // 4) :]) / 1024
    p50 = statistics.median(latencies) * 1000
    return "\n".join(
        [
            f"{count:,} approved erasures, two `lupa worker` processes, the consent service as",
            "the connector (signed protocol over loopback HTTP), one uvicorn process per service.",
            "",
            "| measure | result | target |",
            "|---|---:|---|",
            f"| completed requests/s | {rate:,.1f} ({done:,} in {drained_s:,.1f} s) | ≥ 50/s |",
            "| workers' RSS, first vs last quarter of the drain | "
            f"{early:,.0f} → {late:,.0f} MiB | flat |",
            f"| approval → completed, median of {len(latencies)} (ms) | {p50:,.0f} | < 2,000 |",
        ]
    )


async def single_latency(d: httpx.AsyncClient, conn: asyncpg.Connection, subject: str) -> float:
    filed = (await d.post("/v1/requests", json={"type": "erasure", "subject": subject})).json()
    approved = await d.post(f"/v1/requests/{filed['id']}/approve")
    approved.raise_for_status()
    start = time.perf_counter()
    for _ in range(1500):  # 30 s at most
        status = await conn.fetchval(
            "SELECT status FROM dsar_requests WHERE id = $1::uuid", filed["id"]
        )
        if status == "completed":
            return time.perf_counter() - start
        await asyncio.sleep(0.02)
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dsar_execution")
    parser.add_argument("--quick", action="store_true", help="1,000 requests (smoke)")
    args = parser.parse_args()
    print(asyncio.run(run(args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
