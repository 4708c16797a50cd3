"""The connection under every :class:`relay_client.api.RelayClient` call: one ``requests.Session``,
the rules of :mod:`relay_client.transport` applied to each request, and answers parsed into
relay-core models.

The feature mixins (:mod:`relay_client.api.sessions`, ``messages``, ``files``, ...) call only
what is here: :meth:`Connection._request` to send, :meth:`Connection._model` and
:meth:`Connection._models` to read the answer, :func:`body_of` and :func:`query_params` to build
the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Self, TypeVar

import requests

from relay_client.config import ClientConfig, normalise_relay_url
from relay_client.transport import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_RETRIES,
    RETRY_BACKOFF_S,
    USER_AGENT,
    attempts,
    error_of,
    no_answer,
    retry_delay,
    unreachable,
)
from relay_core import RelayError, RelayModel, RequestModel, Unavailable, wire

__all__ = [
    "LONG_POLL_MARGIN_S",
    "Connection",
    "body_of",
    "query_params",
    "reason_of",
]

LONG_POLL_MARGIN_S: Final = 15.0
"""Added to a long poll's wait to get its read timeout."""

M = TypeVar("M", bound=RelayModel)


class Connection:
    """One relay, one identity, one connection pool; the requests every call is made of."""

    def __init__(
        self,
        relay_url: str,
        client_id: str | None = None,
        token: str | None = None,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float | None = None,
        session: requests.Session | None = None,
        verify: str | bool = True,
    ) -> None:
        """``verify``: the CA file an HTTPS relay's certificate must chain to (the pinned CA of
        a relay with its own), or True for the system's trusted CAs."""
        self.base_url = normalise_relay_url(relay_url)
        self.client_id = client_id
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retries = retries
        self.backoff_s = RETRY_BACKOFF_S if backoff_s is None else backoff_s
        self._session = session or requests.Session()
        # Proxies from the environment would send LAN traffic elsewhere; the relay is always
        # addressed directly.
        self._session.trust_env = False
        self._session.verify = verify
        self._session.headers["User-Agent"] = USER_AGENT
        if client_id:
            self._session.headers[wire.CLIENT_ID_HEADER] = client_id
        if token:
            self._session.headers[wire.AUTHORIZATION_HEADER] = wire.BEARER_PREFIX + token

    @classmethod
    def from_config(cls, config: ClientConfig, **options: Any) -> Self:
        """A client for the relay, identity, token and pinned CA of a :class:`ClientConfig`."""
        options.setdefault("verify", config.verify)
        return cls(config.relay_url, config.client_id, config.token or None, **options)

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _long_poll_timeout(self, wait_s: float | None) -> float:
        return self.read_timeout_s if not wait_s else wait_s + LONG_POLL_MARGIN_S

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        body: Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        read_timeout_s: float | None = None,
        allow: Sequence[int] = (),
    ) -> requests.Response:
        """Send one request (retrying idempotent ones) and return a successful answer.

        Statuses in ``allow`` are returned instead of raised.
        """
        url = self.base_url + path
        timeout = (self.connect_timeout_s, read_timeout_s or self.read_timeout_s)
        tries = attempts(method, self.retries)
        for attempt in range(1, tries + 1):
            data = body() if body else None
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    stream=stream,
                    timeout=timeout,
                )
            except requests.ConnectionError as exc:
                if attempt < tries:
                    self._pause(attempt)
                    continue
                raise self._unreachable(exc) from None
            except requests.Timeout:
                raise no_answer(self.base_url, timeout[1]) from None
            except requests.RequestException as exc:
                raise Unavailable(f"the request to {url} failed: {reason_of(exc)}") from None
            finally:
                if data is not None and hasattr(data, "close"):
                    data.close()
            if response.status_code == 503 and attempt < tries:
                response.close()
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code < 400 or response.status_code in allow:
                return response
            raise self._error(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _pause(self, attempt: int, retry_after: str | None = None) -> None:
        time.sleep(retry_delay(self.backoff_s, attempt, retry_after))

    def _unreachable(self, exc: requests.RequestException) -> Unavailable:
        """The one sentence for a relay that cannot be reached."""
        return unreachable(
            self.base_url,
            reason_of(exc),
            connect_timed_out=isinstance(exc, requests.ConnectTimeout),
            connect_timeout_s=self.connect_timeout_s,
            full_text=str(exc),
        )

    def _error(self, response: requests.Response) -> RelayError:
        """The RelayError an error answer stands for, even when its body is not ours."""
        return error_of(response.status_code, response.reason, response.content, self.base_url)

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise RelayError(
                f"the relay answered {response.request.method} {response.url} with something "
                f"that is not JSON: {response.text[:120]!r}"
            ) from None

    def _model(self, model: type[M], response: requests.Response) -> M:
        return model.parse_answer(self._json(response))

    def _models(self, model: type[M], data: Any, key: str) -> list[M]:
        rows = data.get(key) if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise RelayError(f"unexpected answer from the relay: no list {key!r}")
        return [model.parse_answer(row) for row in rows]


def query_params(**values: float | int | None) -> dict[str, str]:
    """Query parameters from the values given (None: left out; floats without trailing zeros)."""
    return {
        key: f"{value:g}" if isinstance(value, float) else str(value)
        for key, value in values.items()
        if value is not None
    }


def body_of(model: type[RequestModel], **fields: Any) -> dict[str, Any]:
    """Validate a request body locally with its relay-core model; the JSON to send (only the
    fields given: a relay that predates a newer optional field still takes the body)."""
    return model.parse(fields).model_dump(mode="json", exclude_unset=True)


def reason_of(exc: BaseException) -> str:
    """The innermost cause of a requests exception, without urllib3's object reprs."""
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None) or reason.__cause__ or reason.__context__
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason) or type(reason).__name__
    return text.split(": ", 1)[-1] if "object at 0x" in text else text
