"""The content-addressed file store: blobs on disk, written and read verified, collected by gc.

:class:`BlobStore` (``store``) is the entry point; it hands out an :class:`Upload` to write a
blob and a :class:`BlobReader` to read one. ``files`` knows the store's names on disk and scans
it, for the store and for the maintenance commands that run in another process.
"""

from __future__ import annotations

from relay_server.storage.blobs.files import (
    CORRUPT_SUFFIX,
    QUARANTINE_DIR,
    STALE_TEMP_S,
    TEMP_SUFFIX,
    claim_leftover,
)
from relay_server.storage.blobs.reader import BlobReader
from relay_server.storage.blobs.records import GcReport, StoredBlob, Usage
from relay_server.storage.blobs.store import BlobStore
from relay_server.storage.blobs.upload import Upload

__all__ = [
    "CORRUPT_SUFFIX",
    "QUARANTINE_DIR",
    "STALE_TEMP_S",
    "TEMP_SUFFIX",
    "BlobReader",
    "BlobStore",
    "GcReport",
    "StoredBlob",
    "Upload",
    "Usage",
    "claim_leftover",
]
