"""A loopback HTTP server that collects connector callbacks while the conformance run lasts.

Each job's ``callback_url`` is ``http://HOST:PORT/callbacks/<job id>``; whatever arrives there
is kept, raw, for the check to verify (signature, id, body). The server answers 204 at once.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

MAX_BODY = 1 << 20
PREFIX = "/callbacks/"


@dataclass(frozen=True, slots=True)
class Callback:
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()


class _Inbox:
    def __init__(self) -> None:
        self._arrived: dict[str, list[Callback]] = {}
        self._condition = threading.Condition()

    def put(self, job_id: str, callback: Callback) -> None:
        with self._condition:
            self._arrived.setdefault(job_id, []).append(callback)
            self._condition.notify_all()

    def count(self, job_id: str) -> int:
        with self._condition:
            return len(self._arrived.get(job_id, ()))

    def wait(self, job_id: str, deadline: float, seen: int) -> Callback | None:
        """The first callback for ``job_id`` after the ``seen`` already taken, waiting until
        ``deadline`` (monotonic)."""
        with self._condition:
            while len(self._arrived.get(job_id, ())) <= seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)
            return self._arrived[job_id][seen]


def _handler(inbox: _Inbox) -> type[BaseHTTPRequestHandler]:
    class CallbackHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not self.path.startswith(PREFIX) or length > MAX_BODY:
                self.send_response(404)
                self.end_headers()
                return
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            inbox.put(self.path.removeprefix(PREFIX), Callback(headers, body, time.monotonic()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the report says what matters."""

    return CallbackHandler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class CallbackServer:
    """``with CallbackServer("127.0.0.1") as server: server.url_for(job)``."""

    def __init__(self, host: str) -> None:
        self._inbox = _Inbox()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, 0), _handler(self._inbox))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        name = host if ":" not in host else f"[{host}]"
        self.base_url = f"http://{name}:{self._server.server_address[1]}{PREFIX}"

    def url_for(self, job_id: str) -> str:
        return self.base_url + job_id

    def count(self, job_id: str) -> int:
        """How many callbacks for ``job_id`` have arrived so far."""
        return self._inbox.count(job_id)

    def wait(self, job_id: str, deadline: float, seen: int = 0) -> Callback | None:
        return self._inbox.wait(job_id, deadline, seen)

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
