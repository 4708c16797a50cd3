"""Cutting off slow clients: uvicorn's HTTP/1.1 protocol with the request timeouts it lacks.

What uvicorn (0.54, h11) enforces by itself, as ``serve`` configures it:

- ``timeout_keep_alive``: an idle connection *between* requests is closed.
- ``h11_max_incomplete_event_size``: a request head (request line and headers) that grows past
  it while still incomplete is refused with 400 (as a JSON error, see below). A head that arrives
  whole in one read (asyncio reads up to 256 KiB) is parsed even when larger: the bound is on
  buffering, not an exact cap.

What it does not: a connection that opens and sends nothing, or dribbles its request head a
byte at a time, or stalls in the middle of a body, is kept open for ever (slowloris). Each one
costs a file descriptor, and a stalled body also holds the request handler. So
:func:`protocol_with_timeouts` builds an ``H11Protocol`` that also closes:

- a connection whose request head is not complete within ``head_timeout_s`` of the connection
  opening or of its first byte (answered ``408`` with a JSON error when some bytes came);
- a connection whose request body sends nothing for ``body_idle_s`` while the relay is ready to
  read it (time spent with reading paused by the relay itself does not count).

Once a request is fully received no timer runs, so long polls and MCP event streams are not
affected. What is still not bounded: a client that sends its body at one byte every few
seconds (only the gaps are timed), and the number of connections (see docs/security.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from relay_core import InvalidInput
from relay_server.http.errors import error_body


class _TimedH11Protocol(H11Protocol):
    """``H11Protocol`` plus a request-head deadline and a request-body idle timeout, and JSON
    errors for requests refused before the app sees them."""

    head_timeout_s: float = 10.0
    body_idle_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._timing: str | None = None  # "head" or "body"

    # H11Protocol narrows asyncio.Protocol's BaseTransport to Transport with the same ignore.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start("head", self.head_timeout_s)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _follow_request(self) -> None:
        """Run the timer that fits where the client is in its request."""
        state = self.conn.their_state
        if self.transport.is_closing() or state not in (h11.IDLE, h11.SEND_BODY):
            self._stop()  # the request is in: the relay is answering, maybe for minutes
        elif state is h11.SEND_BODY:
            self._start("body", self.body_idle_s)  # every byte of body restarts the clock
        elif self._timing != "head" and self.conn.trailing_data[0]:
            # The next request has begun while uvicorn's keep-alive timer was running.
            self._start("head", self.head_timeout_s)
        elif self._timing == "body":
            self._stop()

    def _start(self, timing: str, seconds: float) -> None:
        if self._timing == timing == "head":
            return  # the head's deadline counts from its start, not from its latest byte
        self._stop()
        self._timing = timing
        self._timer = self.loop.call_later(seconds, self._expired)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timing = None, None

    def _expired(self) -> None:
        timing, self._timer, self._timing = self._timing, None, None
        if self.transport.is_closing():
            return
        if timing == "body" and self.flow.read_paused:
            self._start("body", self.body_idle_s)  # the relay is not reading: not the client's
            return
        if timing == "head" and self.conn.trailing_data[0]:
            message = "the request line and headers did not arrive in time"
            self.transport.write(_raw_error(408, "Request Timeout", message))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot parse (or headers past the limit), as JSON."""
        message = "not a valid HTTP/1.1 request, or its headers are over 64 KiB"
        self.transport.write(_raw_error(400, "Bad Request", message))
        self.transport.close()


def _raw_error(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP answer with an ``invalid`` relay error, for a request no route will see."""
    body = error_body(InvalidInput(message))
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def protocol_with_timeouts(head_timeout_s: float, body_idle_s: float) -> type[H11Protocol]:
    """An ``H11Protocol`` class for ``uvicorn.run(http=...)`` with these two timeouts."""
    return type(
        "TimedH11Protocol",
        (_TimedH11Protocol,),
        {"head_timeout_s": head_timeout_s, "body_idle_s": body_idle_s},
    )
