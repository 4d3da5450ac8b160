"""docs/security.md lists exactly the routes and roles each service's app enforces."""

from __future__ import annotations

import pytest

from tests.route_table import (
    DSAR_HEADER,
    HEADER,
    consent_app,
    documented_rows,
    dsar_app,
    route_rows,
)


@pytest.mark.parametrize(("app", "header"), [(consent_app, HEADER), (dsar_app, DSAR_HEADER)])
def test_the_security_page_route_table_is_the_apps(app, header):
    expected = route_rows(app())
    documented = documented_rows(header=header)
    missing = [row for row in expected if row not in documented]
    stale = [row for row in documented if row not in expected]
    assert not missing and not stale, (
        f"docs/security.md is out of date (regenerate: python -m tests.route_table); "
        f"missing {missing}, stale {stale}"
    )
    assert documented == expected, "same rows, other order: regenerate the table"
