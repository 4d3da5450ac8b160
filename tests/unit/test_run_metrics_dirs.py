"""``lupa run`` with ``PROMETHEUS_MULTIPROC_DIR`` set gives each service its own directory, so
the consent service's counters never add up with the DSAR service's."""

from __future__ import annotations

from lupa.cli.run import service_env


def test_each_service_gets_its_own_metrics_directory() -> None:
    base = {"PROMETHEUS_MULTIPROC_DIR": "/var/lib/lupa/metrics", "PATH": "/usr/bin"}
    consent = service_env("consent", "postgresql://db/lupa", "whsec_x", base)
    dsar = service_env("dsar", "postgresql://db/lupa", "whsec_x", base)

    assert consent["PROMETHEUS_MULTIPROC_DIR"] == "/var/lib/lupa/metrics/consent"
    assert dsar["PROMETHEUS_MULTIPROC_DIR"] == "/var/lib/lupa/metrics/dsar"
    assert base["PROMETHEUS_MULTIPROC_DIR"] == "/var/lib/lupa/metrics"  # the caller's is untouched


def test_without_the_variable_each_service_picks_its_own_default() -> None:
    env = service_env("dsar", "postgresql://db/lupa", "whsec_x", {"PATH": "/usr/bin"})
    assert "PROMETHEUS_MULTIPROC_DIR" not in env  # prepare_metrics_dir: $LUPA_HOME/metrics/dsar
    assert env["DATABASE_URL"] == "postgresql://db/lupa"
