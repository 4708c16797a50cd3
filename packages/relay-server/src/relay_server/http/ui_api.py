"""What the web view's page reads and does: the overview, message pages, posting, downloads.

Every route answers for the caller the auth middleware resolved (from the login cookie), with
the same service calls and rules as the JSON API: a per-client login sees what that client may
see, and nothing more. Posting is off unless the operator names a client in ``ui_post_as``; the
page then posts as that client (with a per-client token, only a login of that very client may).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import Forbidden, SendMessageRequest, validate_digest
from relay_core.wire import MAX_PAGE_SIZE
from relay_server.http.files import BlobResponse
from relay_server.http.params import caller_of, query_int, read_body
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of
from relay_server.http.ui_logins import web_view_of
from relay_server.service import RelayService

API: Final = "/api"
SESSION: Final = API + "/sessions/{name}"


def poster(request: Request, service: RelayService, viewer: str) -> str | None:
    """Who the page posts as for ``viewer``, or None when this page may not post."""
    post_as = web_view_of(request).post_as
    if post_as is None or (service.auth_mode == "per-client" and viewer != post_as):
        return None
    return post_as


async def overview(request: Request) -> Response:
    """The viewer's sessions with presence, the relay's numbers, who the page posts as, and the
    tasks of the viewer's sessions (most recently changed first)."""
    service, viewer = service_of(request), caller_of(request)
    found = await run(service.overview, viewer)
    body = found.model_dump(mode="json")
    body["post_as"] = poster(request, service, viewer)
    tasks = await run(service.list_tasks, viewer)
    body["tasks"] = [task.model_dump(mode="json") for task in tasks]
    return json_response(body)


async def messages(request: Request) -> Response:
    """A page of a session's messages after ``after`` (default: from the first)."""
    service = service_of(request)
    page = await run(
        service.read_messages,
        caller_of(request),
        request.path_params["name"],
        query_int(request, "after", 0),
        query_int(request, "limit", MAX_PAGE_SIZE),
    )
    return json_response(page)


async def post(request: Request) -> Response:
    """Post a message as the configured human participant."""
    body = await read_body(request, SendMessageRequest)
    service = service_of(request)
    post_as = poster(request, service, caller_of(request))
    if post_as is None:
        raise Forbidden("this web view is read-only (the relay's operator sets ui_post_as)")
    name = request.path_params["name"]
    return json_response(await service.send_message(post_as, name, body), 201)


async def download(request: Request) -> Response:
    """A file the viewer may read, whole, offered for saving under ``?name=``."""
    sha256 = validate_digest(request.path_params["sha256"])
    name = request.query_params.get("name") or sha256
    service = service_of(request)
    opened = await run(service.open_download, caller_of(request), sha256, None, None)
    headers = {
        "content-length": str(opened.length),
        # Quoted, so no name can end the header or add a parameter.
        "content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
    }
    return BlobResponse(opened.chunks, 200, headers)


ROUTES: Final[list[BaseRoute]] = [
    Route(API + "/overview", overview, methods=["GET"]),
    Route(SESSION + "/messages", messages, methods=["GET"]),
    Route(SESSION + "/messages", post, methods=["POST"]),
    Route(API + "/blobs/{sha256}", download, methods=["GET"]),
]
