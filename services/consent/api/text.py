"""Free text the consent API accepts: printable, checked once, where the body is decoded.

PostgreSQL refuses NUL in ``text`` and ``jsonb`` (the write would end in a 500), and no other
control character (C0, DEL, C1) belongs in a title, a name, an address or a reason: shown in a
receipt, a log viewer or an email header it can hide or forge what follows. Such input is an
``invalid-input`` problem naming the field, before any use case runs.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.consent.domain.vocabulary import END  # ``$`` without its final-newline leak

ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*" + END
# Tab, line feed and carriage return stay: a textarea sends its line breaks as CR LF.
PARAGRAPHS_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

OneLine = Annotated[
    str,
    msgspec.Meta(
        pattern=ONE_LINE_PATTERN,
        description="Printable text on one line: no control characters, tabs or line breaks.",
    ),
]
Paragraphs = Annotated[
    str,
    msgspec.Meta(
        pattern=PARAGRAPHS_PATTERN,
        description="Printable text; line breaks and tabs allowed, other control characters not.",
    ),
]
