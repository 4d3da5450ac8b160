"""The lean check handler reads a query string exactly as Litestar's parser did."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from services.consent.api.check import query_params

CASES = [
    b"",
    b"subject=x&purpose=p&channel=email",
    b"subject=a%20b&purpose=p",
    b"subject=a+b&x=%2B%26",
    b"subject=%ZZ&p=%C3%A4&q=%FF",
    b"subject&&purpose=&=v&==",
    b"subject=x;purpose=p&channel=email",
    b"subject=x&subject=y",
    b"a+%2B=b+%2b",
    "subject=\xe4&p=\xff".encode("latin-1"),
]


def litestar_reading(qs: bytes) -> dict[str, str]:
    return dict(parse_qsl(qs.decode("latin-1"), keep_blank_values=True, separator="&"))


@pytest.mark.parametrize("qs", CASES)
def test_query_strings_are_read_like_the_framework_reads_them(qs):
    assert query_params(qs) == litestar_reading(qs)


def test_random_query_strings_are_read_like_the_framework_reads_them():
    rng = random.Random(7)
    alphabet = b"ab=&%+2F0C3x;\xe4 "
    for _ in range(5_000):
        qs = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
        assert query_params(qs) == litestar_reading(qs), qs
