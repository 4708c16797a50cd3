"""JSON answers, with the fix, for requests FastMCP's Host/Origin guard turns away.

The guard (DNS-rebinding protection, in front of every route) answers a ``Host`` the relay does
not know with a bare ``421 Misdirected Request`` and a foreign ``Origin`` with ``403 Forbidden
Origin``, in plain text: a person reaching the relay as ``relay.lan`` or by its IP address saw
"unexpected answer" and no way forward. :class:`GuardAnswers` sits outside the guard and turns
those two answers into relay errors (same status) naming what was refused and the setting that
allows it. Everything else passes through untouched.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay_core import Forbidden, RelayError
from relay_server.http.errors import send_error

GUARD_STATUSES: Final = frozenset({403, 421})


def _refusal(status: int, scope: Scope) -> RelayError:
    headers = Headers(scope=scope)
    if status == 421:
        host = headers.get("host", "")
        return Forbidden(
            f"this relay does not answer to the host name {host!r}: add it to allowed_hosts in "
            "the relay's config.toml (or RELAY_ALLOWED_HOSTS, comma-separated) and restart the "
            "relay, or use a name it already answers to",
            details={"host": host, "setting": "allowed_hosts"},
        )
    return Forbidden(
        f"requests from web pages are refused (Origin {headers.get('origin', '')!r}): the relay "
        "is for agents and the command line, not browsers",
        details={"origin": headers.get("origin", "")},
    )


class GuardAnswers:
    """Rewrites the Host/Origin guard's bare-text 421 and 403 into JSON relay errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json_instead(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                status = message["status"]
                # The guard's answers carry no content type; the relay's own errors are JSON.
                if status in GUARD_STATUSES and not content_type.startswith("application/json"):
                    rewriting = True
                    await send_error(scope, send, _refusal(status, scope), status=status)
                    return
            if rewriting:
                return  # the guard's own text body: already answered
            await send(message)

        await self.app(scope, receive, send_json_instead)
