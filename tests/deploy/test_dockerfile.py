"""deploy/Dockerfile keeps its promises: pinned base, runtime dependencies only, no secrets,
a non-root user, a health check, and a final stage with everything ``lupa`` needs.

No container engine runs on the development machines, so the image is checked by reading
the Dockerfile, and the final stage's files are assembled by hand and run (the last test).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import asyncpg

from tests.conftest import _with_database
from tests.deploy.dockerfile import Stage, read_dockerfile

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
RUNTIME_LOCK = "requirements-runtime.lock"
DEV_TOOLS = ("pytest", "mypy", "ruff", "playwright", "schemathesis")
# An exact version (3.11.13-slim-bookworm, 15.13) or a digest; never "3.11-slim" or "latest".
PINNED = re.compile(r"^[^:@\s]+(:\d+\.\d+\.\d+[^\s@]*)?(@sha256:[0-9a-f]{64})?$")


def stages() -> list[Stage]:
    return read_dockerfile(DOCKERFILE)


def final() -> Stage:
    return stages()[-1]


def lock_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def requirement_name(spec: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~ ;]", spec, maxsplit=1)[0]).lower()


def test_every_base_image_is_pinned_to_an_exact_version_or_digest() -> None:
    names = {s.name for s in stages() if s.name}
    bases = [s.image for s in stages() if s.image not in names]
    assert bases, "no base image found"
    for image in bases:
        tag_or_digest = ":" in image.split("/")[-1] or "@sha256:" in image
        assert tag_or_digest and PINNED.match(image), f"base image not pinned exactly: {image}"


def test_the_final_stage_gets_its_packages_only_from_the_runtime_lock() -> None:
    built = {s.name: s for s in stages() if s.name}
    copied_from = [c for c in final().all("COPY") if "from" in c.flags()]
    assert copied_from, "the final stage copies no built environment from a builder stage"
    for copy in copied_from:
        builder = built[copy.flags()["from"]]
        installs = [r for r in builder.all("RUN") if re.search(r"\bpip\b.*\binstall\b", r.text)]
        assert installs, f"stage {builder.name} installs nothing"
        for run in installs:
            words = run.text.split()
            files = [words[i + 1] for i, w in enumerate(words) if w in ("-r", "--requirement")]
            assert files and all(Path(f).name == RUNTIME_LOCK for f in files), run.text
            assert "--no-deps" in words, "pip may add packages the lock does not name"
        sources = [Path(src).name for c in builder.all("COPY") for src in c.operands()[:-1]]
        assert RUNTIME_LOCK in sources, f"{RUNTIME_LOCK} is not copied into {builder.name}"
    # pip is never run in the final stage: nothing installs there behind the lock's back.
    assert not [r for r in final().all("RUN") if re.search(r"\bpip\b", r.text)]
    every_word = " ".join(i.text for s in stages() for i in s.instructions)
    assert not re.search(r"(?<![\w-])requirements\.lock", every_word), "the dev lock is used"


def test_the_runtime_lock_holds_the_runtime_dependencies_and_no_dev_tools() -> None:
    locked = lock_names(REPO / RUNTIME_LOCK)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(r) for r in project["dependencies"]}
    dev_only = {requirement_name(r) for r in project["optional-dependencies"]["dev"]} - runtime
    assert runtime <= locked, f"runtime dependencies missing from the lock: {runtime - locked}"
    assert not locked & set(DEV_TOOLS), f"dev tools in the runtime lock: {locked & set(DEV_TOOLS)}"
    assert not locked & dev_only, f"dev extras in the runtime lock: {locked & dev_only}"


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = final().all("USER")
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].text.partition(":")
    assert user.isdigit() and int(user) != 0, f"USER {users[-1].text} is not a numeric non-root uid"
    assert not group or (group.isdigit() and int(group) != 0)


def test_the_health_check_runs_a_module_that_exists() -> None:
    checks = final().all("HEALTHCHECK")
    assert len(checks) == 1, "the final stage needs exactly one HEALTHCHECK"
    words = checks[0].operands()
    assert words[0] == "CMD", f"HEALTHCHECK {checks[0].text}"
    command = [str(w) for w in json.loads(checks[0].text.split("CMD", 1)[1])]
    assert command[:2] == ["python", "-m"], command
    assert importlib.util.find_spec(command[2]) is not None, f"no module {command[2]}"


def test_no_secret_is_baked_into_the_image() -> None:
    secretish = re.compile(r"KEYRING|SECRET|PASSWORD|TOKEN|DATABASE_URL", re.IGNORECASE)
    for stage in stages():
        for instruction in stage.all("ENV") + stage.all("ARG"):
            assert not secretish.search(instruction.text), (
                f"{instruction.keyword} {instruction.text}"
            )
    assert final().env().get("PYTHONDONTWRITEBYTECODE") == "1"
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".lupa", ".venv", ".git", "tests", "benchmarks", ".env"):
        assert path in ignored, f".dockerignore lets {path} into the build context"


def final_stage_files(into: Path) -> Path:
    """The final stage's own COPY instructions, carried out into ``into``/app."""
    app = into / "app"
    workdir = app
    for instruction in final().instructions:
        if instruction.keyword == "WORKDIR":
            workdir = into / instruction.text.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        if instruction.keyword != "COPY" or "from" in instruction.flags():
            continue
        *sources, target = instruction.operands()
        for source in sources:
            origin = REPO / source
            dest = workdir / target
            if origin.is_dir():
                shutil.copytree(origin, dest, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, dest / origin.name)
    return app


async def test_the_final_stage_files_alone_migrate_a_database(
    server_dsn: str, tmp_path: Path
) -> None:
    """``lupa migrate`` from the files the final stage copies (PYTHONPATH as the image sets
    it), run from elsewhere: alembic.ini and every migration are in the image."""
    app = final_stage_files(tmp_path)
    assert final().env()["PYTHONPATH"] == "/app"
    name = f"lupa_image_{os.getpid()}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(server_dsn, name)
    env = {**os.environ, "PYTHONPATH": str(app), "DATABASE_URL": url}
    try:
        where = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", "import lupa, shared; print(lupa.__file__, shared.__file__)"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        assert all(p.startswith(str(app)) for p in where.stdout.split()), where.stdout
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "lupa", "migrate"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        conn = await asyncpg.connect(url)
        try:
            heads = await conn.fetchval("SELECT count(*) FROM alembic_version")
        finally:
            await conn.close()
        assert heads >= 3, "the kernel's and both services' migrations should all be applied"
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
