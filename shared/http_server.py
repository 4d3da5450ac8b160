"""The HTTP protocol the services run under uvicorn: httptools, with the one answer uvicorn
writes itself — ``400`` for a request it cannot parse (a request line over the parser's limit,
raw non-ASCII bytes in it) — sent as an RFC 9457 problem like every other error, not as
uvicorn's ``text/plain``. The application never sees such a request, so this is the only
place that can answer it."""

from __future__ import annotations

import json

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shared.logging import new_request_id
from shared.problems import PROBLEM_MEDIA_TYPE, problem_body

log = structlog.get_logger("lupa.access")


def unparseable_request_problem(request_id: str) -> bytes:
    detail = "The request could not be parsed as HTTP."
    return json.dumps(problem_body(400, "bad-request", "Bad request", detail, request_id)).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        # uvicorn's ``msg`` names the parser's complaint; it is logged, never sent back.
        request_id = new_request_id()  # a UUID, like every other response's
        body = unparseable_request_problem(request_id)
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                f"content-type: {PROBLEM_MEDIA_TYPE}\r\n".encode(),
                f"content-length: {len(body)}\r\n".encode(),
                f"x-request-id: {request_id}\r\n".encode(),
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        log.info("request", status=400, route=None, request_id=request_id, error=msg[:100])
        self.transport.write(b"".join(head))
        self.transport.close()
