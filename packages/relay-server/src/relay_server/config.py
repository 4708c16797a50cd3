"""The relay's settings: a TOML file, then ``RELAY_*`` environment variables, then flags.

Loading is pure: nothing is created, opened or written. Every problem names the key and where it
came from ("RELAY_PORT has value 'x': ..."), and an unknown key is an error, not a silent no-op.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from relay_core import InvalidInput, validate_client_identity
from relay_core.wire import (
    DEFAULT_BLOB_QUOTA_BYTES,
    DEFAULT_HOST,
    DEFAULT_INLINE_FILE_BYTES,
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_PORT,
)

ENV_PREFIX: Final = "RELAY_"
CONFIG_ENV: Final = "RELAY_CONFIG"
DATABASE_FILE: Final = "relay.sqlite3"
BLOBS_DIR: Final = "blobs"
TLS_DIR: Final = "tls"
TLS_CERT_FILE: Final = "server.pem"
TLS_KEY_FILE: Final = "server-key.pem"
TLS_CA_FILE: Final = "ca.pem"

AuthMode = Literal["open", "shared", "per-client"]
McpRevisions = Literal["push", "all"]
"""``push``: only the handshake-era MCP revisions, which carry channel push (Claude Code falls
back to them); ``all``: every revision the MCP SDK speaks, 2026-07-28 included (no push there)."""


def default_data_dir() -> Path:
    """The per-user data directory, e.g. ``~/.local/share/agent-relay-server``."""
    return Path(platformdirs.user_data_dir("agent-relay-server", appauthor=False))


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerConfig(BaseModel):
    """Everything the relay needs to start; see ``agent-relay-server init`` for a commented file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default=DEFAULT_HOST, description="Address to listen on.")
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535, description="TCP port (0 = any).")
    data_dir: Path = Field(default_factory=default_data_dir, description="Database and files.")
    database_url: str | None = Field(
        default=None,
        description="sqlite:///PATH or postgresql://USER@HOST/DB; default <data_dir>/relay.sqlite3",
    )
    auth_mode: AuthMode | None = Field(
        default=None,
        description="open, shared or per-client; default: shared when a token is set, else open.",
    )
    token: str | None = Field(
        default=None, min_length=16, description="The shared token (prefer token_sha256)."
    )
    token_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the shared token."
    )
    insecure_open: bool = Field(
        default=False, description="Allow an open relay on a non-loopback address."
    )
    announce: bool = Field(
        default=True,
        description="Announce the relay on the LAN (mDNS, _agent-relay._tcp) unless on loopback.",
    )
    tls: bool = Field(
        default=False,
        description="Serve HTTPS with the CA and certificate `init --tls` made in <data_dir>/tls.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Extra Host header values to accept (DNS rebinding)."
    )
    max_blob_bytes: int = Field(default=DEFAULT_MAX_BLOB_BYTES, gt=0, description="Largest file.")
    blob_quota_bytes: int = Field(
        default=DEFAULT_BLOB_QUOTA_BYTES, gt=0, description="Bytes the file store may hold."
    )
    upload_in_flight_per_client_bytes: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Most bytes one client's unfinished uploads may declare; default twice max_blob_bytes."
        ),
    )
    inline_file_bytes: int = Field(
        default=DEFAULT_INLINE_FILE_BYTES, gt=0, description="Largest file MCP tools move inline."
    )
    inline_bytes_in_flight: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description=(
            "Bytes of large MCP request bodies (inline uploads) handled at once, half per client."
        ),
    )
    inline_upload_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a large MCP request waits for room before it gets 503 unavailable.",
    )
    blob_grace_s: float = Field(default=24 * 3600, ge=0, description="Keep unattached uploads.")
    rate_limit_per_s: float = Field(default=0, ge=0, description="Requests/s per client; 0 = off.")
    rate_limit_burst: int = Field(default=50, ge=1, description="Requests allowed in a burst.")
    request_head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Close a connection whose request line and headers take longer than this.",
    )
    request_body_idle_s: float = Field(
        default=30.0, gt=0, description="Close a connection whose request body stalls this long."
    )
    mcp_revisions: McpRevisions = Field(
        default="push",
        description="push: only MCP revisions with channel push (2025-11-25 and older); "
        "all: also 2026-07-28, on which clients get no push.",
    )
    mcp_sessions_per_client: int = Field(
        default=16,
        ge=1,
        description="MCP sessions one client may hold; one more closes its least recently used.",
    )
    mcp_session_idle_s: float = Field(
        default=600.0,
        gt=0,
        description="Close an MCP session with no request and no open stream for this long.",
    )
    ui_post_as: str | None = Field(
        default=None,
        description="The client id a person posts as from the web view (/ui); unset: read-only.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info (one access line per call), warning or error."
    )

    @field_validator("ui_post_as")
    @classmethod
    def _a_client_id(cls, value: str | None) -> str | None:
        try:
            return None if value is None else validate_client_identity(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> ServerConfig:
        if self.token and self.token_sha256:
            raise ValueError("set token or token_sha256, not both")
        if self.auth_mode == "shared" and not self.shared_token_hash:
            raise ValueError("auth_mode 'shared' needs token or token_sha256")
        if self.auth_mode in {"open", "per-client"} and self.shared_token_hash:
            raise ValueError(f"auth_mode {self.auth_mode!r} does not use a shared token")
        return self

    @property
    def effective_auth_mode(self) -> AuthMode:
        """The auth mode in force."""
        if self.auth_mode:
            return self.auth_mode
        return "shared" if self.shared_token_hash else "open"

    @property
    def shared_token_hash(self) -> str | None:
        """SHA-256 of the shared token, if one is configured."""
        return hash_token(self.token) if self.token else self.token_sha256

    @property
    def database_path(self) -> Path:
        """The SQLite file (a relay on a database server has none: InvalidInput)."""
        if self.database_url:
            if not self.database_url.startswith("sqlite:///"):
                scheme = self.database_url.partition("://")[0]
                raise InvalidInput(f"this needs a SQLite database; database_url names {scheme}")
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / DATABASE_FILE

    @property
    def token_marker_base(self) -> Path:
        """The file the token-change marker sits beside: the SQLite file, or for a database
        server a name in ``data_dir`` (the admin commands and the relay share that directory)."""
        if self.database_url and not self.database_url.startswith("sqlite:"):
            return self.data_dir / "relay-database"
        return self.database_path

    @property
    def upload_in_flight_cap_bytes(self) -> int:
        """The per-client cap on declared bytes of uploads in flight, default applied."""
        if self.upload_in_flight_per_client_bytes is not None:
            return self.upload_in_flight_per_client_bytes
        return 2 * self.max_blob_bytes

    @property
    def blobs_dir(self) -> Path:
        """Root of the content-addressed file store."""
        return self.data_dir / BLOBS_DIR

    @property
    def tls_dir(self) -> Path:
        """Where ``init --tls`` keeps the CA and the server certificate."""
        return self.data_dir / TLS_DIR

    @property
    def tls_ca_path(self) -> Path | None:
        """The CA certificate clients pin, when the relay speaks HTTPS."""
        return self.tls_dir / TLS_CA_FILE if self.tls else None

    @property
    def scheme(self) -> str:
        """``https`` with ``tls``, else ``http``."""
        return "https" if self.tls else "http"

    def tls_options(self) -> dict[str, str]:
        """uvicorn's ``ssl_certfile`` and ``ssl_keyfile`` with ``tls``, else nothing.

        Raises:
            InvalidInput: ``tls`` is on but the files are missing.
        """
        if not self.tls:
            return {}
        cert, key = self.tls_dir / TLS_CERT_FILE, self.tls_dir / TLS_KEY_FILE
        if not (cert.is_file() and key.is_file()):
            raise InvalidInput(
                f"tls is on but {cert} or {key} is missing: run `agent-relay-server init --tls "
                f"--data-dir {self.data_dir}` to make them"
            )
        return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}

    def refuse_insecure_listen(self) -> None:
        """Raise when an open relay would listen beyond this machine without ``insecure_open``."""
        if (
            self.effective_auth_mode == "open"
            and not is_loopback(self.host)
            and not self.insecure_open
        ):
            raise InvalidInput(
                f"refusing to serve an open relay (no token) on {self.host}: anyone on the "
                "network could read and write every session. Run `agent-relay-server init` to "
                "create a token, or pass --insecure-open on a network you trust."
            )


