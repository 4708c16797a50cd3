"""The relay with SQLite ``synchronous=NORMAL``: a what-if, for bench/durability.py only.

Runs ``agent-relay-server`` exactly as ``python -m relay_server`` does, after changing one
pragma: in WAL mode, NORMAL skips the fsync at each commit (a commit survives a crash of the
relay, but not a power cut). The relay has no setting for this on purpose; this module exists
so the bench can show what the per-send fsync costs.
"""

from __future__ import annotations

from relay_server.cli import main
from relay_server.storage.sqlite.database import PRAGMAS

if __name__ == "__main__":
    PRAGMAS["synchronous"] = "normal"
    main()
