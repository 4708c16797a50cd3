"""A base for the store's handles (uploads, readers) that a ``with`` block closes on the way out."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """A ``with`` block over the object itself that calls ``close()`` on the way out."""

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """The object itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close it."""
        self.close()
