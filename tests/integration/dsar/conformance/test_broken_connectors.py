"""Connectors that break the protocol fail the check that describes how, with exit status 1
(2 when they are only slow)."""

from __future__ import annotations

import json
import time
from typing import Any

from services.dsar.conformance import ConformanceOptions, Report, Verdict, run_conformance
from shared.audit.webhooks import new_secret
from tests.integration.dsar.conformance.example import anna, example, serving


def verdicts(report: Report) -> dict[str, Verdict]:
    return {check.name: check.verdict for check in report.checks}


def run(connector: Any, secret: str, **options: Any) -> Report:
    handler = options.pop("handler", example.JobHandler)
    answer_later = options.pop("answer_later", False)
    with serving(connector, handler=handler, answer_later=answer_later) as url:
        return run_conformance(ConformanceOptions(url, secret, **{"timeout": 5, **options}))


class TrustsEverySignature(example.JobHandler):
    def verified(self, body: bytes) -> bool:
        return True


class ExecutesThenRefuses(example.JobHandler):
    """Checks the signature only after acting on the job."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.connector.handle(json.loads(body))
        self.reply(200 if self.verified(body) else 401, answer)


class ForgetsJobs(example.Connector):
    def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.execute(job)


class SignsCallbacksWithAnotherSecret(example.JobHandler):
    def call_back(self, job: dict[str, Any], answer: dict[str, Any]) -> None:
        body = json.dumps(answer).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(example.signed_headers(new_secret(), job["job"], body))
        request = example.urllib.request.Request(job["callback_url"], body, headers)
        example.urllib.request.urlopen(request, timeout=10).close()


class ExemptWithoutReason(example.Connector):
    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        return {"status": "exempt"} if job["action"] == "erasure" else super().execute(job)


def slow_objections(seconds: float) -> type[example.Connector]:
    class SlowObjections(example.Connector):
        def execute(self, job: dict[str, Any]) -> dict[str, Any]:
            if job["action"] == "objection":
                time.sleep(seconds)
            return super().execute(job)

    return SlowObjections


def test_a_connector_that_trusts_every_signature_fails():
    secret = new_secret()
    report = run(example.Connector(secret), secret, handler=TrustsEverySignature)
    assert verdicts(report)["erasure with a bad signature"] is Verdict.FAIL
    assert verdicts(report)["erasure with a stale timestamp"] is Verdict.FAIL
    assert report.exit_status == 1


def test_a_connector_that_acts_on_a_job_before_refusing_it_fails():
    secret = new_secret()
    report = run(
        example.Connector(secret, anna()),
        secret,
        handler=ExecutesThenRefuses,
        external_id="cust-42",
    )
    found = verdicts(report)
    assert found["erasure with a bad signature"] is Verdict.PASS, "it does answer 401"
    assert found["refused jobs were not executed"] is Verdict.FAIL, report.render()
    assert report.exit_status == 1


def test_a_connector_that_runs_a_repeated_job_again_fails():
    secret = new_secret()
    people = {"cust-7": {"email": "ben@example.com", "name": "Ben"}}  # nothing law keeps
    report = run(ForgetsJobs(secret, people), secret, external_id="cust-7")
    assert verdicts(report)["erasure repeated (same job id)"] is Verdict.FAIL, report.render()
    assert "answered not_found, the first delivery done" in report.render()


def test_a_callback_signed_with_another_secret_fails():
    secret = new_secret()
    report = run(
        example.Connector(secret),
        secret,
        handler=SignsCallbacksWithAnotherSecret,
        answer_later=True,
    )
    assert verdicts(report)["access"] is Verdict.FAIL
    assert "signature does not verify" in report.render()


def test_an_exemption_without_its_legal_ground_fails():
    secret = new_secret()
    report = run(ExemptWithoutReason(secret), secret)
    assert verdicts(report)["erasure"] is Verdict.FAIL
    assert verdicts(report)["access"] is Verdict.PASS
    assert "legal ground" in report.render()


def test_an_answer_over_half_the_timeout_warns_and_exits_2():
    secret = new_secret()
    report = run(slow_objections(0.6)(secret), secret, timeout=1.0)
    assert verdicts(report)["objection"] is Verdict.WARN, report.render()
    assert verdicts(report)["response time"] is Verdict.WARN
    assert report.exit_status == 2


def test_no_answer_within_the_timeout_fails():
    secret = new_secret()
    report = run(slow_objections(1.0)(secret), secret, timeout=0.4)
    assert verdicts(report)["objection"] is Verdict.FAIL
    assert "no answer within 0.4 s" in report.render()
    assert report.exit_status == 1


def test_a_connector_nobody_listens_on_fails_every_call():
    report = run_conformance(ConformanceOptions("http://127.0.0.1:9/jobs", new_secret(), timeout=2))
    assert verdicts(report)["access"] is Verdict.FAIL
    assert "cannot reach it" in report.render()
    assert report.exit_status == 1
