"""Join codes: one-time secrets a person reads aloud, exchanged once for this client's token.

``agent-relay-server join-code`` makes one (:meth:`JoinCodesFeature.create_join_code`); the new
machine's ``agent-relay onboard --join`` sends it to ``POST /api/v1/join``
(:meth:`JoinCodesFeature.exchange_join_code`), which needs no bearer token.

- The secret is 12 characters of Crockford's base32 (60 bits), shown as ``K7QM-4TZP-X2HD``; case,
  dashes and the look-alikes O/I/L do not matter when it is typed back.
- Only its SHA-256 is stored. A code is spent by one conditional update, so it works once; it
  expires after its time to live (10 minutes unless chosen).
- Per-client mode: the exchange registers the client (the id fixed by ``--client-id``, else the
  one the new machine asks for, if no client holds it) with a fresh token. Shared mode: it hands
  over the shared token, which the code's row holds sealed (AES-GCM) under a key derived from
  the secret with scrypt, so the database alone does not give it away.
- Wrong codes (unknown, spent, expired or malformed) are refused with one answer, logged with
  the caller's address, and counted: after :data:`GUESSES_PER_ADDRESS` from one address, or
  :data:`GUESSES_PER_RELAY` from all, within :data:`GUESS_WINDOW_S`, every exchange is refused
  ``rate_limited`` until the window has passed, so guessing 60 bits is hopeless.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relay_core import (
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
    now_ms,
    validate_client_identity,
)
from relay_core.models import AuthMode
from relay_server.config import hash_token
from relay_server.service.clients import ClientsFeature
from relay_server.storage import clients, join_codes

log = logging.getLogger(__name__)

CODE_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read aloud is not misheard as another."""
CODE_LENGTH: Final = 12
DEFAULT_TTL_S: Final = 600
MAX_TTL_S: Final = 7 * 24 * 3600
GUESS_WINDOW_S: Final = 600.0
GUESSES_PER_ADDRESS: Final = 5
GUESSES_PER_RELAY: Final = 30
FORGET_AFTER_MS: Final = 24 * 3600 * 1000
"""Expired codes are deleted this long after they expired (kept a while for the log's sake)."""
_LOOK_ALIKES: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_REFUSED: Final = "this join code is not valid: it is unknown, used already or expired"


@dataclass(frozen=True)
class IssuedJoinCode:
    """A new join code: ``code`` is shown once and never stored."""

    code: str
    client_id: str | None
    expires_ms: int


@dataclass(frozen=True)
class Joined:
    """What a join code was exchanged for."""

    client_id: str
    token: str
    auth_mode: AuthMode


def normalise_code(text: str) -> str:
    """The secret of a typed code: uppercase, without dashes or spaces, look-alikes mapped."""
    secret = "".join(text.split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    if len(secret) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in secret):
        raise InvalidInput(f"a join code is {CODE_LENGTH} letters and digits, like K7QM-4TZP-X2HD")
    return secret


def format_code(secret: str) -> str:
    """``K7QM4TZPX2HD`` as ``K7QM-4TZP-X2HD``."""
    return "-".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _code_hash(secret: str) -> str:
    return hashlib.sha256(b"agent-relay join code:" + secret.encode("ascii")).hexdigest()


def _key(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, n=2**14, r=8, p=1, dklen=32)


def seal(token: str, secret: str) -> str:
    """``token`` encrypted under a key derived from ``secret``, as text for the database."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_key(secret, salt)).encrypt(nonce, token.encode("utf-8"), None)
    return base64.b64encode(salt + nonce + sealed).decode("ascii")


def unseal(sealed: str, secret: str) -> str:
    """The token :func:`seal` sealed; ValueError when ``secret`` is not the one it used."""
    raw = base64.b64decode(sealed)
    try:
        opened = AESGCM(_key(secret, raw[:16])).decrypt(raw[16:28], raw[28:], None)
    except InvalidTag:
        raise ValueError("not sealed with this secret") from None
    return opened.decode("utf-8")


class GuessLimit:
    """Wrong join codes in the last :data:`GUESS_WINDOW_S`, by address and in all."""

    def __init__(self, window_s: float = GUESS_WINDOW_S) -> None:
        self.window_s = window_s
        self._all: deque[float] = deque()
        self._by_address: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0
        """Exchanges refused because of too many wrong codes (for tests and the log)."""

    def check(self, address: str) -> None:
        """Raise RateLimited while ``address`` (or everyone) guessed too often."""
        with self._lock:
            self._expire(time.monotonic())
            mine = len(self._by_address.get(address, ()))
            if mine < GUESSES_PER_ADDRESS and len(self._all) < GUESSES_PER_RELAY:
                return
            self.refused += 1
        log.warning("join code exchange from %s refused: too many wrong codes", address)
        raise RateLimited(
            "too many wrong join codes were tried; wait ten minutes, then try again with the "
            "code the relay's operator gave you"
        )

    def wrong(self, address: str) -> int:
        """Count a wrong code from ``address``; how many it sent within the window."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            self._all.append(now)
            mine = self._by_address.setdefault(address, deque())
            mine.append(now)
            return len(mine)

    def _expire(self, now: float) -> None:
        while self._all and now - self._all[0] > self.window_s:
            self._all.popleft()
        for address in list(self._by_address):
            times = self._by_address[address]
            while times and now - times[0] > self.window_s:
                times.popleft()
            if not times:
                del self._by_address[address]


