"""Queries whose SQL is built once per database, then run with new values as plain rows.

Peewee builds a query's SQL anew on every call, and for the relay's hot reads (a page of
messages, with the visibility rule) that building cost more CPU than SQLite's work. A prepared
query is written once with peewee, as usual, with a marker value for each argument; its SQL and
the order of its parameters are kept, and each call runs that SQL with the real values and
returns the rows as tuples, in the order of the query's columns.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from peewee import Database, Query

from relay_server.storage.models import current

Row = tuple[Any, ...]


class Prepared:
    """One query's SQL, built on first use per database, run with named arguments."""

    def __init__(self, build: Callable[..., Query], **kinds: type[int] | type[str]) -> None:
        """``build(**markers)`` makes the query; ``kinds`` names its arguments and their types."""
        self._build = build
        self._kinds = kinds
        self._built: weakref.WeakKeyDictionary[Database, _Compiled] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def rows(self, **values: object) -> list[Row]:
        """The rows for these argument values (each name given to the constructor)."""
        db = current()
        built = self._built.get(db)
        if built is None:
            with self._lock:
                built = self._built.setdefault(db, self._compile())
        sql, order = built
        params = [values[name] if is_argument else name for is_argument, name in order]
        execute: Callable[[str, Sequence[object]], sqlite3.Cursor] = db.execute_sql
        rows: list[Row] = execute(sql, params).fetchall()
        return rows

    def _compile(self) -> _Compiled:
        # Marker values unlike any real argument: odd text, and huge negative numbers.
        markers: dict[str, object] = {
            name: f"\x00{name}\x00" if kind is str else -(10**15 + i)
            for i, (name, kind) in enumerate(self._kinds.items())
        }
        sql, params = self._build(**markers).sql()
        by_marker = {marker: name for name, marker in markers.items()}
        order = tuple(
            (True, by_marker[param]) if param in by_marker else (False, param) for param in params
        )
        if {name for is_argument, name in order if is_argument} != set(self._kinds):
            raise RuntimeError(f"a prepared query lost an argument of {sorted(self._kinds)}")
        return str(sql), order


_Compiled = tuple[str, tuple[tuple[bool, Any], ...]]
