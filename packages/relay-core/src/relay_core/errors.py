"""Every error agent-relay reports on purpose, each with a stable code.

The tree::

    RelayError
    ├── InvalidInput       invalid            400
    ├── Unauthorized       unauthorized       401
    ├── Forbidden          forbidden          403
    ├── NotFound           not_found          404
    ├── Conflict           conflict           409
    ├── TooLarge           too_large          413
    ├── RateLimited        rate_limited       429
    ├── Unavailable        unavailable        503
    └── QuotaExceeded      quota_exceeded     507

The code is the contract: adapters put it first in MCP tool errors (``not_found: session 'x'``) and
in HTTP error bodies (``{"error": {"code": ..., "message": ...}}``); clients turn it back into the
same class with :func:`error_from_payload`. Messages are for people and may change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, ValidationError

INVALID: Final = "invalid"
UNAUTHORIZED: Final = "unauthorized"
FORBIDDEN: Final = "forbidden"
NOT_FOUND: Final = "not_found"
CONFLICT: Final = "conflict"
TOO_LARGE: Final = "too_large"
RATE_LIMITED: Final = "rate_limited"
UNAVAILABLE: Final = "unavailable"
QUOTA_EXCEEDED: Final = "quota_exceeded"
INTERNAL: Final = "internal"
"""Not a class: what an adapter reports for an unexpected exception, with details masked."""


def shown(value: object, limit: int = 80) -> str:
    """A value's repr cut to ``limit`` characters, for quoting bad input in an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit conversion limit
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RelayError(Exception):
    """Base of every deliberate agent-relay error; carries a stable ``code`` and HTTP status."""

    code: ClassVar[str] = INTERNAL
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message

    def to_text(self) -> str:
        """The one-line form used for MCP tool errors: ``code: message``."""
        return f"{self.code}: {self.message}"

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of an HTTP error answer."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(RelayError):
    """A name, argument or body breaks a rule; nothing was changed."""

    code = INVALID
    http_status = 400


class Unauthorized(RelayError):
    """The bearer token is missing or wrong."""

    code = UNAUTHORIZED
    http_status = 401


class Forbidden(RelayError):
    """The caller is known but may not do this (not a participant, spoofed client id)."""

    code = FORBIDDEN
    http_status = 403


class NotFound(RelayError):
    """The session, message, client or blob does not exist (or is not visible to the caller)."""

    code = NOT_FOUND
    http_status = 404


class Conflict(RelayError):
    """The thing already exists or is in a state that forbids the change (a closed session)."""

    code = CONFLICT
    http_status = 409


class TooLarge(RelayError):
    """A text, body or file is over a configured limit."""

    code = TOO_LARGE
    http_status = 413


class RateLimited(RelayError):
    """The caller sent more requests than its configured rate allows; retry later."""

    code = RATE_LIMITED
    http_status = 429


class Unavailable(RelayError):
    """The relay cannot serve now (shutting down, storage not ready); retry later."""

    code = UNAVAILABLE
    http_status = 503


class QuotaExceeded(RelayError):
    """Storing this file would take the blob store over its quota."""

    code = QUOTA_EXCEEDED
    http_status = 507


ERROR_CLASSES: Final[dict[str, type[RelayError]]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        RateLimited,
        Unavailable,
        QuotaExceeded,
    )
}


class PydanticCheck:
    """``Annotated`` metadata that runs a check raising InvalidInput after pydantic's own
    validation, as pydantic's ``AfterValidator`` does, with the same message.

    It hooks into pydantic the way ``AfterValidator`` does (``__get_pydantic_core_schema__``),
    so defining a name type such as :data:`relay_core.names.SessionName` imports no pydantic:
    the ``agent-relay`` command validates names and reports errors without loading it.
    """

    __slots__ = ("check",)

    def __init__(self, check: Callable[[object], str]) -> None:
        self.check = check

    def __get_pydantic_core_schema__(self, source_type: Any, handler: GetCoreSchemaHandler) -> Any:
        """pydantic's schema for the type: its own AfterValidator's, built when a model is."""
        from pydantic import AfterValidator

        return AfterValidator(self._run).__get_pydantic_core_schema__(source_type, handler)

    def _run(self, value: object) -> str:
        try:
            return self.check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None  # pydantic turns only ValueError into errors


def pydantic_check(check: Callable[[object], str]) -> PydanticCheck:
    """Adapt a validator that raises InvalidInput for a pydantic ``Annotated`` type."""
    return PydanticCheck(check)


def describe_validation_error(error: ValidationError) -> str:
    """One readable sentence for a pydantic validation error: each bad field and why."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "value"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def error_from_payload(payload: Any, *, http_status: int | None = None) -> RelayError:
    """Rebuild the :class:`RelayError` an HTTP error body describes.

    Unknown or malformed bodies become a plain ``RelayError`` (code ``internal``) whose message
    says what arrived, so a client never loses the server's words.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        message = str(error.get("message") or error["code"])
        details = error.get("details") if isinstance(error.get("details"), dict) else None
        cls = ERROR_CLASSES.get(error["code"], RelayError)
        return cls(message, details=details)
    status = f"HTTP {http_status}: " if http_status else ""
    return RelayError(f"{status}unexpected answer from the relay: {str(payload)[:200]}")
