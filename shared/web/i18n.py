"""Page texts in Finnish, Swedish and English: one JSON catalogue per language and page set,
the same keys in each (a test over every catalogue proves none is missing), and the choice of
language for a request (``?lang=``, then the ``lupa_lang`` cookie, then Accept-Language)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("fi", "sv", "en")
LANG_COOKIE = "lupa_lang"


@dataclass(frozen=True)
class Catalogue:
    texts: dict[str, dict[str, str]]  # language -> key -> text

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        return cls(
            {lang: json.loads((directory / f"{lang}.json").read_text()) for lang in LANGUAGES}
        )

    def missing(self) -> dict[str, set[str]]:
        """Per language, the keys another language has and it lacks."""
        every = set().union(*(set(t) for t in self.texts.values()))
        return {lang: every - set(t) for lang, t in self.texts.items() if every - set(t)}

    def for_language(self, lang: str) -> dict[str, str]:
        return self.texts[lang if lang in LANGUAGES else "en"]


def choose_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"


def language_of(request: Any) -> str:
    """The language of a page request (a Litestar Request)."""
    return choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
