"""The server's tests run on every storage backend: each module's shared ``relay`` once on
SQLite and once on PostgreSQL (``BACKENDS`` in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def relay_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the module's shared ``relay``: each in turn."""
    backend: str = request.param
    return backend
