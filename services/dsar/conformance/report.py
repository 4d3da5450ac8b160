"""The conformance report: one verdict per check, and the exit status they add up to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.verdict.value}  {self.name}: {self.detail}"


@dataclass
class Report:
    url: str
    checks: list[Check] = field(default_factory=list)

    def add(self, verdict: Verdict, name: str, detail: str) -> Check:
        check = Check(verdict, name, detail)
        self.checks.append(check)
        return check

    def count(self, verdict: Verdict) -> int:
        return sum(1 for check in self.checks if check.verdict is verdict)

    @property
    def exit_status(self) -> int:
        """0 when every check passed, 1 when one failed, 2 when some only warned."""
        if self.count(Verdict.FAIL):
            return 1
        return 2 if self.count(Verdict.WARN) else 0

    def render(self) -> str:
        lines = [f"Lupa connector conformance: {self.url}"]
        lines += [check.line() for check in self.checks]
        lines.append(
            f"{self.count(Verdict.PASS)} passed, {self.count(Verdict.WARN)} warned, "
            f"{self.count(Verdict.FAIL)} failed"
        )
        return "\n".join(lines)
