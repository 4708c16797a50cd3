"""Per-client rate limiting: one token bucket per authenticated client id, on every route.

Off unless ``rate_limit_per_s`` is above 0. Each client may send ``rate_limit_burst`` requests at
once, then ``rate_limit_per_s`` a second; past that it gets ``429 rate_limited`` with a
``Retry-After`` header, on the HTTP API, the blob routes and ``/mcp`` alike (an MCP client sees an
HTTP 429). :class:`RateLimitMiddleware` runs after the auth middleware, so the key is the client
the relay authenticated, never an unchecked header; ``/healthz`` has no caller and is exempt.

In shared-token and open mode the client id is whatever ``X-Client-Id`` says, so a client that
changes it gets a fresh bucket: the limit keeps honest clients from flooding the relay by
mistake. Only per-client tokens make it a limit a hostile client cannot step around.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core import RateLimited
from relay_server.http.errors import send_error
from relay_server.request_scope import CALLER_SCOPE_KEY

MAX_TRACKED_CLIENTS: Final = 10_000
"""Buckets kept at most; the least recently used is dropped first (it would be nearly full)."""


class TokenBuckets:
    """A token bucket per key: ``burst`` tokens, refilled at ``rate_per_s``; one per request.

    Not thread-safe: it is used from the event loop only.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is due."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_s(wait_s: float) -> int:
    """``Retry-After`` in whole seconds: rounded up, at least 1."""
    return max(1, math.ceil(wait_s))


class RateLimitMiddleware:
    """Answers 429 to an authenticated client over its rate; everything else passes through."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get(CALLER_SCOPE_KEY) if scope["type"] == "http" else None
        if caller is not None:
            wait_s = self.buckets.take(caller)
            if wait_s > 0:
                retry = retry_after_s(wait_s)
                error = RateLimited(
                    f"{caller!r} sent more than {self.buckets.burst} requests at once or "
                    f"{self.buckets.rate_per_s:g} a second; retry in {retry} s",
                    details={"retry_after_s": retry},
                )
                await send_error(scope, send, error, headers={"retry-after": str(retry)})
                return
        await self.app(scope, receive, send)
