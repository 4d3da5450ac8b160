"""Is a service's port free, and who holds it: ``lupa run`` asks before it starts anything.

Finding the holder reads Linux's ``/proc`` (listening sockets in ``/proc/net/tcp*``, then the
processes whose open files include one); elsewhere, or for another user's process, the holder
is simply unknown and the message says only that the port is in use.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # the TCP state column of /proc/net/tcp


def in_use(host: str, port: int) -> bool:
    """True when binding ``host:port`` would fail as the server's own bind would: uvicorn also
    sets SO_REUSEADDR, so a socket lingering in TIME_WAIT does not count as in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def can_name_holders() -> bool:
    """Whether this system tells which process holds a socket (Linux's ``/proc``)."""
    return (PROC / "net" / "tcp").exists()


def holders(port: int, candidates: list[int] | None = None) -> list[tuple[int, str]]:
    """The processes (pid, command line) with a socket listening on ``port``: among
    ``candidates`` if given, else among every process this user may look into."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    pids = candidates if candidates is not None else _all_pids()
    return [(pid, _command(pid)) for pid in pids if _holds(pid, inodes)]


def describe_busy(name: str, port: int) -> str:
    """One plain sentence for a busy port, naming its holder when it can be found."""
    env = f"LUPA_{name.upper()}_PORT"
    found = holders(port)
    if not found:
        holder = "by another program (perhaps another `lupa run`)"
    else:
        pid, command = found[0]
        another = " (another Lupa)" if "lupa" in command else ""
        holder = f"by pid {pid}: {command or '?'}{another}"
    return f"port {port} for the {name} service is already in use {holder}; stop it, or set {env}"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            listening = len(fields) > 9 and fields[3] == _LISTEN
            if listening and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes


def _all_pids() -> list[int]:
    try:
        return sorted(int(p.name) for p in PROC.iterdir() if p.name.isdigit())
    except OSError:
        return []


def _holds(pid: int, inodes: set[str]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = list((PROC / str(pid) / "fd").iterdir())
    except OSError:  # gone, or another user's
        return False
    for fd in fds:
        try:
            if str(fd.readlink()) in wanted:
                return True
        except OSError:
            continue
    return False


def _command(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()
