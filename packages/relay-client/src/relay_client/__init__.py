"""The agent-relay client: this machine's config, peer roster and cursors, and the relay's HTTP
API as :class:`RelayClient`. The ``agent-relay`` command line (:mod:`relay_client.cli`) is built
on these; skills and other tools may import them too.
"""

from relay_client.api import DigestMismatch, Download, RelayClient, UploadResult
from relay_client.config import ClientConfig, NotConfigured
from relay_client.cursors import Cursors
from relay_client.files import StateFileError
from relay_client.partial import partial_path
from relay_client.paths import DataPaths, data_root
from relay_client.roster import Roster, RosterPeer

__version__ = "0.1.0"

__all__ = [
    "ClientConfig",
    "Cursors",
    "DataPaths",
    "DigestMismatch",
    "Download",
    "NotConfigured",
    "RelayClient",
    "Roster",
    "RosterPeer",
    "StateFileError",
    "UploadResult",
    "data_root",
    "partial_path",
]