class JoinCodesFeature(ClientsFeature):
    """Making join codes, and exchanging one for a token (a per-client token, as
    :class:`ClientsFeature` gives them)."""

    tls_ca_path: Path | None = None
    """The relay's own CA certificate, when it speaks HTTPS with one (set by ``build_service``)."""

    def tls_ca_certificate(self) -> bytes:
        """The PEM of the relay's own CA, which clients pin.

        Raises:
            NotFound: the relay does not speak HTTPS with a CA of its own.
        """
        if self.tls_ca_path is None:
            raise NotFound("this relay has no CA of its own (it does not run with tls = true)")
        try:
            return self.tls_ca_path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the relay's CA certificate {self.tls_ca_path} is missing") from None

    @cached_property
    def join_guesses(self) -> GuessLimit:
        """The wrong codes this relay has counted."""
        return GuessLimit()

    def create_join_code(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        client_id: str | None = None,
        shared_token: str | None = None,
    ) -> IssuedJoinCode:
        """A new single-use code, valid for ``ttl_s`` seconds.

        ``client_id`` fixes the id it registers (per-client mode; an existing client's token is
        then replaced). ``shared_token`` is the token it hands over (shared mode; needed there).

        Raises:
            InvalidInput: a bad time to live or client id, an open relay, or shared mode without
                the shared token.
        """
        if not 0 < ttl_s <= MAX_TTL_S:
            raise InvalidInput(f"a join code lives between 1 second and {MAX_TTL_S // 86400} days")
        if self.auth_mode == "open":
            raise InvalidInput(
                "this relay runs open (no tokens): a new machine needs only its URL "
                "(`agent-relay onboard --relay-url URL`)"
            )
        if client_id is not None:
            validate_client_identity(client_id)
            if self.auth_mode == "shared":
                raise InvalidInput(
                    "--client-id is for per-client mode; in shared mode each machine names itself"
                )
        if self.auth_mode == "shared" and not shared_token:
            raise InvalidInput("in shared mode the join code needs the shared token to hand over")
        secret = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        stamp = now_ms()
        expires = stamp + int(ttl_s * 1000)
        with self.storage.transaction():
            join_codes.forget_join_codes(stamp - FORGET_AFTER_MS)
            join_codes.add_join_code(
                _code_hash(secret),
                client_id=client_id,
                sealed_token=seal(shared_token, secret) if shared_token else None,
                created_ms=stamp,
                expires_ms=expires,
            )
        return IssuedJoinCode(format_code(secret), client_id, expires)

    def exchange_join_code(self, code: str, *, client_id: str | None, source: str) -> Joined:
        """Spend ``code`` for a token; ``client_id`` is the id the new machine asks for.

        Raises:
            RateLimited: too many wrong codes lately (from ``source``, or from everyone).
            Unauthorized: the code is unknown, spent, expired or malformed (counted).
            Conflict: ``client_id`` already holds a token (per-client mode; the code is kept).
            InvalidInput: no usable ``client_id`` where one is needed (the code is kept).
        """
        self.join_guesses.check(source)
        try:
            secret = normalise_code(code)
        except InvalidInput:
            secret = ""
        stamp = now_ms()
        with self.storage.transaction():
            stored = join_codes.find_join_code(_code_hash(secret)) if secret else None
            reason = _unusable(stored, stamp) if secret else "malformed code"
            if stored is None or reason:
                joined = None
            else:
                joined = self._hand_over(secret, stored, client_id, stamp)
        if joined is None:
            count = self.join_guesses.wrong(source)
            log.warning(
                "join code refused from %s: %s (%d wrong from there in %d min)",
                source,
                reason or "not accepted",
                count,
                GUESS_WINDOW_S // 60,
            )
            raise Unauthorized(_REFUSED + "; ask the relay's operator for a new one")
        if self.auth_mode == "per-client":
            self._tokens_changed()
        log.info("join code used by %s from %s", joined.client_id, source)
        return joined

    def _hand_over(
        self,
        secret: str,
        stored: join_codes.StoredJoinCode,
        asked: str | None,
        stamp: int,
    ) -> Joined | None:
        """Spend the code and give out the token; None when another exchange spent it first."""
        who = stored.client_id or asked
        if who is None:
            raise InvalidInput("send client_id: the name this machine should have on the relay")
        validate_client_identity(who)
        if self.auth_mode == "shared":
            if stored.sealed_token is None:
                raise Conflict("this join code was made for per-client mode; ask for a new one")
            token = unseal(stored.sealed_token, secret)
        else:
            if stored.client_id is None and not clients.unregistered([who]):
                raise Conflict(
                    f"client {who!r} already holds a token on this relay: choose another client "
                    f"id, or ask the operator for `agent-relay-server join-code --client-id {who}`"
                    ", which replaces its token"
                )
            token = secrets.token_urlsafe(32)
        if not join_codes.spend_join_code(_code_hash(secret), stamp, who):
            return None
        if self.auth_mode == "per-client":
            clients.set_token(who, hash_token(token), stamp)
        return Joined(client_id=who, token=token, auth_mode=self.auth_mode)


def _unusable(stored: join_codes.StoredJoinCode | None, stamp: int) -> str | None:
    """Why a code cannot be used now (for the log), or None."""
    if stored is None:
        return "unknown code"
    if stored.used_ms is not None:
        return "used already"
    if stored.expires_ms <= stamp:
        return "expired"
    return None
