"""The conformance run: which jobs are sent, in which order, and what each check demands.

Order matters: the refused jobs (bad signature, stale timestamp) are erasures sent between two
accesses, so a connector that executes a job it refused is caught by the second access
answering differently; the valid erasure comes last of all.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx

from services.dsar.conformance.callbacks import CallbackServer
from services.dsar.conformance.jobs import Job, Outcome, Sender
from services.dsar.conformance.report import Report, Verdict
from services.dsar.domain.connectors import ACTIONS
from shared.audit.webhooks import new_secret

STALE_SECONDS = 3600  # far outside any replay window (Standard Webhooks suggests 5 minutes)
REFUSALS = (401, 403)


@dataclass(frozen=True, slots=True)
class ConformanceOptions:
    url: str
    secret: str
    callback_host: str = "127.0.0.1"
    timeout: float = 10.0
    external_id: str | None = None  # a test person the connector holds; else a made-up one


def made_up_identity(external_id: str | None) -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "external_id": external_id or f"lupa-conformance-{tag}",
        "email": f"conformance-{tag}@example.invalid",
        "phone": "+358" + str(int(tag, 16))[:9].rjust(9, "0"),
    }


class Conformance:
    def __init__(self, sender: Sender, options: ConformanceOptions, report: Report) -> None:
        self.sender = sender
        self.options = options
        self.report = report
        self.request = str(uuid.uuid4())
        self.identity = made_up_identity(options.external_id)
        self.slowest = 0.0

    def job(self, action: str) -> Job:
        changes = None
        if action == "rectification":
            changes = {"email": f"rectified-{uuid.uuid4().hex[:8]}@example.invalid"}
        return Job(action, self.request, self.identity, changes)

    def run(self) -> None:
        baseline = self.action_check(self.job("access"))
        self.refused_check("bad signature", signing_secret=new_secret())
        self.refused_check("stale timestamp", timestamp=int(time.time()) - STALE_SECONDS)
        self.not_executed_check(baseline)
        for action in ACTIONS:
            if action != "access":
                self.action_check(self.job(action))
        self.timing_summary()

    def action_check(self, job: Job) -> Outcome:
        """A valid job must be answered correctly; the same job again must answer the same."""
        first = self.sender.run(job)
        self.judge(job.action, first)
        again = self.sender.run(job)
        name = f"{job.action} repeated (same job id)"
        if again.answer is None:
            self.judge(name, again)
        elif first.answer is not None and again.answer.status != first.answer.status:
            self.timed(
                Verdict.FAIL,
                name,
                f"answered {again.answer.status}, the first delivery {first.answer.status}",
                again,
            )
        else:
            self.timed(Verdict.PASS, name, f"the same status ({again.answer.status})", again)
        return first

    def judge(self, name: str, outcome: Outcome) -> None:
        if outcome.answer is None:
            self.timed(Verdict.FAIL, name, outcome.error or "no answer", outcome)
            return
        how = "202, then a signed callback" if outcome.via_callback else "200"
        self.timed(Verdict.PASS, name, f"{how} with status {outcome.answer.status}", outcome)

    def refused_check(
        self, name: str, *, signing_secret: str | None = None, timestamp: int | None = None
    ) -> None:
        """A job that is not correctly signed, or not fresh, must be refused with 401/403."""
        job = self.job("erasure")
        status, _, seconds, error = self.sender.post(
            job, signing_secret=signing_secret, timestamp=timestamp
        )
        outcome = Outcome(seconds, http_status=status, error=error)
        name = f"erasure with a {name}"
        if status in REFUSALS:
            self.timed(Verdict.PASS, name, f"refused with {status}", outcome)
        elif status is None:
            self.timed(Verdict.FAIL, name, error or "no answer", outcome)
        elif 400 <= status < 500:
            self.timed(Verdict.WARN, name, f"refused with {status}; 401 or 403 expected", outcome)
        else:
            self.timed(Verdict.FAIL, name, f"accepted with {status}; must be refused", outcome)

    def not_executed_check(self, baseline: Outcome) -> None:
        """After the refused erasures, an access must still answer as the first one did."""
        name = "refused jobs were not executed"
        later = self.sender.run(self.job("access"))
        if baseline.answer is None or later.answer is None:
            self.timed(Verdict.FAIL, name, "cannot tell: an access was not answered", later)
        elif (later.answer.status, later.answer.data) != (
            baseline.answer.status,
            baseline.answer.data,
        ):
            self.timed(Verdict.FAIL, name, "a later access answers differently", later)
        else:
            self.timed(Verdict.PASS, name, "a later access answers as before", later)

    def timed(self, verdict: Verdict, name: str, detail: str, outcome: Outcome) -> None:
        """Report with the call's time; a PASS slower than half the timeout becomes a WARN."""
        self.slowest = max(self.slowest, outcome.seconds)
        if verdict is Verdict.PASS and outcome.seconds > self.options.timeout / 2:
            verdict = Verdict.WARN
            detail += f"; slow, over half the {self.options.timeout:g} s timeout"
        self.report.add(verdict, name, f"{detail} ({outcome.seconds:.3f} s)")

    def timing_summary(self) -> None:
        timeout = self.options.timeout
        detail = f"slowest call {self.slowest:.3f} s, timeout {timeout:g} s"
        if self.slowest > timeout:
            self.report.add(Verdict.FAIL, "response time", detail)
        elif self.slowest > timeout / 2:
            self.report.add(Verdict.WARN, "response time", detail + " (over half of it)")
        else:
            self.report.add(Verdict.PASS, "response time", detail)


def run_conformance(options: ConformanceOptions) -> Report:
    """Drive the connector at ``options.url`` through the protocol; the report of every check."""
    report = Report(options.url)
    with (
        CallbackServer(options.callback_host) as callbacks,
        httpx.Client(timeout=options.timeout, follow_redirects=False) as client,
    ):
        sender = Sender(client, options.url, options.secret, callbacks, options.timeout)
        Conformance(sender, options, report).run()
    return report
