"""Subcommands imported on first use, so that a command loads only its own module.

``agent-relay`` runs once per action a skill takes, and ``agent-relay --version`` must not pay
for the HTTP client and the models that ``send`` needs. A group is given its commands as
``"module:attribute"`` paths in a :class:`LazyCommands` mapping: listing the names (what
``--help`` and shell completion start from) imports nothing, and looking one up imports the one
module that defines it (the pattern of click's documentation, "Lazily Loading Subcommands").
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

import click


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's ``commands``: a name maps to a command, or to where to import it from."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._entries: dict[str, click.Command | str] = dict(paths)

    def __getitem__(self, name: str) -> click.Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = _load(name, entry)
        return entry

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _load(name: str, path: str) -> click.Command:
    module_name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(f"{path} is not the click command {name!r}")
    return command
