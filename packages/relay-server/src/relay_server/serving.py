"""How the relay is served: uvicorn's settings, in one place for ``serve`` and the test suite."""

from __future__ import annotations

from typing import Any

from relay_server.config import ServerConfig
from relay_server.slow_clients import protocol_with_timeouts


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for a relay with ``config``.

    uvicorn's own limits, and the ones it lacks (see slow_clients.py and docs/security.md).
    """
    return {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "lifespan": "on",
        "access_log": False,
        "http": protocol_with_timeouts(config.request_head_timeout_s, config.request_body_idle_s),
        "ws": "none",  # the relay speaks no WebSocket: an Upgrade is a plain request
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 30,  # idle keep-alive connections
        "h11_max_incomplete_event_size": 64 * 1024,  # request line and headers
    }
