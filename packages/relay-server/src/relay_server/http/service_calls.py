"""How route handlers reach the relay service: from the app's state, in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeVar

import anyio
from starlette.requests import Request

from relay_server.service import RelayService

SERVICE_STATE: Final = "relay_service"
"""The attribute of ``app.state`` that holds the service (set by the app that serves routes)."""

T = TypeVar("T")


def service_of(request: Request) -> RelayService:
    """The relay service of the app serving ``request``."""
    service: RelayService = getattr(request.app.state, SERVICE_STATE)
    return service


async def run(function: Callable[..., T], *args: Any, **keywords: Any) -> T:
    """Run a short, blocking service call in a worker thread."""
    return await anyio.to_thread.run_sync(partial(function, *args, **keywords))
