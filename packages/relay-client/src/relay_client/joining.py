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

import base64
import hashlib
import re
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import requests

from relay_client.api import RelayClient
from relay_client.files import PRIVATE_MODE, write_atomic
from relay_core import Forbidden, InvalidInput, RelayError, Unavailable, wire

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


CA_FILE_NAME: Final = "relay-ca.pem"
"""The pinned CA certificate of an HTTPS relay with its own CA, in the data root."""
CA_FETCH_TIMEOUT_S: Final = (5.0, 30.0)


def ca_fingerprint(pem: str) -> str:
    """The SHA-256 of a PEM certificate's DER bytes, base32 without padding (as the relay's
    ``init --tls`` and ``join-code`` show it)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem)
    except ValueError:
        raise RelayError("the relay's CA certificate is not a PEM certificate") from None
    return base64.b32encode(hashlib.sha256(der).digest()).decode("ascii").rstrip("=")


def fetch_relay_ca(relay_url: str) -> str | None:
    """The CA certificate the relay serves (``GET /api/v1/join/ca``), or None when it has none.

    Fetched without verifying the connection: nothing secret is sent, and what comes back is
    trusted only once its fingerprint matched (:func:`pin_relay_ca`).
    """
    with requests.Session() as session, warnings.catch_warnings():
        session.trust_env = False
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        try:
            answer = session.get(
                relay_url + wire.JOIN_CA_PATH, verify=False, timeout=CA_FETCH_TIMEOUT_S
            )
        except requests.RequestException as exc:
            raise Unavailable(f"cannot reach the relay at {relay_url}: {exc}") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200 or "BEGIN CERTIFICATE" not in answer.text:
        raise RelayError(
            f"the relay at {relay_url} answered HTTP {answer.status_code} for its CA certificate"
        )
    return answer.text


def pin_relay_ca(
    relay_url: str,
    ca_path: Path,
    *,
    expected: str | None,
    confirm: Callable[[str], bool] | None,
) -> str:
    """Pin the CA of an HTTPS relay: the path of the saved CA, or "" when the relay has no CA
    of its own (its certificate must then chain to a CA the system trusts).

    ``expected`` is a fingerprint (or its start, as in a join code) it must match; without one
    ``confirm`` is asked (with the fingerprint) whether the relay's operator sees the same.

    Raises:
        Forbidden: the CA does not match: someone may be in between; nothing was sent.
        InvalidInput: nobody confirmed the fingerprint.
    """
    pem = fetch_relay_ca(relay_url)
    if pem is None:
        if expected:
            raise Forbidden(
                f"the relay at {relay_url} serves no CA certificate, but the fingerprint names "
                "one: this may be another machine; nothing was sent"
            )
        return ""
    actual = ca_fingerprint(pem)
    if expected:
        if len(expected) < 16 or not actual.startswith(expected.upper()):
            raise Forbidden(
                f"the relay at {relay_url} presents a CA whose fingerprint ({actual[:26]}...) is "
                "not the one expected: someone may be between this machine and the relay, or the "
                "code is for another relay; nothing was sent"
            )
    elif confirm is None or not confirm(actual):
        raise InvalidInput(
            "the relay's CA fingerprint was not confirmed: compare it with the one the relay's "
            "operator sees (`agent-relay-server init --tls` or `join-code` print it) and pass "
            "--ca-fingerprint FINGERPRINT, or onboard with a join code"
        )
    write_atomic(ca_path, pem.encode("ascii"), mode=PRIVATE_MODE)
    return str(ca_path)
