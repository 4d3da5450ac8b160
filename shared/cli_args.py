"""Argument types the ``lupa`` command's parsers share (the services' commands and the
composition root's alike)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """'500' -> 500; anything but a whole number above zero is the parser's error."""
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)
