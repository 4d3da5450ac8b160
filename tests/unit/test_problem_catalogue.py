"""Every problem type the code can return is documented in docs/problems.md."""

from __future__ import annotations

import re
from pathlib import Path

import services.consent.app
import services.dsar.app
import shared.web.sessions
from shared.errors import LupaError

# Both services' own errors are subclasses too: import them, whatever ran before this test.
SERVICE_APPS = (services.consent.app, services.dsar.app, shared.web.sessions)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "problems.md"
# Types produced by the framework-error mapping rather than a LupaError subclass.
FRAMEWORK_TYPES = {"bad-request", "method-not-allowed", "internal"}


def _all_subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_all_subclasses(direct))]


def test_every_problem_type_is_in_the_catalogue():
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", DOCS.read_text(), re.M))
    in_code = {(c.slug, str(c.status)) for c in _all_subclasses(LupaError)}
    in_code |= {(slug, status) for slug, status in documented if slug in FRAMEWORK_TYPES}
    assert in_code - documented == set(), "undocumented problem types (slug, status)"
    assert {slug for slug, _ in documented} == {slug for slug, _ in in_code}, "stale rows in docs"
