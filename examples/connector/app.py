"""A complete Lupa connector in plain Python: the standard library only.

It keeps its people in a dict, answers every action of Lupa's connector protocol, refuses jobs
whose Standard Webhooks signature does not verify (or is stale), and treats a job id it has
seen before as the same job. Run it:

    CONNECTOR_SECRET=whsec_... python examples/connector/app.py --port 9000 [--answer-later]

With ``--answer-later`` it answers ``202`` and sends the result to the job's ``callback_url``,
signed the same way, as a system that works through a queue would.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300  # refuse a timestamp further than five minutes from now (replays)
RECTIFIABLE = ("email", "phone", "name")
# restricted: keep the data but do nothing else with it; objected: no more marketing or profiling
FLAGS = {
    "restriction": ("restricted", True),
    "lift_restriction": ("restricted", False),
    "objection": ("objected", True),
}
BOOKKEEPING = "Art. 17(3)(b) GDPR: the Accounting Act requires invoices to be kept for 10 years"


def signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }


class Connector:
    """The system's data and what each action does to it."""

    def __init__(self, secret: str, people: dict[str, dict[str, Any]] | None = None) -> None:
        self.secret = secret
        self.people = people if people is not None else {}
        self.answers: dict[str, dict[str, Any]] = {}  # job id -> the answer it got
        self.lock = threading.Lock()

    def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        with self.lock:  # a repeat of a job gets the first answer, never a second execution
            if job["job"] not in self.answers:
                self.answers[job["job"]] = self.execute(job)
            return self.answers[job["job"]]

    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        person = self.people.get(job["identity"]["external_id"])
        if person is None:
            return {"status": "not_found"}
        action = job["action"]
        if action == "access":
            return {"status": "done", "data": dict(person)}
        if action == "erasure":
            return self.erase(job["identity"]["external_id"], person)
        if action == "rectification":
            person.update({k: v for k, v in job["changes"].items() if k in RECTIFIABLE})
        else:  # restriction, lift_restriction, objection: flags the system then honours
            flag, value = FLAGS[action]
            person[flag] = value
        return {"status": "done"}

    def erase(self, external_id: str, person: dict[str, Any]) -> dict[str, Any]:
        if not person.get("invoices"):
            del self.people[external_id]
            return {"status": "done"}
        # The law says keep the invoices: drop everything else, and say why the rest stays.
        self.people[external_id] = {"invoices": person["invoices"]}
        return {"status": "exempt", "reason": BOOKKEEPING}


class JobHandler(BaseHTTPRequestHandler):
    connector: Connector
    answer_later = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.verified(body):
            return self.reply(401, {"error": "bad or stale signature"})
        answer = self.connector.handle(job := json.loads(body))
        if not self.answer_later:
            return self.reply(200, answer)
        self.reply(202, {})
        threading.Thread(target=self.call_back, args=(job, answer), daemon=True).start()
        return None

    def verified(self, body: bytes) -> bool:
        msg_id, timestamp = self.headers["webhook-id"], self.headers["webhook-timestamp"]
        if not (msg_id and timestamp and timestamp.isdigit()):
            return False
        if abs(time.time() - int(timestamp)) > TOLERANCE_S:
            return False
        expected = signature(self.connector.secret, msg_id, timestamp, body)
        given = (self.headers["webhook-signature"] or "").split()
        return any(hmac.compare_digest(expected, candidate) for candidate in given)

    def call_back(self, job: dict[str, Any], answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(signed_headers(self.connector.secret, job["job"], body))
        url = job["callback_url"]
        if not url.startswith(("http://", "https://")):
            return  # only ever POST to a web address, whatever a job says
        request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def reply(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a connector must not log the people it is asked about."""


def make_server(
    connector: Connector,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    answer_later: bool = False,
    handler: type[JobHandler] = JobHandler,
) -> ThreadingHTTPServer:
    bound = type(
        "BoundJobHandler", (handler,), {"connector": connector, "answer_later": answer_later}
    )
    return ThreadingHTTPServer((host, port), bound)


def main() -> None:
    parser = argparse.ArgumentParser(description="An example Lupa connector")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--answer-later", action="store_true", help="202 and a callback")
    args = parser.parse_args()
    people = {"cust-42": {"email": "anna@example.com", "name": "Anna", "invoices": ["2026-001"]}}
    connector = Connector(os.environ["CONNECTOR_SECRET"], people)
    server = make_server(connector, args.host, args.port, answer_later=args.answer_later)
    print(f"connector listening on http://{args.host}:{server.server_address[1]}/")
    server.serve_forever()


if __name__ == "__main__":
    main()
