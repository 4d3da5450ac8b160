"""``lupa token issue`` and ``lupa token metrics``: print tokens the running stack accepts."""

from __future__ import annotations

import argparse
import re
from typing import Any

from shared.auth.tokens import ROLES, issue_access_token, issue_metrics_token
from shared.keys import load_keyring
from shared.settings import keys_path

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90', '15m', '12h', '30d' -> seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 3600, 15m, 12h, 30d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# (default, maximum) lifetime per kind of holder. The more a token can do, the sooner it
# expires: an admin token changes the catalogue and every subject, so an hour; officers and cx
# staff work shifts; marketing's sending system and the portal backend are machines that are
# reconfigured rarely (and the backend's token can only exchange); a subject-bound portal token
# is one customer's visit. docs/security.md explains the choice.
LIFETIMES: dict[str, tuple[int, int]] = {
    "admin": (3600, 86400),
    "officer": (8 * 3600, 86400),
    "cx": (8 * 3600, 86400),
    "marketing": (30 * 86400, 90 * 86400),
    "portal": (30 * 86400, 90 * 86400),  # without --subject: the portal backend
    "portal --subject": (15 * 60, 86400),
}


def lifetime_kind(role: str, subject: str | None) -> str:
    return "portal --subject" if role == "portal" and subject is not None else role


def lifetime(role: str, subject: str | None, requested: int | None) -> int:
    """The token's lifetime in seconds: the kind's default, or ``requested`` if within the
    kind's maximum (``SystemExit`` naming both otherwise)."""
    kind = lifetime_kind(role, subject)
    default, maximum = LIFETIMES[kind]
    if requested is None:
        return default
    if requested > maximum:
        raise SystemExit(
            f"--ttl {_human(requested)} is longer than the {_human(maximum)} allowed for "
            f"'{kind}' tokens; issue a shorter one and reissue it when it expires"
        )
    return requested


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def register(commands: Any) -> None:
    token = commands.add_parser("token", help="issue bearer tokens")
    sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    issue = sub.add_parser(
        "issue",
        help="print a signed bearer token",
        description="Print a bearer token signed with the deployment's key.",
    )
    issue.add_argument("--role", required=True, choices=ROLES)
    issue.add_argument("--subject", help="limit a portal token to this external id")
    issue.add_argument(
        "--ttl",
        type=parse_duration,
        default=None,
        help="lifetime, e.g. 15m, 8h, 30d; default and maximum per role: admin 1h (max 24h), "
        "officer and cx 8h (max 24h), marketing and portal 30d (max 90d), portal with "
        "--subject 15m (max 24h)",
    )
    issue.set_defaults(handler=issue_token)
    register_metrics(sub)


def register_metrics(sub: Any) -> None:
    metrics = sub.add_parser(
        "metrics",
        help="print a token that may only scrape GET /metrics",
        description="Print a token Prometheus sends to GET /metrics of every service; it is "
        "refused everywhere else (docs/metrics.md).",
    )
    metrics.add_argument(
        "--ttl",
        type=parse_duration,
        default=parse_duration("365d"),
        help="lifetime, e.g. 30d, 365d (default 365d)",
    )
    metrics.set_defaults(handler=issue_metrics)


def issue_metrics(args: argparse.Namespace) -> int:
    print(issue_metrics_token(load_keyring(keys_path()), args.ttl))
    return 0


def issue_token(args: argparse.Namespace) -> int:
    if args.subject is not None and not (
        1 <= len(args.subject) <= 128 and args.subject.isprintable()
    ):
        raise SystemExit("--subject must be 1-128 printable characters")
    ttl = lifetime(args.role, args.subject, args.ttl)
    keyring = load_keyring(keys_path())
    print(issue_access_token(keyring, args.role, args.subject, ttl))
    return 0
