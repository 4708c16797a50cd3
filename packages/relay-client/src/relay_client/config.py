"""``config.toml``: which relay this machine talks to, as whom, with which token.

The file holds these keys and nothing else::

    relay_url = "http://relay.lan:7878"
    client_id = "alice-laptop"
    token = "..."            # empty or absent when the relay runs open
    ca_cert = "/.../relay-ca.pem"   # only for an HTTPS relay with its own CA: the CA pinned

It is written atomically with mode 0600 because it holds the token. Unknown keys are errors that
name the key and its line, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import tomli_w

from relay_client.files import (
    PRIVATE_MODE,
    StateFileError,
    line_of_key,
    parse_toml,
    read_text,
    write_atomic,
)
from relay_core import InvalidInput, NotFound, validate_client_identity, wire

KEYS: Final = ("relay_url", "client_id", "token", "ca_cert")
REQUIRED_KEYS: Final = ("relay_url", "client_id")
_TOKEN_RE: Final = re.compile(r"[\x21-\x7e]+")


class NotConfigured(NotFound):
    """This machine has no config.toml yet: ``agent-relay onboard`` has not been run."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"agent-relay is not set up on this machine ({path} does not exist): "
            "run `agent-relay onboard`",
            details={"path": str(path)},
        )
        self.path = path


def normalise_relay_url(value: object) -> str:
    """The relay's base URL without a trailing slash, or raise :class:`InvalidInput`.

    Accepts ``http://host:port`` and ``https://host[:port]/prefix``; refuses anything else,
    including URLs with a query, a fragment or credentials. A URL ending in ``/mcp`` (the MCP
    endpoint, what an MCP config shows) means the relay below it: the ``/mcp`` is dropped, since
    the relay's other routes (``/healthz``, ``/api/v1``) are beside it, not under it.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("relay URL must be a non-empty string such as http://relay.lan:7878")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.path.endswith(wire.MCP_PATH):
        url = url.removesuffix(wire.MCP_PATH).rstrip("/")
        parts = urlsplit(url)
    problem = None
    if parts.scheme not in {"http", "https"}:
        problem = "it must start with http:// or https://"
    elif not parts.hostname:
        problem = "it has no host"
    elif parts.query or parts.fragment:
        problem = "it must not have a query or fragment"
    elif parts.username or parts.password:
        problem = "put the token in the token setting, not in the URL"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            problem = "its port is not a number between 0 and 65535"
    if problem:
        raise InvalidInput(f"relay URL {value!r} is not valid: {problem}")
    return url


def validate_ca_cert(value: object) -> str:
    """Empty, or the absolute path of the relay's pinned CA certificate; raise InvalidInput."""
    if not isinstance(value, str):
        raise InvalidInput(f"ca_cert must be a string, got {type(value).__name__}")
    if value and not Path(value).is_absolute():
        raise InvalidInput(f"ca_cert must be an absolute path, got {value!r}")
    return value


def validate_token(value: object) -> str:
    """A token is empty (open relay) or printable ASCII without spaces; raise InvalidInput."""
    if not isinstance(value, str):
        raise InvalidInput(f"token must be a string, got {type(value).__name__}")
    if value and not _TOKEN_RE.fullmatch(value):
        raise InvalidInput("token must be printable ASCII without spaces or line breaks")
    return value


@dataclass(frozen=True)
class ClientConfig:
    """This machine's relay settings: where the relay is, who we are, the bearer token."""

    relay_url: str
    client_id: str
    token: str = ""
    ca_cert: str = ""
    """The CA certificate this machine pinned for an HTTPS relay with its own CA; empty: the
    system's trusted CAs (or plain HTTP)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "relay_url", normalise_relay_url(self.relay_url))
        validate_client_identity(self.client_id)
        validate_token(self.token)
        validate_ca_cert(self.ca_cert)

    @property
    def verify(self) -> str | bool:
        """What ``requests`` verifies the relay's certificate with: the pinned CA, or True."""
        return self.ca_cert or True

    @classmethod
    def load(cls, path: Path) -> ClientConfig:
        """Read and validate ``config.toml``.

        Raises:
            NotConfigured: the file does not exist.
            StateFileError: it is not valid TOML, has unknown or missing keys or a bad value;
                the message names the file, the line and the key.
        """
        config = cls.load_optional(path)
        if config is None:
            raise NotConfigured(path)
        return config

    @classmethod
    def load_optional(cls, path: Path) -> ClientConfig | None:
        """Like :meth:`load`, but None when the file does not exist."""
        text = read_text(path)
        if text is None:
            return None
        data = parse_toml(path, text)
        for key in data:
            if key not in KEYS:
                raise StateFileError(
                    path,
                    f"unknown key {key!r} (the keys are {', '.join(KEYS)})",
                    line=line_of_key(text, key),
                )
        for key in REQUIRED_KEYS:
            if key not in data:
                raise StateFileError(path, f"missing key {key!r}: run `agent-relay onboard`")
        try:
            values = {key: _checked(data, key) for key in KEYS if key in data}
        except _BadValue as exc:
            raise StateFileError(path, exc.problem, line=line_of_key(text, exc.key)) from None
        return cls(**values)

    def save(self, path: Path) -> None:
        """Write the config atomically with mode 0600."""
        values = {k: v for k, v in asdict(self).items() if v or k != "ca_cert"}
        write_atomic(path, tomli_w.dumps(values).encode("utf-8"), mode=PRIVATE_MODE)

    @property
    def masked_token(self) -> str:
        """The token as it may be shown: its first four characters, or ``(none)``."""
        if not self.token:
            return "(none)"
        return self.token[:4] + "****" if len(self.token) > 8 else "****"

    def shown(self) -> dict[str, str]:
        """The settings as they may be printed: the token masked."""
        shown = {k: v for k, v in asdict(self).items() if v or k != "ca_cert"}
        return {**shown, "token": self.masked_token}


class _BadValue(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


_CHECKS: Final = {
    "relay_url": normalise_relay_url,
    "client_id": validate_client_identity,
    "token": validate_token,
    "ca_cert": validate_ca_cert,
}


def _checked(data: dict[str, Any], key: str) -> str:
    """One key's value, checked, or a _BadValue naming the key."""
    value = data[key]
    if not isinstance(value, str):
        raise _BadValue(key, f"{key} must be a string, got {type(value).__name__}")
    try:
        _CHECKS[key](value)
    except InvalidInput as exc:
        raise _BadValue(key, f"{key}: {exc.message}") from None
    return value