_ENV_LIST_KEYS: Final = frozenset({"allowed_hosts"})
SECRET_KEYS: Final = frozenset({"token", "token_sha256"})
"""Settings whose value is never shown, not even in an error about that value."""


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name.removeprefix(ENV_PREFIX).lower()
        if key not in ServerConfig.model_fields:
            known = ", ".join(ENV_PREFIX + k.upper() for k in ServerConfig.model_fields)
            raise InvalidInput(f"{name} is not a relay setting; known: {known}")
        values[key] = (
            [h.strip() for h in raw.split(",") if h.strip()] if key in _ENV_LIST_KEYS else raw
        )
    return values


def _read_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from None


def _describe_errors(exc: ValidationError, sources: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        where = sources.get(key, key or "config")
        if error["type"] == "extra_forbidden":
            problems.append(f"{where} is not a relay setting")
            continue
        if key in SECRET_KEYS:
            value = " (value not shown)"
        else:
            value = f" has value {error['input']!r}" if key and "input" in error else ""
        problems.append(f"{where}{value}: {error['msg']}")
    return "; ".join(problems)


def load_config(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Build the config from a TOML file, ``RELAY_*`` variables and explicit overrides.

    The file is ``config_file``, else ``$RELAY_CONFIG``, else none. Later sources win.

    Raises:
        InvalidInput: a value is wrong or a key unknown; the message names the key and source.
    """
    environ = os.environ if environ is None else environ
    path = config_file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        from_file = _read_file(path)
        values.update(from_file)
        sources.update({k: f"{path}: {k}" for k in from_file})
    from_env = _from_environment(environ)
    values.update(from_env)
    sources.update({k: ENV_PREFIX + k.upper() for k in from_env})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(given)
    sources.update({k: f"--{k.replace('_', '-')}" for k in given})
    try:
        return ServerConfig.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(_describe_errors(exc, sources)) from None
