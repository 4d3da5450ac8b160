"""The example connector passes every conformance check, answering at once or by callback,
and ``lupa connector test`` says so with exit status 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.dsar.conformance import ConformanceOptions, Verdict, run_conformance
from shared.audit.webhooks import new_secret
from tests.integration.dsar.conformance.example import anna, example, serving

EXPECTED_CHECKS = {
    "access",
    "access repeated (same job id)",
    "erasure with a bad signature",
    "erasure with a stale timestamp",
    "refused jobs were not executed",
    "rectification",
    "restriction",
    "lift_restriction",
    "objection",
    "erasure",
    "erasure repeated (same job id)",
    "response time",
}


@pytest.mark.parametrize("answer_later", [False, True], ids=["200", "202 and callback"])
def test_the_example_connector_passes_every_check(answer_later):
    secret = new_secret()
    with serving(example.Connector(secret), answer_later=answer_later) as url:
        report = run_conformance(ConformanceOptions(url, secret, timeout=5))
    assert {c.verdict for c in report.checks} == {Verdict.PASS}, report.render()
    assert {c.name for c in report.checks} >= EXPECTED_CHECKS
    assert report.exit_status == 0
    how = "202, then a signed callback" if answer_later else "200 with status not_found"
    assert how in report.render()


def test_a_known_person_is_found_rectified_and_erased_under_an_exemption():
    secret = new_secret()
    connector = example.Connector(secret, anna())
    with serving(connector, answer_later=True) as url:
        report = run_conformance(ConformanceOptions(url, secret, timeout=5, external_id="cust-42"))
    assert report.exit_status == 0, report.render()
    assert "access: 202, then a signed callback with status done" in report.render()
    assert "erasure: 202, then a signed callback with status exempt" in report.render()
    assert connector.people["cust-42"] == {"invoices": ["2026-001"]}, "only what law requires"


def test_lupa_connector_test_prints_the_report_and_exits_0():
    secret = new_secret()
    with serving(example.Connector(secret)) as url:
        result = subprocess.run(
            [sys.executable, "-m", "lupa", "connector", "test", url, "--secret", secret],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Lupa connector conformance: {url}"
    assert all(line.startswith("PASS  ") for line in lines[1:-1]), result.stdout
    assert lines[-1].endswith("0 warned, 0 failed")


def test_lupa_connector_test_refuses_a_secret_not_in_standard_form():
    result = subprocess.run(
        [sys.executable, "-m", "lupa", "connector", "test", "http://127.0.0.1:9/", "--secret", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "whsec_" in result.stderr


class VerifiesWithTheStandardWebhooksPackage(example.JobHandler):
    """The verification docs/connectors.md shows, with the independent ``standardwebhooks``."""

    def verified(self, body: bytes) -> bool:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        try:
            Webhook(self.connector.secret).verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            return False
        return True


def test_jobs_verify_with_the_standard_webhooks_package_as_the_docs_show():
    secret = new_secret()
    connector = example.Connector(secret)
    with serving(connector, handler=VerifiesWithTheStandardWebhooksPackage) as url:
        report = run_conformance(ConformanceOptions(url, secret, timeout=5))
    assert report.exit_status == 0, report.render()
    assert connector.answers, "the signed jobs were accepted and run"
