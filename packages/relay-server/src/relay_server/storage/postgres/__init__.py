"""The PostgreSQL backend: a relay's database on a PostgreSQL server, migrated on open.

Selected by a ``postgresql://`` database URL (``RELAY_DATABASE_URL`` or ``database_url``), handed
to libpq as it is, so every libpq URL parameter works (``sslmode``, ``options``, ...). It needs
the ``psycopg`` driver: ``pip install 'relay-server[postgresql]'``. SQL only PostgreSQL speaks
is in :mod:`.dialect`.
"""

from __future__ import annotations

from relay_core import Unavailable
from relay_server.storage.migrations import migrate
from relay_server.storage.models import bind
from relay_server.storage.postgres.database import RelayPostgresDatabase

__all__ = ["open_postgres"]


def open_postgres(url: str) -> RelayPostgresDatabase:
    """Connect to the database ``url`` names, bind the models to it and migrate it.

    Raises:
        Unavailable: the driver is not installed, or the server cannot be reached.
    """
    try:
        import psycopg  # noqa: F401 - only to say plainly what is missing
    except ImportError:
        raise Unavailable(
            "the PostgreSQL backend needs the psycopg driver:"
            " pip install 'relay-server[postgresql]'"
        ) from None
    db = RelayPostgresDatabase(url)
    bind(db)
    try:
        db.connect(reuse_if_open=True)
    except Exception as error:
        raise Unavailable(
            f"cannot connect to PostgreSQL: {_without_password(str(error), url)}"
        ) from None
    migrate(db, db.dialect)
    return db


def _without_password(text: str, url: str) -> str:
    """``text`` with the URL's password, if it has one, blanked out."""
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return text.replace(password, "***") if password else text
