"""The web view's state: its settings, and logins (a random id in a cookie for credentials).

The page asks for the token once and posts it with ``Authorization`` (and, where the identity
is not the token, ``X-Client-Id``) to ``POST /ui/login``, which the auth middleware checks like
any other request. The login keeps those two header values in this process's memory, under a
random id the browser holds in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/ui``:
the token never reaches the page's script, a URL or the browser's storage. The auth middleware
then replays them for ``/ui/`` requests carrying the cookie, so every check a bearer request
gets (a replaced per-client token, a parked request cut off) applies to the page too. A restart
forgets every login; the page asks again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from starlette.requests import Request

UI_STATE: Final = "relay_ui"
"""The attribute of ``app.state`` that holds the :class:`WebView`."""
UI_PATH: Final = "/ui"
UI_COOKIE: Final = "relay_ui"
LOGIN_TTL_S: Final = 12 * 3600
"""How long a login lasts (the cookie's ``Max-Age`` too)."""
MAX_LOGINS: Final = 1024
"""Logins kept at once; past that the oldest goes (a script logging in in a loop)."""


@dataclass(frozen=True, slots=True)
class UiLogin:
    """What one login stands for: the headers it replays, and until when."""

    authorization: str | None
    client_id: str
    expires: float


class UiLogins:
    """The logins of this process, by cookie value (safe across threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logins: dict[str, UiLogin] = {}
        self._lock = threading.Lock()

    def add(self, authorization: str | None, client_id: str) -> str:
        """Remember a login that passed authentication; returns the cookie value for it."""
        key = secrets.token_urlsafe(32)
        with self._lock:
            while len(self._logins) >= MAX_LOGINS:
                del self._logins[next(iter(self._logins))]
            self._logins[key] = UiLogin(authorization, client_id, self._clock() + LOGIN_TTL_S)
        return key

    def get(self, key: str) -> UiLogin | None:
        """The login ``key`` stands for, unless unknown or expired."""
        with self._lock:
            login = self._logins.get(key)
            if login is not None and login.expires <= self._clock():
                del self._logins[key]
                return None
            return login

    def remove(self, key: str) -> None:
        """Forget a login (logging out)."""
        with self._lock:
            self._logins.pop(key, None)


@dataclass
class WebView:
    """The web view's settings and its logins (shared with the auth middleware)."""

    post_as: str | None = None
    """The client id a person posts as from the page; None: the page is read-only."""
    logins: UiLogins = field(default_factory=UiLogins)


def web_view_of(request: Request) -> WebView:
    """The web view of the app serving ``request``."""
    view: WebView = getattr(request.app.state, UI_STATE)
    return view


def cookie_of(header: str | None) -> str | None:
    """The web view's cookie value in a ``Cookie`` header, if there."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == UI_COOKIE and value:
            return value
    return None


def is_ui_data_path(path: str) -> bool:
    """True for the ``/ui/`` paths the cookie may open (everything under ``/ui/`` but files)."""
    return path.startswith(UI_PATH + "/") and not path.startswith(UI_PATH + "/static/")


def is_ui_public_path(path: str) -> bool:
    """The page and its files: no secret in them, so served without credentials."""
    return path in {"/", UI_PATH, UI_PATH + "/"} or path.startswith(UI_PATH + "/static/")
