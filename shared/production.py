"""Production mode (``LUPA_ENV=production``): settings that are fine on a laptop and unsafe in
production stop the process before it serves, with one line per setting that says what to
change. Outside production nothing here applies."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from shared.keys import Keyring

EX_CONFIG = 78  # sysexits.h: a configuration error


def is_production(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("LUPA_ENV", "").strip().lower() == "production"


def insecure_settings(
    public_urls: Mapping[str, str], env: Mapping[str, str] = os.environ
) -> list[str]:
    """What production refuses, one sentence each naming its setting; ``public_urls`` maps a
    setting name (``LUPA_CONSENT_PUBLIC_URL``) to the URL the process would use."""
    found = keyring_problems(env) + debug_problems(env)
    for name, url in public_urls.items():
        if plain_http_elsewhere(url):
            found.append(f"{name} is {url} (use https://)")
    return found


def keyring_problems(env: Mapping[str, str]) -> list[str]:
    """Keys must come from the operator's secret store, never the development keyring that
    ``.lupa/keys`` creates on first use, and must hold a key-encryption key."""
    if env.get("LUPA_KEYRING"):
        source, text = "LUPA_KEYRING", env["LUPA_KEYRING"]
    elif env.get("LUPA_KEYS_FILE"):
        source, path = "LUPA_KEYS_FILE", Path(env["LUPA_KEYS_FILE"])
        if not path.is_file():
            return [f"LUPA_KEYS_FILE names no file ({path}): production never creates keys"]
        text = path.read_text()
    else:
        return [
            "LUPA_KEYS_FILE is not set: production takes its keyring from LUPA_KEYS_FILE or "
            "LUPA_KEYRING, never the development keyring under .lupa/keys"
        ]
    try:
        keyring = Keyring.from_json(text)
    except (ValueError, KeyError, TypeError):
        return [f"{source} is not a Lupa keyring document"]
    if not keyring.active_kek_id or keyring.active_kek_id not in keyring.keks:
        return [f"{source} has no key-encryption key (kek): subjects' data keys cannot be wrapped"]
    return []


def debug_problems(env: Mapping[str, str]) -> list[str]:
    found = []
    if env.get("LUPA_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off"):
        found.append("LUPA_DEBUG is on (unset it: debug answers show internals)")
    if env.get("LUPA_LOG_LEVEL", "").strip().upper() == "DEBUG":
        found.append("LUPA_LOG_LEVEL is DEBUG (use INFO or WARNING)")
    return found


def plain_http_elsewhere(url: str) -> bool:
    """An ``http://`` URL whose host is not this machine: links sent there travel in clear."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def refuse_insecure_production(
    public_urls: Mapping[str, str], env: Mapping[str, str] = os.environ
) -> None:
    """In production, exit with EX_CONFIG before serving if any setting is insecure."""
    if not is_production(env):
        return
    found = insecure_settings(public_urls, env)
    for problem in found:
        print(f"lupa: refusing to start in production: {problem}", file=sys.stderr)
    if found:
        raise SystemExit(EX_CONFIG)
