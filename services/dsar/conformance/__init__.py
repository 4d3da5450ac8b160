"""``lupa connector test``: drive a connector through the connector protocol and report.

``run_conformance(ConformanceOptions(url, secret))`` sends signed jobs for a made-up identity
(every action, repeats, a bad signature, a stale timestamp), collects 202 callbacks on a
loopback HTTP server of its own, and returns a ``Report`` of PASS/WARN/FAIL lines.
"""

from __future__ import annotations

from services.dsar.conformance.checks import ConformanceOptions, run_conformance
from services.dsar.conformance.report import Check, Report, Verdict

__all__ = ["Check", "ConformanceOptions", "Report", "Verdict", "run_conformance"]
