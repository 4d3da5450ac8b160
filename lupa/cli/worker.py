"""``lupa worker``: run the DSAR connector jobs until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from lupa.cli.production import refuse_insecure
from shared.db.location import database_url
from shared.keys import load_keyring
from shared.settings import Settings


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run DSAR connector jobs (calls, retries, lease expiry)"
    )
    worker.add_argument("--name", help="this worker's name in the job table (default host-pid)")
    worker.set_defaults(handler=run_worker_command)


def run_worker_command(args: argparse.Namespace) -> int:
    refuse_insecure(["dsar"])  # the worker mails download links under the DSAR service's URL
    with database_url() as url:
        asyncio.run(_work(url, args.name))
    return 0


async def _work(url: str, name: str | None) -> None:
    from services.dsar.settings import DEFAULT_PORT, SERVICE, DsarSettings
    from services.dsar.worker import run_worker
    from shared.logging import configure_logging

    # A service's environment (ports, public URL, keys, logs), with the database just found.
    settings = Settings.from_env(
        SERVICE, env={**os.environ, "DATABASE_URL": url}, default_port=DEFAULT_PORT
    )
    configure_logging(json=settings.log_json, level=settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)  # graceful: in-flight calls finish or go back
    await run_worker(
        settings, DsarSettings.from_env(), load_keyring(settings.keys_path), stop, name
    )
