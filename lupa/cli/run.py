"""``lupa run`` (the whole stack), ``lupa serve`` (one service) and ``lupa migrate``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from lupa import consent_connector, registry, server
from lupa.cli import ports
from lupa.cli.production import refuse_insecure
from lupa.database import Database, database, database_url, upgrade
from lupa.supervisor import Child, EmbeddedPostgres, Supervisor, become_subreaper
from shared.keys import Keyring, load_keyring
from shared.metrics.directory import MULTIPROC_ENV, prepare_metrics_dir
from shared.settings import HttpSettings, keys_path, lupa_home


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="start the whole stack (embedded PostgreSQL unless DATABASE_URL)"
    )
    run.set_defaults(handler=run_stack)
    serve = commands.add_parser("serve", help="serve one service in the foreground")
    serve.add_argument("service", choices=registry.names())
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--server", choices=server.SERVERS, default=None, help="uvicorn or granian (LUPA_SERVER)"
    )
    serve.set_defaults(handler=serve_one)
    migrate = commands.add_parser(
        "migrate", help="apply database migrations (alembic upgrade heads)"
    )
    migrate.set_defaults(handler=migrate_db)


def migrate_db(_: argparse.Namespace) -> int:
    with database_url() as url:
        upgrade(url)
    print("database schema is up to date")
    return 0


def serve_one(args: argparse.Namespace) -> int:
    refuse_insecure([args.service])
    spec = registry.get(args.service)
    http = _http(spec)
    prepare_metrics_dir(spec.name)  # before the workers start: they share it
    name = args.server or server.server_from_env()
    server.serve(spec.app_factory, http.host, http.port, args.workers, name)
    return 0


def run_stack(_: argparse.Namespace) -> int:
    refuse_insecure(registry.names())
    busy = _busy_ports()
    if busy:  # before anything starts: a second `lupa run` must not look like the first
        for line in busy:
            print(f"lupa run: {line}", file=sys.stderr)
        return 1
    keyring = load_keyring(keys_path())  # created on first run, before any child races to
    secret = consent_connector.shared_secret(lupa_home())
    become_subreaper()  # before PostgreSQL starts: its postmaster is then ours to reap
    with database() as db:
        url = db.url
        upgrade(url)
        children = [
            Child(f"{spec.name} service", start=partial(_spawn, spec.name, url, secret))
            for spec in registry.SERVICES
        ] + [
            Child("audit relay", start=partial(_spawn_relay, url)),
            Child("dsar worker", start=partial(_spawn_worker, url)),
        ]
        supervisor = Supervisor(children, _watched(db))
        problem = _wait_until_ready(supervisor.processes()) or _join_consent_connector(
            keyring, secret
        )
        if problem:
            supervisor.stop()
            print(f"lupa run: {problem}", file=sys.stderr)
            return 1
        _print_banner(url)
        return _supervise(supervisor)


def _watched(db: Database) -> EmbeddedPostgres | None:
    """The embedded PostgreSQL to restart if it dies; an external one is its operator's."""
    return EmbeddedPostgres("embedded PostgreSQL", server=db.embedded) if db.embedded else None


def _join_consent_connector(keyring: Keyring, secret: str) -> str:
    """Register the consent service as the DSAR service's connector; "" or why it failed."""
    dsar, consent = _http(registry.get("dsar")), _http(registry.get("consent"))
    try:
        consent_connector.register(keyring, dsar.port, consent.port, secret)
    except OSError as exc:  # urllib's HTTPError and URLError are OSErrors
        return f"could not register the consent connector with the DSAR service: {exc}"
    return ""


def _busy_ports() -> list[str]:
    """A sentence for each registered service whose port is already taken."""
    busy = []
    for spec in registry.SERVICES:
        http = _http(spec)
        if ports.in_use(http.host, http.port):
            busy.append(ports.describe_busy(spec.name, http.port))
    return busy


def _spawn(service: str, url: str, connector_secret: str) -> subprocess.Popen[bytes]:
    env = service_env(service, url, connector_secret, os.environ)
    command = [sys.executable, "-m", "lupa", "serve", service]
    return subprocess.Popen(command, env=env)  # noqa: S603 (our own interpreter and module)


