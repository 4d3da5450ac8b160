"""docs/security.md lists exactly the routes and roles the consent app enforces."""

from __future__ import annotations

from tests.route_table import consent_app, documented_rows, route_rows


def test_the_security_page_route_table_is_the_apps():
    expected = route_rows(consent_app())
    documented = documented_rows()
    missing = [row for row in expected if row not in documented]
    stale = [row for row in documented if row not in expected]
    assert not missing and not stale, (
        f"docs/security.md is out of date (regenerate: python -m tests.route_table); "
        f"missing {missing}, stale {stale}"
    )
    assert documented == expected, "same rows, other order: regenerate the table"
