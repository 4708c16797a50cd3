"""The web view's live stream: a session's new messages as server-sent events.

``GET /ui/api/sessions/{name}/events`` answers ``text/event-stream``: one ``message`` event per
message the viewer may read, in id order, each with its id as the event id, so a browser that
reconnects (``Last-Event-ID``) goes on where it stopped. It waits on the same wake-ups as the
long polls (:meth:`~relay_server.service.RelayService.watch`), never on a timer: it watches each
participant of the session, so a message wakes it whoever sent it (a watch does not hear the
watcher's own messages), and then reads the viewer's page, so it shows only what the viewer may
read. A comment line every :data:`KEEP_ALIVE_S` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from relay_core import Message, RelayError
from relay_core.wire import MAX_PAGE_SIZE
from relay_server.http.errors import error_body
from relay_server.http.params import caller_of, query_int
from relay_server.http.service_calls import run, service_of
from relay_server.service import RelayService

KEEP_ALIVE_S: Final = 15.0
RETRY_MS: Final = 1000
"""How soon a browser reconnects a stream that ended."""


def _start_after(request: Request) -> int:
    resumed = request.headers.get("last-event-id", "")
    return int(resumed) if resumed.isdigit() else query_int(request, "after", 0)


async def _stream(
    service: RelayService, viewer: str, name: str, members: list[str], after: int
) -> AsyncIterator[bytes]:
    woken = asyncio.Event()
    closing = False

    def heard(message: Message | None) -> None:
        if message is None or message.session == name:
            woken.set()

    def closed() -> None:
        nonlocal closing
        closing = True
        woken.set()

    # Watch before the first read: what is committed after that read then wakes the stream.
    watches = [service.watch(m, heard, on_close=closed) for m in members]
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while not closing and not service.hub.closed:
            woken.clear()
            try:
                page = await run(service.read_messages, viewer, name, after, MAX_PAGE_SIZE)
            except RelayError as exc:  # left the session, or it is gone: say so and end
                yield b"event: error\ndata: " + error_body(exc) + b"\n\n"
                return
            for message in page.messages:
                after = message.id
                yield f"id: {after}\nevent: message\ndata: ".encode()
                yield message.model_dump_json().encode() + b"\n\n"
            if len(page.messages) == MAX_PAGE_SIZE:
                continue
            with anyio.move_on_after(KEEP_ALIVE_S) as waited:
                await woken.wait()
            if waited.cancelled_caught:
                yield b": keep-alive\n\n"
    finally:
        for watch in watches:
            watch.stop()


async def events(request: Request) -> Response:
    """Stream a session's messages after ``after`` (or ``Last-Event-ID``) as they come."""
    service, viewer = service_of(request), caller_of(request)
    name = request.path_params["name"]
    after = _start_after(request)
    # Refused here (not a member, no such session) is an ordinary JSON error, before streaming.
    detail = await run(service.get_session, viewer, name)
    members = sorted({p.client_id for p in detail.participants} | {viewer})
    return StreamingResponse(
        _stream(service, viewer, name, members, after),
        media_type="text/event-stream",
        headers={"x-accel-buffering": "no"},
    )


ROUTES: Final[list[BaseRoute]] = [
    Route("/api/sessions/{name}/events", events, methods=["GET"]),
]
