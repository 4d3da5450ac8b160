"""Strict types at the HTTP edge: a JSON member has its declared JSON type, a query integer is
written as a plain decimal integer.

Litestar converts every handler argument with ``msgspec.convert(..., strict=False)``, because
path and query values arrive as text. For a JSON body that lax mode means ``"30"`` is taken
for ``30``, ``30.0`` for an integer and ``"true"`` for ``true``; for a query integer that
msgspec reads ``1e3`` and ``1.0`` as numbers. Here:

* ``check_body_types`` converts a decoded JSON body to the handler's ``data`` type with
  ``strict=True`` (JSON's own rules: text only where text is declared, an integer only where
  an integer or a number is) before Litestar's lax conversion sees it;
* ``refuse_loose_integers`` refuses a query parameter declared as an integer with a value
  that is not ``-?[0-9]+``.

Both raise Litestar's ``ValidationException`` shape, so ``shared.problems`` renders them like
every other validation failure: ``422 invalid-input`` naming the member, never its value.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import Scope
from litestar.typing import FieldDefinition

# ``$.a.b`` or ``$[0].a`` at the end of a msgspec message: where the bad value is.
_MSGSPEC_PATH = re.compile(r" - at `\$(.*)`$")
DECIMAL_INTEGER = re.compile(r"-?[0-9]+")
INTEGER_MESSAGE = "must be a decimal integer (digits, optionally a leading '-')"


def _body_field(raw_path: str) -> str:
    """``.a.b`` -> ``a.b``; ``[0].a`` stays; the whole body is ``body``."""
    return raw_path.removeprefix(".") or "body"


def check_body_types(handler: BaseRouteHandler, value: Any) -> None:
    """Raise ``ValidationException`` unless ``value`` converts strictly to the ``data`` type."""
    annotation = handler.signature_model.__annotations__.get("data")
    if annotation is None:
        return
    try:
        msgspec.convert(
            value,
            annotation,
            strict=True,
            str_keys=True,
            dec_hook=partial(_lax_hook, handler.default_deserializer),
        )
    except msgspec.ValidationError as exc:
        message, _, _ = str(exc).partition(" - at `$")
        match = _MSGSPEC_PATH.search(str(exc))
        field = _body_field(match.group(1)) if match else "body"
        raise ValidationException(
            extra=[{"key": field, "message": message, "source": "body"}]
        ) from None


def _lax_hook(default: Any, target_type: Any, value: Any) -> Any:
    """Custom (non-msgspec) types go through the handler's own deserializer, as in Litestar."""
    return default(target_type, value)


def _is_integer(field: FieldDefinition) -> bool:
    candidates = [field, *field.inner_types] if field.is_union else [field]
    return any(c.is_subclass_of(int) and not c.is_subclass_of(bool) for c in candidates)


def integer_query_parameters(handler: BaseRouteHandler) -> frozenset[str]:
    """The query names (aliases) of the handler's integer query parameters."""
    dependencies = handler.resolve_dependencies()
    path_names = {p["name"] for path in handler.paths for p in _path_parameters(path)}
    names = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in dependencies or name in path_names or not _is_integer(field):
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            if kwarg.header or kwarg.cookie:
                continue
            names.add(kwarg.query or name)
        elif kwarg is None:
            names.add(name)
    return frozenset(names)


def _path_parameters(path: str) -> list[dict[str, str]]:
    return [{"name": m.group(1)} for m in re.finditer(r"\{(\w+)(?::\w+)?\}", path)]


# Handler -> its integer query names, keyed by id and holding the handler so an id cannot be
# reused while cached (handlers live as long as their app).
_INTEGER_NAMES: dict[int, tuple[BaseRouteHandler, frozenset[str]]] = {}


def _integer_names(handler: BaseRouteHandler) -> frozenset[str]:
    cached = _INTEGER_NAMES.get(id(handler))
    if cached is None or cached[0] is not handler:
        cached = (handler, integer_query_parameters(handler))
        _INTEGER_NAMES[id(handler)] = cached
    return cached[1]


def refuse_loose_integers(scope: Scope) -> None:
    """Raise ``ValidationException`` naming each integer query parameter (of the routed
    handler) with a value that is not ``-?[0-9]+``. Called by the app's request middleware
    (``shared.strict_input.RefuseControlCharacters``) after routing."""
    query: bytes = scope.get("query_string", b"")
    handler = scope.get("route_handler")
    if not query or handler is None:
        return
    names = _integer_names(handler)
    if not names:
        return
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    bad = sorted({n for n, value in pairs if n in names and not DECIMAL_INTEGER.fullmatch(value)})
    if bad:
        raise ValidationException(
            extra=[{"key": name, "message": INTEGER_MESSAGE, "source": "query"} for name in bad]
        )
