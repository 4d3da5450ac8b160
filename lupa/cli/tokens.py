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
        default=parse_duration("12h"),
        help="lifetime, e.g. 15m, 12h, 30d (default 12h)",
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
    keyring = load_keyring(keys_path())
    print(issue_access_token(keyring, args.role, args.subject, args.ttl))
    return 0
