"""docker-compose.yml, rendered by Debian's ``docker-compose config`` (``make test`` installs
it): the processes, their replicas, health checks and start order, and secrets that come from
the environment, never from the file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from lupa.cli.main import build_parser
from shared.audit.webhooks import new_secret
from shared.keys import Keyring
from tests.deploy.env_names import unknown

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SECRETS = {
    "LUPA_KEYRING": '{"sentinel": "keyring-from-env"}',
    "LUPA_CONSENT_CONNECTOR_SECRET": "whsec_c2VudGluZWwtY29ubmVjdG9y",
    "LUPA_DB_PASSWORD": "sentinel-db-password",
}
LUPA_PROCESSES = {"consent", "dsar", "relay", "worker"}
PINNED_TAG = re.compile(r":\d+\.\d+\.\d+|:\d+\.\d+-|@sha256:[0-9a-f]{64}$")


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail(
            "docker-compose is not installed: `make compose` installs Debian's package "
            "(apt-get install docker-compose); this test validates docker-compose.yml with it"
        )
    return found


def render(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only PATH and what the test passes: the caller's own LUPA_* must not leak in, nor a
    # developer's own .env fill in what the test leaves out (an empty env file instead).
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    with tempfile.TemporaryDirectory() as scratch:
        no_env_file = Path(scratch) / "empty.env"
        no_env_file.touch()
        return subprocess.run(
            [
                compose_binary(),
                "--project-directory",
                str(REPO),
                "--env-file",
                str(no_env_file),
                "-f",
                str(COMPOSE_FILE),
                "config",
            ],
            env=clean,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    done = render(SECRETS)
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    rendered: dict[str, Any] = yaml.safe_load(done.stdout)
    return rendered


def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = config["services"]
    return found


def test_the_stack_has_every_process(config: dict[str, Any]) -> None:
    assert set(services(config)) == {"postgres", "nats", "migrate", *LUPA_PROCESSES}


def test_every_lupa_process_runs_a_real_lupa_command_from_the_one_image(
    config: dict[str, Any],
) -> None:
    images = set()
    for name in ("migrate", *LUPA_PROCESSES):
        service = services(config)[name]
        command = service["command"]
        assert command[0] == "lupa", command
        build_parser().parse_args(command[1:])  # exits (fails the test) on a wrong command
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        images.add(service["image"])
    assert len(images) == 1, f"one image for every process, not {images}"
    assert services(config)["consent"]["command"][:3] == ["lupa", "serve", "consent"]
    assert services(config)["dsar"]["command"][:3] == ["lupa", "serve", "dsar"]


def test_third_party_images_are_pinned_to_exact_versions(config: dict[str, Any]) -> None:
    for name in ("postgres", "nats"):
        image = services(config)[name]["image"]
        assert PINNED_TAG.search(image), f"{name} image not pinned: {image}"
    nats = services(config)["nats"]["command"]
    assert "--jetstream" in nats or "-js" in nats, "NATS without JetStream"


def test_two_replicas_of_each_lupa_process_and_no_host_port_clash(config: dict[str, Any]) -> None:
    host_ports: list[str] = []
    for name, service in services(config).items():
        replicas = service.get("deploy", {}).get("replicas", 1)
        if name in LUPA_PROCESSES:
            assert replicas == 2, f"{name}: {replicas} replicas"
        for port in service.get("ports", []):
            published = str(port["published"] if isinstance(port, dict) else port.split(":")[0])
            assert replicas == 1, f"{name} publishes host port {published} with {replicas} replicas"
            host_ports.append(published)
    assert len(host_ports) == len(set(host_ports)), f"host ports used twice: {host_ports}"


def test_every_long_running_process_has_a_health_check(config: dict[str, Any]) -> None:
    for name, service in services(config).items():
        if name == "migrate":
            continue  # one-shot: its exit status is its health
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    for name in ("consent", "dsar", "relay", "worker"):
        assert services(config)[name]["healthcheck"]["test"][1:] == [
            "python",
            "-m",
            "lupa.container_health",
        ]


def test_processes_start_in_order(config: dict[str, Any]) -> None:
    every = services(config)
    assert every["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in LUPA_PROCESSES:
        depends = every[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for other, rule in depends.items():
            wanted = "service_completed_successfully" if other == "migrate" else "service_healthy"
            assert rule["condition"] == wanted, f"{name} depends on {other} without health"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in every[other], f"{name} waits on {other}'s missing check"


def test_secrets_come_from_the_environment_and_are_never_written_in_the_file(
    config: dict[str, Any],
) -> None:
    every = services(config)
    for name in ("migrate", *LUPA_PROCESSES):
        env = every[name]["environment"]
        assert env["LUPA_KEYRING"] == SECRETS["LUPA_KEYRING"], name
        assert SECRETS["LUPA_DB_PASSWORD"] in env["DATABASE_URL"], name
    assert (
        every["consent"]["environment"]["LUPA_CONSENT_CONNECTOR_SECRET"]
        == SECRETS["LUPA_CONSENT_CONNECTOR_SECRET"]
    )
    assert every["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["LUPA_DB_PASSWORD"]
    # In the file itself each secret is only a reference to the variable.
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    references = [
        raw["consent"]["environment"]["LUPA_KEYRING"],
        raw["consent"]["environment"]["LUPA_CONSENT_CONNECTOR_SECRET"],
        raw["postgres"]["environment"]["POSTGRES_PASSWORD"],
    ]
    for value in references:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value), f"not a required reference: {value}"
    password = re.search(r"lupa:([^@]*)@", raw["consent"]["environment"]["DATABASE_URL"])
    assert password and password.group(1).startswith("${LUPA_DB_PASSWORD")


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_stops_the_stack_naming_it(missing: str) -> None:
    done = render({k: v for k, v in SECRETS.items() if k != missing})
    assert done.returncode != 0
    assert missing in done.stderr, done.stderr


def test_every_lupa_variable_set_is_one_the_code_reads(config: dict[str, Any]) -> None:
    for name in ("migrate", *LUPA_PROCESSES):
        names = set(services(config)[name]["environment"])
        assert not unknown(names), f"{name} sets variables no code reads: {unknown(names)}"


def test_a_dot_env_file_as_the_operations_guide_writes_it_carries_a_working_keyring(
    tmp_path: Path,
) -> None:
    """docs/operations.md ("Docker Compose") writes the secrets into `.env` beside the file,
    the keyring as one line of JSON: compose must hand it over intact, and it must load."""
    keyring = Keyring.generate()
    one_line = json.dumps(json.loads(keyring.to_json()), separators=(",", ":"))
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    (project / ".env").write_text(
        f"LUPA_KEYRING={one_line}\n"
        f"LUPA_CONSENT_CONNECTOR_SECRET={new_secret()}\n"
        "LUPA_DB_PASSWORD=from-dot-env\n"
    )
    done = subprocess.run(
        [compose_binary(), "config"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    env = yaml.safe_load(done.stdout)["services"]["worker"]["environment"]
    loaded = Keyring.from_json(env["LUPA_KEYRING"])
    assert loaded.active_kek_id == keyring.active_kek_id
    assert loaded.active_signing.kid == keyring.active_signing.kid
    assert "from-dot-env" in env["DATABASE_URL"]
