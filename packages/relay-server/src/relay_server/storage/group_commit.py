"""Group commit: concurrent writes share one transaction, so they share one fsync.

Each write is a function run inside a transaction. :meth:`GroupCommit.run` queues it, and the
first thread to find no writer at work becomes the leader: it begins a transaction (waiting for
the database's writer lock), takes every write queued by then, runs each in a savepoint, commits
once, runs each write's ``then`` in queue order, and only then answers the writers, so no one
is answered before the commit holding its write is durable. While it committed, more writes
queued; it hands the lead to the first of them and returns. A lone writer leads itself and runs
in its own thread, so an uncontended write pays no thread hop.

An event loop's coroutine writes with :meth:`GroupCommit.run_async` and never blocks: its write
joins the same queue, and a writer thread of the queue's own leads in its place. A write is
answered from the leader through ``call_soon_threadsafe``, once per loop for a whole group, so
a send from a coroutine costs one wake-up of the writer and one of the loop, not a worker
thread's round trip.

- One write that raises rolls back its savepoint only: it gets its error, the others commit.
  (A write alone in its group needs no savepoint: its transaction is its own.)
- A commit that fails (a full disk) fails no write it did not have to: when a group of several
  fails to commit, each of its writes is tried again alone.
- Writes commit, and their ``then`` run, in queue order, group after group: ids that a write
  takes from an autoincrement follow commit order, and so do the events a ``then`` publishes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from peewee import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_GROUP: Final = 256
"""At most this many writes share one transaction (a bound on how long one commit holds)."""


class _Write(Generic[T]):
    """One queued write, its outcome, and how its writer hears of it: the flag its thread
    waits on, or the future its coroutine awaits."""

    __slots__ = ("error", "finished", "future", "lead", "result", "then", "wake", "work")

    def __init__(
        self,
        work: Callable[[], T],
        then: Callable[[T], None] | None,
        future: asyncio.Future[T] | None = None,
    ) -> None:
        self.work = work
        self.then = then
        self.future = future
        self.result: T | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False
        self.wake = threading.Event() if future is None else None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when it finished without error


class GroupCommit:
    """The write queue of one database (see the module's docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._mutex = threading.Lock()
        self._queue: deque[_Write[Any]] = deque()
        self._leading = False
        self.groups = 0
        """How many groups committed (tests compare it with the writes they made)."""
        self._context = contextvars.copy_context()
        """Where the writer thread runs: the context that opened the database binds it."""
        self._writer: _Writer | None = None

    def pending(self) -> int:
        """How many writes wait for a commit."""
        with self._mutex:
            return len(self._queue)

    def run(self, work: Callable[[], T], then: Callable[[T], None] | None = None) -> T:
        """Run ``work`` in a transaction shared with concurrent writes; its result once durable.

        ``then`` gets the result after the commit, in commit order, before the next group
        begins (for wake-ups that must follow commit order). Raises what ``work`` raised, or
        what failed its commit; either way nothing of ``work`` was kept.
        """
        if self.database.in_transaction():
            return self._within_own_transaction(work, then)
        write = _Write(work, then)
        with self._mutex:
            self._queue.append(write)
            if not self._leading:
                self._leading = write.lead = True
        while True:
            if write.lead:
                write.lead = False
                self._lead()
            if write.finished:
                return write.outcome()
            assert write.wake is not None  # a thread's write
            write.wake.wait()
            write.wake.clear()

    async def run_async(self, work: Callable[[], T], then: Callable[[T], None] | None = None) -> T:
        """:meth:`run` for a coroutine: the same queue and guarantees, and the event loop never
        blocks (the writer thread leads when no thread does).

        A cancelled caller stops waiting, but its write, once queued, is committed all the same
        (like a request whose client hung up after sending it).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        write = _Write(work, then, future)
        with self._mutex:
            self._queue.append(write)
            idle = not self._leading
            self._leading = True
        if idle:
            self._writer_leads()
        return await future

    def stop(self) -> None:
        """Finish the writes handed to the writer thread and end it (with its connection).
        A later :meth:`run_async` starts another."""
        with self._mutex:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.leads.put(False)
            writer.thread.join()

    def _writer_leads(self) -> None:
        """Have the writer thread lead the next group (starting the thread if none runs)."""
        with self._mutex:
            if self._writer is None:
                self._writer = _Writer(self._context.copy(), self._lead, self.database.close)
            writer = self._writer
        writer.leads.put(True)

    def _within_own_transaction(self, work: Callable[[], T], then: Callable[[T], None] | None) -> T:
        """A write from a thread already in a transaction is part of that transaction: no other
        thread's write may ride on a commit this thread has not made yet."""
        with self.database.atomic():  # a savepoint
            result = work()
        if then is not None:
            when_committed: Callable[[Callable[[], None]], None] | None = getattr(
                self.database, "when_committed", None
            )
            if when_committed is None:
                then(result)
            else:
                when_committed(lambda: then(result))
        return result

    def _lead(self) -> None:
        """Commit one group, then hand the lead to the next queued write, if any."""
        try:
            self._commit_group()
        finally:
            with self._mutex:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._leading = False
                elif successor.wake is not None:
                    successor.lead = True
            if successor is not None and successor.wake is not None:
                successor.wake.set()
            elif successor is not None:  # a coroutine's write: no thread of its own to lead
                self._writer_leads()

    def _commit_group(self) -> None:
        group: list[_Write[Any]] = []
        try:
            with self.database.atomic():  # the outermost: waits for the writer lock
                with self._mutex:
                    while self._queue and len(group) < MAX_GROUP:
                        group.append(self._queue.popleft())
                self._run_all(group)
        except BaseException as error:
            if not group:  # BEGIN failed: the write at the head gets the error, not a retry loop
                with self._mutex:
                    group = [self._queue.popleft()] if self._queue else []
            if len(group) > 1 and isinstance(error, Exception):
                for write in group:  # the commit failed: try each alone
                    write.error, write.result = None, None
                    self._commit_alone(write)
                return
            for write in group:
                write.error = write.error or error
            self._finish(group)
            if not isinstance(error, Exception):
                raise
            return
        self.groups += 1
        self._finish(group)

    def _run_all(self, group: list[_Write[Any]]) -> None:
        if len(group) == 1:
            group[0].result = group[0].work()  # an error rolls the transaction back
            return
        for write in group:
            try:
                with self.database.atomic():  # a savepoint
                    write.result = write.work()
            except Exception as error:
                write.error = error

    def _commit_alone(self, write: _Write[Any]) -> None:
        try:
            with self.database.atomic():
                write.result = write.work()
        except Exception as error:
            write.error = error
        else:
            self.groups += 1
        self._finish([write])

    @staticmethod
    def _finish(group: list[_Write[Any]]) -> None:
        """Run each write's ``then`` (after a commit that kept it) in order, and answer each:
        a thread through its flag, coroutines with one call into each event loop."""
        answers: dict[asyncio.AbstractEventLoop, list[_Write[Any]]] = {}
        for write in group:
            if write.error is None and write.then is not None:
                try:
                    write.then(write.result)
                except Exception:  # the write is durable: a failed wake-up must not undo it
                    log.exception("after-commit step of a write failed")
            write.finished = True
            if write.wake is not None:
                write.wake.set()
            else:
                assert write.future is not None
                answers.setdefault(write.future.get_loop(), []).append(write)
        for loop, writes in answers.items():
            try:
                loop.call_soon_threadsafe(_answer, writes)
            except RuntimeError:  # the loop closed: nobody awaits these any more
                log.warning("%d writes committed after their event loop closed", len(writes))


def _answer(writes: list[_Write[Any]]) -> None:
    """In the writers' event loop: settle their futures (unless a writer stopped waiting)."""
    for write in writes:
        future = write.future
        if future is None or future.done():
            continue
        if write.error is not None:
            future.set_exception(write.error)
        else:
            future.set_result(write.result)


class _Writer:
    """The thread that leads groups for coroutines' writes, one group per ``True`` it gets."""

    def __init__(
        self, context: contextvars.Context, lead: Callable[[], None], close: Callable[[], object]
    ) -> None:
        self.leads: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._lead, self._close = lead, close
        self.thread = threading.Thread(
            target=context.run, args=(self._run,), name="relay-group-commit", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        try:
            while self.leads.get():
                try:
                    self._lead()
                except BaseException:  # its writes have their error; the queue must go on
                    log.exception("a group commit failed in the writer thread")
        finally:
            self._close()  # the thread's own connection