def service_env(
    service: str, url: str, connector_secret: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The environment ``lupa run`` starts ``service`` with."""
    env = {**base, "DATABASE_URL": url}
    if service == consent_connector.CONNECTOR_NAME:
        env[consent_connector.SECRET_ENV] = connector_secret
    if env.get(MULTIPROC_ENV):  # one metrics directory per service, or their counts would mix
        env[MULTIPROC_ENV] = str(Path(env[MULTIPROC_ENV]) / service)
    return env


def _spawn_relay(url: str) -> subprocess.Popen[bytes]:
    """The audit relay: chains events and delivers them to NATS and webhooks."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "lupa", "relay"], env=env)


def _spawn_worker(url: str) -> subprocess.Popen[bytes]:
    """The DSAR worker: runs connector jobs (calls, retries, callbacks' follow-up)."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "lupa", "worker"], env=env)


def _wait_until_ready(children: list[subprocess.Popen[bytes]], timeout_s: float = 30) -> str:
    """Wait until every service answers its readiness probe from the process started for it;
    "" then, else why not. Another program answering on the port does not count: ready means
    the child is alive and (where ``/proc`` tells) holds the listening socket itself."""
    deadline = time.monotonic() + timeout_s
    for spec, child in zip(registry.SERVICES, children, strict=False):
        port = _http(spec).port
        while not _answers_from(child, port):
            if any(c.poll() is not None for c in children):
                return (
                    "a service, the relay or the worker exited before the stack was ready "
                    "(see above)"
                )
            if time.monotonic() > deadline:
                return f"the {spec.name} service was not ready after {timeout_s:.0f}s"
            time.sleep(0.2)
    return ""


def _answers_from(child: subprocess.Popen[bytes], port: int) -> bool:
    import urllib.request

    if child.poll() is not None:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as resp:
            if resp.status != 200:
                return False
    except OSError:
        return False
    return not ports.can_name_holders() or bool(ports.holders(port, [child.pid]))


def _http(spec: registry.ServiceSpec) -> HttpSettings:
    return HttpSettings.from_env(spec.name, default_port=spec.default_port)


def _supervise(supervisor: Supervisor) -> int:
    """Keep every child and the embedded PostgreSQL up (restarted with backoff, see
    ``lupa.supervisor``) until Ctrl-C/SIGTERM; then stop every child before PostgreSQL."""
    supervisor.run()
    print("\nLupa stopped.", flush=True)
    return 0


def _port(service: str) -> int:
    return _http(registry.get(service)).port


def _mail_destination() -> str:
    if os.environ.get("LUPA_SMTP_URL"):
        return "SMTP (LUPA_SMTP_URL)"
    return f".eml files in {lupa_home() / 'mail'} (set LUPA_SMTP_URL to send)"


def _print_banner(url: str) -> None:
    embedded = "DATABASE_URL" not in os.environ
    nats = os.environ.get("LUPA_NATS_URL") or "off (set LUPA_NATS_URL)"
    database = f"embedded PostgreSQL, data in {lupa_home() / 'pg'}" if embedded else "DATABASE_URL"
    lines = [
        "",
        "Lupa is running.",
        *(
            f"  {spec.name + ' service':<17} http://127.0.0.1:{_http(spec).port}"
            "  (OpenAPI: /schema/openapi.json)"
            for spec in registry.SERVICES
        ),
        f"  database          {database}",
        f"  keys              {keys_path()}",
        f"  audit relay       running; NATS {nats}; webhooks via /v1/audit/webhooks",
        "  dsar worker       running (connector jobs, mail; more: lupa worker)",
        "  supervision       a child or the embedded PostgreSQL that dies is restarted",
        "                    (0.5 s doubling to 30 s, retried for as long as it keeps failing)",
        f"  officer console   http://127.0.0.1:{_port('dsar')}/console  (an officer's token)",
        f"  request form      http://127.0.0.1:{_port('dsar')}/request  (public data-request form)",
        f"  CX dashboard      http://127.0.0.1:{_port('consent')}/cx  (sign in with a cx token)",
        "  preference centre .venv/bin/lupa link preferences --subject ID  (prints a signed link)",
        "  consent connector registered with the DSAR service (protocol: docs/connectors.md)",
        f"  mail              {_mail_destination()}",
        "  audit feed        /v1/audit/events (roles cx, admin); lupa audit verify",
        "  get a token       .venv/bin/lupa token issue --role admin",
        "  stop              Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)
