"""The baseline server: the relay's stack with nothing of the relay's work in it.

Served exactly like the relay (uvicorn with the options of ``agent-relay-server serve``, FastMCP's
streamable HTTP app at ``/mcp`` with Host/Origin protection, the relay's own auth middleware, a
Starlette app mounted at ``/``), it answers:

- the MCP tool ``echo(session, text)``: returns what it got (async, no thread hop, no storage);
- ``POST /api/v1/echo``: parses the JSON body and answers it back;
- ``GET /api/v1/ping``: a tiny JSON answer, the bare loopback round trip;
- ``GET /healthz`` (no auth, like the relay's): for the bench to see that it is up.

Every figure divides the relay's number by the same number from this server, measured in the
same run, so the machine's speed and noise cancel out. Run it with
``python -m bench.baseline --port P`` and ``RELAY_TOKEN`` set.
"""

from __future__ import annotations

import argparse
import json
import os

import uvicorn
from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from relay_core.wire import HEALTH_PATH, MCP_PATH
from relay_server.config import hash_token
from relay_server.middleware.auth import Authenticator, AuthMiddleware
from relay_server.serving import quiet_fastmcp_telemetry

ECHO_PATH = "/api/v1/echo"
PING_PATH = "/api/v1/ping"


def _json(body: object, status_code: int = 200) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status_code, media_type="application/json")


async def echo_route(request: Request) -> Response:
    """Answer the JSON body back."""
    return _json(json.loads(await request.body()), 201)


async def ping_route(request: Request) -> Response:
    """A tiny JSON answer."""
    return _json({"ok": True})


def build_app(token: str) -> ASGIApp:
    """The baseline ASGI app, guarded by the relay's auth middleware in shared-token mode."""
    mcp = FastMCP("bench-baseline", instructions="Echo baseline for agent-relay's benchmarks.")

    @mcp.tool
    async def echo(session: str, text: str) -> dict[str, str]:
        """Return the arguments unchanged."""
        return {"session": session, "text": text}

    app = mcp.http_app(
        path=MCP_PATH,
        middleware=[
            Middleware(
                AuthMiddleware,
                authenticator=Authenticator("shared", shared_token_hash=hash_token(token)),
            )
        ],
        host_origin_protection=True,
        allowed_hosts=["127.0.0.1"],
    )
    api = Starlette(
        routes=[
            Route(ECHO_PATH, echo_route, methods=["POST"]),
            Route(PING_PATH, ping_route, methods=["GET"]),
            Route(HEALTH_PATH, ping_route, methods=["GET"]),
        ]
    )
    app.router.routes.append(Mount("/", app=api))
    return app


def main() -> None:
    """Serve the baseline on 127.0.0.1 with the relay's uvicorn options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    # The same settings as relay_server.cli.serving.serve; keep the two in step.
    quiet_fastmcp_telemetry()
    uvicorn.run(
        build_app(os.environ["RELAY_TOKEN"]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=64 * 1024,
    )


if __name__ == "__main__":
    main()
