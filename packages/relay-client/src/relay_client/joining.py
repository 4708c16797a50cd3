"""Joining a relay with a one-time join code instead of a copied URL and token.

A join code as ``agent-relay-server join-code`` prints it is ``SECRET@HOST:PORT``, with
``/FINGERPRINT`` after it when the relay speaks HTTPS with its own CA::

    K7QM-4TZP-X2HD@relay.lan:7878
    K7QM-4TZP-X2HD@relay.lan:7878/4MZQ8K2V...        (HTTPS, the CA pinned by its fingerprint)

``SECRET`` alone is what a person reads aloud; the rest says where the relay is (it may be given
with ``--relay-url`` instead). :class:`JoinClient` sends the secret to ``POST /api/v1/join`` (in
the body, never the URL) and gets this client's own token back: a new per-client token, or the
relay's shared token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from relay_client.api import RelayClient
from relay_core import InvalidInput, RelayError, wire

_SECRET_RE: Final = re.compile(r"^[0-9A-Za-z]{4}(-?[0-9A-Za-z]{4}){2}$")
_ADDRESS_RE: Final = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")
_FINGERPRINT_RE: Final = re.compile(r"^[0-9A-Za-z]{16,64}$")
CODE_EXAMPLE: Final = "K7QM-4TZP-X2HD@relay.lan:7878"


@dataclass(frozen=True)
class JoinCode:
    """A parsed join code."""

    secret: str
    """What the relay checks, as typed (it ignores case and dashes)."""
    address: str | None
    """``host:port`` of the relay, when the code carries it."""
    fingerprint: str | None
    """The relay's CA fingerprint (base32 of its SHA-256), when it speaks HTTPS."""

    @property
    def relay_url(self) -> str | None:
        """The relay's base URL the code names, or None."""
        if self.address is None:
            return None
        return f"{'https' if self.fingerprint else 'http'}://{self.address}"


def parse_join_code(text: str) -> JoinCode:
    """Read ``SECRET[@HOST:PORT[/FINGERPRINT]]``; InvalidInput (that never echoes the secret)
    for anything else."""
    secret, at, rest = text.strip().partition("@")
    address, slash, fingerprint = rest.partition("/")
    if not _SECRET_RE.match(secret):
        raise InvalidInput(f"a join code looks like {CODE_EXAMPLE}: 12 letters and digits first")
    if at and not _ADDRESS_RE.match(address):
        raise InvalidInput(f"the join code's address is not HOST:PORT (like {CODE_EXAMPLE})")
    if slash and not _FINGERPRINT_RE.match(fingerprint):
        raise InvalidInput("the join code's fingerprint (after the '/') is cut short or garbled")
    return JoinCode(secret, address or None, fingerprint.upper() or None)


@dataclass(frozen=True)
class Joined:
    """What the relay gave for a join code."""

    client_id: str
    token: str
    auth_mode: str


class JoinClient(RelayClient):
    """A relay client without a token yet, which can exchange a join code for one."""

    def join(self, secret: str, client_id: str | None) -> Joined:
        """``POST /api/v1/join``: this client's token for ``secret`` (spent by this call).

        Raises:
            Unauthorized: the code is unknown, used or expired.
            RateLimited: too many wrong codes were tried lately.
            Conflict: ``client_id`` is taken on the relay; the code is kept.
        """
        body = {"code": secret, "client_id": client_id}
        data = self._json(self._request("POST", wire.JOIN_PATH, json=body))
        try:
            return Joined(str(data["client_id"]), str(data["token"]), str(data["auth_mode"]))
        except (KeyError, TypeError):
            raise RelayError(
                "the relay's answer to the join code is not what it should be"
            ) from None
