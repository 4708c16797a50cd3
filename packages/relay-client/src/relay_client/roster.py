"""``peers.toml``: friendly names for other clients, so people can write ``--to bob``.

The file is a list of tables::

    [[peers]]
    name = "bob"
    client_id = "bob-workstation"
    notes = "builds the Linux images"

Wherever the command line takes a client id it also takes a peer's name; :meth:`Roster.resolve`
does the translation (a roster name wins over a client id spelled the same way).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import tomli_w

from relay_client.files import StateFileError, parse_toml, read_text, write_atomic
from relay_core import Conflict, InvalidInput, NotFound, validate_client_id, validate_peer_name
from relay_core.names import ROLE_PREFIX, validate_address

PEER_KEYS: Final = ("name", "client_id", "notes")
_PEERS_HEADER_RE: Final = re.compile(r"^\s*\[\[\s*peers\s*\]\]")


@dataclass(frozen=True)
class RosterPeer:
    """One entry of the roster."""

    name: str
    client_id: str
    notes: str = ""

    def __post_init__(self) -> None:
        validate_peer_name(self.name)
        validate_client_id(self.client_id)
        if not isinstance(self.notes, str):
            raise InvalidInput(f"notes must be a string, got {type(self.notes).__name__}")


class Roster:
    """The peers of one machine, in file order, loaded from and saved to ``peers.toml``."""

    def __init__(self, path: Path, peers: list[RosterPeer] | None = None) -> None:
        self.path = path
        self._peers: dict[str, RosterPeer] = {}
        for peer in peers or []:
            self._insert(peer)

    @classmethod
    def load(cls, path: Path) -> Roster:
        """Read ``peers.toml``; a missing file is an empty roster.

        Raises:
            StateFileError: the file is not valid TOML or an entry breaks a rule (an unknown key,
                a bad name, a name listed twice); the message names the file and the line.
        """
        text = read_text(path)
        if text is None:
            return cls(path)
        data = parse_toml(path, text)
        unknown = [key for key in data if key != "peers"]
        if unknown:
            raise StateFileError(path, f"unknown key {unknown[0]!r} (only [[peers]] tables)")
        entries = data.get("peers", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise StateFileError(path, "peers must be a list of [[peers]] tables")
        header_lines = [
            number
            for number, line in enumerate(text.splitlines(), start=1)
            if _PEERS_HEADER_RE.match(line)
        ]
        roster = cls(path)
        for index, entry in enumerate(entries):
            line = header_lines[index] if index < len(header_lines) else None
            try:
                roster._insert(_peer_from_table(entry))
            except InvalidInput as exc:
                raise StateFileError(path, f"peer #{index + 1}: {exc.message}", line=line) from None
        return roster

    def save(self) -> None:
        """Write ``peers.toml`` atomically."""
        # One [[peers]] table each, as people write them (tomli_w would inline short tables).
        text = "\n".join(
            "[[peers]]\n" + tomli_w.dumps(asdict(peer)) for peer in self._peers.values()
        )
        write_atomic(self.path, text.encode("utf-8"))

    def __iter__(self) -> Iterator[RosterPeer]:
        return iter(list(self._peers.values()))

    def __len__(self) -> int:
        return len(self._peers)

    def get(self, name: str) -> RosterPeer | None:
        """The peer called ``name``, if any."""
        return self._peers.get(name)

    def add(
        self, name: str, client_id: str, notes: str = "", *, replace: bool = False
    ) -> RosterPeer:
        """Add a peer (in memory; call :meth:`save`).

        Raises:
            InvalidInput: the name or client id is not valid.
            Conflict: the name is taken and ``replace`` is false.
        """
        peer = RosterPeer(name, client_id, notes)
        if name in self._peers and not replace:
            raise Conflict(
                f"peer {name!r} already exists (client id {self._peers[name].client_id})"
            )
        self._peers[name] = peer
        return peer

    def remove(self, name: str) -> RosterPeer:
        """Remove a peer (in memory; call :meth:`save`).

        Raises:
            NotFound: no peer has that name.
        """
        try:
            return self._peers.pop(name)
        except KeyError:
            raise NotFound(f"no peer named {name!r} in {self.path}") from None

    def resolve(self, name_or_id: str) -> str:
        """The client id a peer name stands for, or ``name_or_id`` itself if it is a client id
        or a role address (``@reviewer``: the relay finds its holder).

        Raises:
            InvalidInput: it is neither a peer's name, a valid client id nor a role address.
        """
        peer = self._peers.get(name_or_id)
        if peer is not None:
            return peer.client_id
        if name_or_id.startswith(ROLE_PREFIX):
            return validate_address(name_or_id)
        return validate_client_id(name_or_id)

    def name_for(self, client_id: str) -> str | None:
        """The friendly name of a client id, if the roster has one."""
        for peer in self._peers.values():
            if peer.client_id == client_id:
                return peer.name
        return None

    def _insert(self, peer: RosterPeer) -> None:
        if peer.name in self._peers:
            raise InvalidInput(f"the name {peer.name!r} is listed more than once")
        self._peers[peer.name] = peer


def _peer_from_table(entry: dict[str, Any]) -> RosterPeer:
    for key in entry:
        if key not in PEER_KEYS:
            raise InvalidInput(f"unknown key {key!r} (the keys are {', '.join(PEER_KEYS)})")
    for key in ("name", "client_id"):
        if key not in entry:
            raise InvalidInput(f"missing key {key!r}")
    for key, value in entry.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{key} must be a string, got {type(value).__name__}")
    return RosterPeer(entry["name"], entry["client_id"], entry.get("notes", ""))
