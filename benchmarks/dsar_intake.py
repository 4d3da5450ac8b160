"""``python -m benchmarks.dsar_intake [--quick]``: verified DSAR intake against a bare INSERT.

``POST /v1/requests`` with a portal token bound to the subject (the request is verified at
once, its deadline computed, its data key made and wrapped, its audit event written, the
duplicate check run), 64 concurrent clients, every request for a new subject so none is linked
to an earlier one; against the baseline of this very run: a Litestar endpoint doing one asyncpg
INSERT in its own transaction on the same server (``benchmarks/baseline_app.py``). Targets
(issue 10): ≥ 0.5x the bare INSERT and ≥ 400 requests/s (20x the 19.5/s of Fides' privacy
request creation measured on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator

import asyncpg

from benchmarks.baseline_app import WRITES_TABLE
from benchmarks.stack import fresh_database, postgres, serve
from benchmarks.writes import Maker, Measured, bare_inserts, measure, median_of, request
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

DSAR = "services.dsar.app:create_app_from_env"
BASELINE = "benchmarks.baseline_app:create_baseline_app"
# Tokens minted before the run (signing in the load generator would take its CPU from the
# server's two cores); more than the fastest round can use.
TOKENS_QUICK, TOKENS_FULL = 12_000, 40_000


def portal_intakes(tokens: Iterator[str]) -> Maker:
    body = json.dumps({"type": "access", "locale": "fi"}).encode()

    def make(_: int, __: int, ___: str | None) -> bytes:
        headers = {"Authorization": f"Bearer {next(tokens)}", "Content-Type": "application/json"}
        return request("POST", "/v1/requests", headers, body)

    return make


async def run(quick: bool) -> tuple[list[Measured], list[Measured]]:
    seconds = 3.0 if quick else 10.0
    rounds = 2 if quick else 3
    keyring = Keyring.generate()
    count = TOKENS_QUICK if quick else TOKENS_FULL
    minted = (issue_access_token(keyring, "portal", f"bench-{n}", 6 * 3600) for n in range(count))
    tokens = iter(list(minted))  # each used once: a token is one new subject
    base: list[Measured] = []
    lupa: list[Measured] = []
    with postgres() as server_dsn:
        url = await fresh_database(server_dsn, "lupa_bench_dsar")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(WRITES_TABLE)
        finally:
            await conn.close()
        with (
            serve(BASELINE, url, keyring) as (base_port, base_pid),
            serve(DSAR, url, keyring) as (port, pid),
        ):
            for _ in range(rounds):
                base.append(
                    await measure(
                        base_port, base_pid, None, lambda _: bare_inserts(), 201, seconds, ""
                    )
                )
                lupa.append(
                    await measure(
                        port, pid, None, lambda _: portal_intakes(tokens), 201, seconds, ""
                    )
                )
    return base, lupa


def markdown(base: list[Measured], lupa: list[Measured]) -> str:
    ratio = median_of([x.load.rps / b.load.rps for b, x in zip(base, lupa, strict=True)])
    b_rps, l_rps = median_of([m.load.rps for m in base]), median_of([m.load.rps for m in lupa])
    errors = sum(m.load.errors for m in lupa)
    lines = [
        "64 clients, a portal token per new subject; baseline: one asyncpg INSERT per request in",
        "its own transaction, same server, same run; medians of alternating rounds.",
        "",
        "| measure | bare INSERT | Lupa | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| verified intake (requests/s) | {b_rps:,.1f} | {l_rps:,.1f} | {ratio:.2f}x "
        "| ≥ 0.5x, ≥ 400/s |",
        f"| intake p50 (ms) | {median_of([m.load.p50_ms for m in base]):,.1f} | "
        f"{median_of([m.load.p50_ms for m in lupa]):,.1f} | | |",
        f"| intake p99 (ms) | {median_of([m.load.p99_ms for m in base]):,.1f} | "
        f"{median_of([m.load.p99_ms for m in lupa]):,.1f} | | |",
        f"| server CPU per request (µs) | {median_of([m.cpu_us for m in base]):,.0f} | "
        f"{median_of([m.cpu_us for m in lupa]):,.0f} | | |",
    ]
    if errors:
        lines.append(f"\n{errors} intake requests did not answer 201.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dsar_intake")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke)")
    args = parser.parse_args()
    print(markdown(*asyncio.run(run(args.quick))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
