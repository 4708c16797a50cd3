"""RelayService: every use case of the relay, in one place, one module per feature.

Adapters (MCP tools, HTTP API) parse requests and shape answers; every decision about data is
made here. The caller's client id is always passed in explicitly by the adapter that
authenticated it, never taken from a request body.

Methods are synchronous and short (they run in worker threads, one database connection per
thread), except the waits, which are async and hold no thread while they wait. A send goes
through ``Storage.write``: concurrent writes share one transaction and one fsync (group commit),
and each signals the event hub only after that commit, so a woken reader always finds the row.
"""

from relay_server.service.base import RelayLimits
from relay_server.service.relay import RelayService
from relay_server.service.replicas import Replicas
from relay_server.service.watch import MessageListener, Watch

__all__ = ["MessageListener", "RelayLimits", "RelayService", "Replicas", "Watch"]
