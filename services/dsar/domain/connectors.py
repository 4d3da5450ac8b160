"""What a connector is: its name, where it listens and which protocol actions it answers.

Pure rules shared by the registry API and the conformance tool: one vocabulary of actions and
one idea of an acceptable connector URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from shared.errors import InvalidInput

# The connector protocol's actions, in the order the conformance tool drives them.
ACTIONS: Final = (
    "access",
    "rectification",
    "restriction",
    "lift_restriction",
    "objection",
    "erasure",
)
# What a connector may answer (200 body, or the callback after a 202).
STATUSES: Final = ("done", "not_found", "exempt")
NAME_SHAPE: Final = r"[a-z0-9][a-z0-9_.-]{0,63}"  # as dsar_connectors.name's CHECK
NAME: Final = re.compile(f"^{NAME_SHAPE}\\Z")


def check_url(url: str) -> None:
    """An absolute http(s) URL with a host, no credentials and no fragment."""
    if not (url.isascii() and url.isprintable()) or " " in url:
        # urlsplit silently drops tabs and newlines; a stored URL must be what was checked
        raise InvalidInput("The connector URL must be printable ASCII without spaces.", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The connector URL must be an absolute http(s) URL.", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("The connector URL must not carry credentials.", field="url")
    if parts.fragment or url.endswith("#"):
        raise InvalidInput("The connector URL must not have a fragment.", field="url")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        raise InvalidInput("The connector URL has an invalid port.", field="url") from None


def check_actions(actions: Sequence[str]) -> None:
    """A non-empty list of protocol actions, each named once."""
    if not actions:
        raise InvalidInput("A connector must answer at least one action.", field="actions")
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown:
        raise InvalidInput(
            f"Unknown action(s): {', '.join(unknown)}; known: {', '.join(ACTIONS)}.",
            field="actions",
        )
    if len(set(actions)) != len(actions):
        raise InvalidInput("Each action may be named only once.", field="actions")


def url_host(url: str) -> str:
    """The host of a connector URL, the only part of it an audit event carries."""
    return urlsplit(url).hostname or ""
