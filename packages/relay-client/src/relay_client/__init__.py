"""The agent-relay client: this machine's config, peer roster and cursors, and the relay's HTTP
API as :class:`RelayClient`. The ``agent-relay`` command line (:mod:`relay_client.cli`) is built
on these; skills and other tools may import them too.

The names are imported on first use (PEP 562): ``import relay_client.cli`` loads neither requests
nor pydantic until a command needs them, which keeps ``agent-relay --version`` quick.
"""

import typing

from relay_core import lazy_exports as _lazy

# Module imports only: any other public name here would have to be in __all__.

if typing.TYPE_CHECKING:
    from relay_client.api import (
        DigestMismatch,
        Download,
        MisdirectedHost,
        RelayClient,
        UploadResult,
    )
    from relay_client.config import ClientConfig, NotConfigured
    from relay_client.cursors import Cursors
    from relay_client.files import StateFileError
    from relay_client.partial import partial_path
    from relay_client.paths import DataPaths, data_root
    from relay_client.roster import Roster, RosterPeer

_SOURCES: typing.Final[dict[str, str]] = {
    "DigestMismatch": "relay_client.api",
    "Download": "relay_client.api",
    "MisdirectedHost": "relay_client.api",
    "RelayClient": "relay_client.api",
    "UploadResult": "relay_client.api",
    "ClientConfig": "relay_client.config",
    "NotConfigured": "relay_client.config",
    "Cursors": "relay_client.cursors",
    "StateFileError": "relay_client.files",
    "partial_path": "relay_client.partial",
    "DataPaths": "relay_client.paths",
    "data_root": "relay_client.paths",
    "Roster": "relay_client.roster",
    "RosterPeer": "relay_client.roster",
}
"""The module each public name lives in, imported when the name is first used."""

__version__ = "0.1.0"

__all__ = [
    "ClientConfig",
    "Cursors",
    "DataPaths",
    "DigestMismatch",
    "Download",
    "MisdirectedHost",
    "NotConfigured",
    "RelayClient",
    "Roster",
    "RosterPeer",
    "StateFileError",
    "UploadResult",
    "data_root",
    "partial_path",
]


__getattr__, __dir__ = _lazy.lazy_exports(__name__, _SOURCES)
