"""Changes announced to every relay on the database: LISTEN/NOTIFY.

Two triggers (made by the ``m010_notify`` migration) announce, in the transaction that makes
it, each new message (``["m", id, sender, session name]``) and each change to a session or its
participants (``["r"]``). PostgreSQL delivers notifications after their transaction commits,
in commit order, to every connection that listens; since every write transaction holds the
relay's write lock, that is also message id order.

The channel is named after the schema the relay's tables are in (``relay:<schema>``), so relays
that share a database but not a schema do not hear each other.

:class:`ChangeListener` listens on a connection of its own (autocommit), in a thread of its
own: it blocks on the socket, waking every :data:`WAIT_S` only to see whether it should stop.
A lost connection is opened again with a growing pause; since what was announced meanwhile is
gone, it then calls ``on_resync`` (everyone re-reads) and forgets the cached rosters.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from peewee import Database

from relay_server.storage import roster
from relay_server.storage.dialect import execute_sql

log = logging.getLogger(__name__)

WAIT_S: Final = 0.25
"""How long one wait for notifications blocks before the thread looks at its stop flag."""
RETRY_FIRST_S: Final = 0.05
RETRY_MAX_S: Final = 5.0
"""The pause before reconnecting starts at the first and doubles up to the second."""
APPLICATION_NAME: Final = "agent-relay-listener"
"""What the listening connection calls itself in ``pg_stat_activity``."""

_TRIGGERS: Final = """
CREATE OR REPLACE FUNCTION relay_announce_message() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('relay:' || current_schema(), json_build_array(
        'm', NEW.id, NEW.sender, (SELECT name FROM session WHERE id = NEW.session_id))::text);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION relay_announce_roster() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('relay:' || current_schema(), '["r"]');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER relay_announce_message AFTER INSERT ON message
    FOR EACH ROW EXECUTE FUNCTION relay_announce_message();
CREATE TRIGGER relay_announce_session AFTER INSERT OR UPDATE OR DELETE ON session
    FOR EACH STATEMENT EXECUTE FUNCTION relay_announce_roster();
CREATE TRIGGER relay_announce_participant AFTER INSERT OR UPDATE OR DELETE ON participant
    FOR EACH STATEMENT EXECUTE FUNCTION relay_announce_roster();
"""

OnMessage = Callable[[int, str, str], None]
"""Hears a committed message: its id, its sender and its session's name."""


def create_triggers(db: Database) -> None:
    """Make the triggers that announce messages and roster changes (see the module)."""
    execute_sql(db, _TRIGGERS)


class ChangeListener:
    """Listens for the relay's notifications on its own connection, in its own thread.

    ``on_message`` and ``on_resync`` run in that thread, in the order of the notifications;
    rosters are forgotten here, in the storage layer, before anything is called.
    """

    def __init__(self, url: str, on_message: OnMessage, on_resync: Callable[[], None]) -> None:
        self.url = url
        self.on_message = on_message
        self.on_resync = on_resync
        self.connects = 0
        """How many times the listener connected (tests wait for a reconnect on it)."""
        self.listening = False
        """Whether the connection is up and listening right now."""
        self.backend_pid: int | None = None
        """The server process of the listening connection (tests end it to cut the line)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChangeListener:
        """Connect and LISTEN (before returning, so nothing committed after this is missed),
        then listen in a daemon thread. A failed first connect is retried by the thread."""
        connection = self._connect_or_none()
        context = contextvars.copy_context()  # the relay's database, bound where it was built
        self._thread = threading.Thread(
            target=context.run, args=(self._run, connection), name="relay-listener", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and close the connection (within about :data:`WAIT_S`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _connect_or_none(self) -> Any:
        import psycopg
        from psycopg import sql

        connection = None
        try:
            connection = psycopg.connect(
                self.url, autocommit=True, application_name=APPLICATION_NAME
            )
            schema = connection.execute("SELECT current_schema()").fetchone()
            channel = sql.Identifier(f"relay:{schema[0] if schema else 'public'}")
            connection.execute(sql.SQL("LISTEN {}").format(channel))
        except psycopg.Error as error:
            log.warning("cannot listen for other relays' changes: %s", error)
            if connection is not None:
                connection.close()
            return None
        self.connects += 1
        self.listening = True
        self.backend_pid = connection.info.backend_pid
        return connection

    def _run(self, connection: Any) -> None:
        pause = RETRY_FIRST_S
        while not self._stop.is_set():
            if connection is None:
                if self._stop.wait(pause):
                    break
                pause = min(pause * 2, RETRY_MAX_S)
                connection = self._connect_or_none()
                if connection is not None:
                    log.info("listening for other relays' changes again")
                    self._resync()
                continue
            pause = RETRY_FIRST_S
            try:
                self._listen(connection)
            except Exception as error:  # the server went away, or the network did
                log.warning("lost the connection that hears other relays: %s", error)
            self.listening = False
            connection.close()
            connection = None
        if connection is not None:
            connection.close()

    def _listen(self, connection: Any) -> None:
        while not self._stop.is_set():
            for notification in connection.notifies(timeout=WAIT_S):
                self._dispatch(notification.payload)

    def _dispatch(self, payload: str) -> None:
        try:
            kind, *fields = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignored a notification that is not the relay's: %r", payload[:80])
            return
        try:
            if kind == "r":
                roster.forget_all()
            elif kind == "m" and fields[2] is not None:
                self.on_message(int(fields[0]), str(fields[1]), str(fields[2]))
        except Exception:  # one bad notification must not end the listening
            log.exception("handling a notification failed: %r", payload[:80])

    def _resync(self) -> None:
        roster.forget_all()
        try:
            self.on_resync()
        except Exception:
            log.exception("resync after reconnecting failed")
