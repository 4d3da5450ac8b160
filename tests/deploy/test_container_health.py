"""The image's HEALTHCHECK (``python -m lupa.container_health``) per role."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lupa.container_health import check, container_command, readiness_url
from tests.loopback_http import QuietHandler, loopback_server

LAUNCHER = ["/opt/venv/bin/python", "/opt/venv/bin/lupa"]


def test_each_service_is_probed_on_its_own_port_and_the_others_have_no_probe() -> None:
    assert readiness_url([*LAUNCHER, "serve", "consent", "--workers", "2"], {}) == (
        "http://127.0.0.1:8000/health/ready"
    )
    assert readiness_url([*LAUNCHER, "serve", "dsar"], {}) == "http://127.0.0.1:8001/health/ready"
    moved = {"LUPA_DSAR_PORT": "9101"}
    assert (
        readiness_url([*LAUNCHER, "serve", "dsar"], moved) == "http://127.0.0.1:9101/health/ready"
    )
    for role in ("relay", "worker", "migrate"):
        assert readiness_url([*LAUNCHER, role], {}) is None
        assert check([*LAUNCHER, role], {})[0]


def test_the_command_line_is_read_as_the_kernel_gives_it(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/lupa\0serve\0dsar\0")
    assert container_command(cmdline) == [*LAUNCHER, "serve", "dsar"]


@pytest.fixture
def probe_server() -> Iterator[tuple[int, list[int]]]:
    """A loopback HTTP server answering /health/ready with the status at the list's head."""
    status = [200]

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/health/ready" else 404)
            self.end_headers()

    with loopback_server(Handler) as port:
        yield port, status


def test_a_service_is_healthy_only_while_its_readiness_probe_says_200(
    probe_server: tuple[int, list[int]],
) -> None:
    port, status = probe_server
    env = {"LUPA_CONSENT_PORT": str(port)}
    assert check([*LAUNCHER, "serve", "consent"], env)[0]
    status[0] = 503  # the database is unreachable
    healthy, why = check([*LAUNCHER, "serve", "consent"], env)
    assert not healthy and "503" in why


def test_a_service_not_listening_is_unhealthy() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    healthy, why = check([*LAUNCHER, "serve", "dsar"], {"LUPA_DSAR_PORT": str(port)})
    assert not healthy and "did not answer" in why
