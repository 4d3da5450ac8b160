"""``lupa``: run, migrate and operate a Lupa deployment."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lupa import registry
from lupa.cli import audit, keys, run, tokens, worker


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lupa",
        description="Lupa: consent, channel preferences and data-subject requests.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    tokens.register(commands)
    audit.register(commands)
    keys.register(commands)
    worker.register(commands)
    for spec in registry.SERVICES:
        if spec.cli:
            importlib.import_module(spec.cli).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        from shared.progress import interruption_reported

        if not interruption_reported():  # long commands already said how far they got
            print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
