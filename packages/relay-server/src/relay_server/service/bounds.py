"""Argument checks the service makes before it touches the store (page sizes, waits, ids)."""

from __future__ import annotations

from relay_core import InvalidInput
from relay_core.errors import shown
from relay_core.wire import MAX_MESSAGE_ID, MAX_PAGE_SIZE, MAX_WAIT_S, deadlines_problem
from relay_server.storage.messages import Deadlines


def page_limit(limit: int) -> int:
    """``limit`` if it is a page size the relay serves.

    Raises:
        InvalidInput: below 1 or above ``MAX_PAGE_SIZE``.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit


def timeout(timeout_s: float) -> float:
    """``timeout_s`` as a float, if the relay waits that long.

    Raises:
        InvalidInput: negative or above ``MAX_WAIT_S``.
    """
    if not 0 <= timeout_s <= MAX_WAIT_S:
        raise InvalidInput(f"timeout must be between 0 and {MAX_WAIT_S:g} seconds, got {timeout_s}")
    return float(timeout_s)


def message_id(value: int, what: str) -> int:
    """``value`` if it can be a message id; ``what`` names it in the error.

    Raises:
        InvalidInput: negative or above ``MAX_MESSAGE_ID``.
    """
    if not 0 <= value <= MAX_MESSAGE_ID:
        raise InvalidInput(f"{what} must be between 0 and {MAX_MESSAGE_ID}, got {shown(value)}")
    return value


def after(after_id: int | None) -> int | None:
    """An optional ``after_id``, checked like :func:`message_id`."""
    return None if after_id is None else message_id(after_id, "after_id")


def deadlines(stamp: int, reply_by_s: float | None, ttl_s: float | None) -> Deadlines:
    """A message's reply-by and expiry times, ``reply_by_s`` and ``ttl_s`` after ``stamp``.

    Raises:
        InvalidInput: the reply-by time is after the expiry (nobody could read it by then).
    """
    problem = deadlines_problem(reply_by_s, ttl_s)
    if problem is not None:
        raise InvalidInput(problem)
    return Deadlines(
        reply_by_ms=None if reply_by_s is None else stamp + round(reply_by_s * 1000),
        expires_ms=None if ttl_s is None else stamp + round(ttl_s * 1000),
    )
