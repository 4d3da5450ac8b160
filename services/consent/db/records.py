"""Typed rows that stay asyncpg records: asyncpg builds them itself, nothing is copied per row.

The check and the exports read thousands of rows per call on raw asyncpg connections, where
turning each record into a dataclass would cost the batch check a tenth of its time. A
``TypedRecord`` subclass, passed to asyncpg as ``record_class``, declares its columns with
their types instead, in the statement's order; the record still unpacks by position at C speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

import asyncpg

T = TypeVar("T")

if TYPE_CHECKING:

    class _Record:
        """What an ``asyncpg.Record`` offers (asyncpg ships no types)."""

        def __getitem__(self, key: int | str) -> Any: ...
        def __iter__(self) -> Iterator[Any]: ...
        def __len__(self) -> int: ...

else:
    _Record = asyncpg.Record


class Column(Generic[T]):
    """A column of a ``TypedRecord``: its type for the type checker, its position at run time."""

    @overload
    def __get__(self, record: None, owner: type[TypedRecord]) -> Column[T]: ...
    @overload
    def __get__(self, record: TypedRecord, owner: type[TypedRecord]) -> T: ...
    def __get__(self, record: TypedRecord | None, owner: type[TypedRecord]) -> Column[T] | T:
        raise TypeError("a Column is read only on a TypedRecord subclass")


class TypedRecord(_Record):
    """An asyncpg record whose ``Column`` attributes name its columns, in the statement's order."""

    __slots__ = ()
    column_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.column_names = tuple(n for n, v in vars(cls).items() if isinstance(v, Column))
        for position, name in enumerate(cls.column_names):
            # A property over a C getter reads as fast as ``record[position]``: no Python frame.
            setattr(cls, name, property(itemgetter(position)))
