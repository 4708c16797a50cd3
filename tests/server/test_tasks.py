"""Task hand-off in the service: the lifecycle table, roles, leases, the claim race, the message
of every change, and waits woken by changes made elsewhere.

The service runs in process on a real SQLite file (no adapter: the adapters' own tests are in
test_task_tools.py). Leases are tested with an injected clock, never a sleep.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from relay_core import (
    Conflict,
    CreateSessionRequest,
    Forbidden,
    InvalidInput,
    NotFound,
    RelayError,
    now_ms,
)
from relay_core.tasks import (
    MOVES,
    TASK_STATES,
    ClaimRequest,
    HandoffRequest,
    TaskState,
    UpdateTaskRequest,
)
from relay_server.events import EventHub
from relay_server.service import RelayService
from relay_server.storage import clients, open_storage
from tests.conftest import service_on

pytestmark = pytest.mark.anyio

GIVER, WORKER, OTHER = "alpha", "b", "c"


class Clock:
    """The service's task clock, moved by the test."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[RelayService]:
    """A service on an empty database of each backend with session ``team`` of alpha, b and c,
    on a clock."""
    storage = open_storage(database_url)
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    service = service_on(storage, hub)
    service.task_clock = Clock()
    service.create_session(GIVER, CreateSessionRequest(name="team", participants=[WORKER, OTHER]))
    service.create_session(OTHER, CreateSessionRequest(name="elsewhere"))
    yield service
    service.stop()
    storage.close()


def give(service: RelayService, assignee: str | None = WORKER, title: str = "Build it") -> int:
    request = HandoffRequest(title=title, details="all of it", assignee=assignee)
    return service.handoff_task(GIVER, "team", request).id


def move(service: RelayService, who: str, task_id: int, state: TaskState | None, note: str = ""):
    return service.update_task(who, task_id, UpdateTaskRequest(state=state, note=note))


PATHS: dict[TaskState, list[tuple[str, TaskState]]] = {
    "submitted": [],
    "working": [(WORKER, "working")],
    "input-required": [(WORKER, "working"), (WORKER, "input-required")],
    "completed": [(WORKER, "working"), (WORKER, "completed")],
    "failed": [(WORKER, "working"), (WORKER, "failed")],
    "canceled": [(GIVER, "canceled")],
    "rejected": [(WORKER, "rejected")],
}
"""How to bring a new task (assigned to b) into each state."""

WHO: dict[str, str] = {"giver": GIVER, "assignee": WORKER}


def task_in(service: RelayService, state: TaskState) -> int:
    task_id = give(service)
    for who, to in PATHS[state]:
        move(service, who, task_id, to)
    assert service.get_task(GIVER, task_id).state == state
    return task_id


LEGAL = [(start, to) for (start, to), role in MOVES.items() if role != "relay"]
ILLEGAL = [(s, t) for s in TASK_STATES for t in TASK_STATES if (s, t) not in MOVES]


@pytest.mark.parametrize(("start", "to"), LEGAL)
async def test_every_legal_move_is_made_by_its_role_and_recorded(service, start, to):
    task_id = task_in(service, start)
    before = len(service.get_task(GIVER, task_id).history)
    task = move(service, WHO[MOVES[(start, to)]], task_id, to, note="because")
    assert task.state == to
    assert len(task.history) == before + 1
    last = task.history[-1]
    assert (last.from_state, last.state, last.note, last.role) == (
        start,
        to,
        "because",
        MOVES[(start, to)],
    )


@pytest.mark.parametrize(("start", "to"), ILLEGAL)
async def test_every_illegal_move_is_refused_with_the_legal_ones_and_changes_nothing(
    service, start, to
):
    task_id = task_in(service, start)
    before = service.get_task(GIVER, task_id)
    for who in (GIVER, WORKER):
        with pytest.raises(Conflict) as raised:
            move(service, who, task_id, to)
        legal = [t for (s, t), r in MOVES.items() if s == start and r != "relay"]
        assert raised.value.details["legal"] == legal
        assert (f"legal moves from {start}" if legal else "no move is legal") in str(raised.value)
    assert service.get_task(GIVER, task_id) == before


@pytest.mark.parametrize(("start", "to"), [m for m in LEGAL if MOVES[m] == "assignee"])
async def test_only_the_assignee_works_completes_or_fails(service, start, to):
    task_id = task_in(service, start)
    before = service.get_task(GIVER, task_id)
    for stranger in (GIVER, OTHER):
        with pytest.raises(Forbidden):
            move(service, stranger, task_id, to)
    assert service.get_task(GIVER, task_id) == before


@pytest.mark.parametrize(("start", "to"), [m for m in LEGAL if MOVES[m] == "giver"])
async def test_only_the_giver_cancels_or_answers(service, start, to):
    task_id = task_in(service, start)
    before = service.get_task(GIVER, task_id)
    for stranger in (WORKER, OTHER):
        with pytest.raises(Forbidden, match=f"only '{GIVER}', who gave task"):
            move(service, stranger, task_id, to)
    assert service.get_task(GIVER, task_id) == before


async def test_a_task_for_anyone_is_claimed_by_whoever_comes_first_and_then_only_it_works(service):
    task_id = give(service, assignee=None)
    task = service.claim_task(OTHER, task_id)
    assert (task.state, task.claimed_by, task.assignee) == ("working", OTHER, None)
    with pytest.raises(Forbidden, match=f"only '{OTHER}', who holds task"):
        move(service, WORKER, task_id, "completed")
    with pytest.raises(Conflict, match=f"is working, held by '{OTHER}'"):
        service.claim_task(WORKER, task_id)
    assert move(service, OTHER, task_id, "completed").state == "completed"


async def test_input_required_goes_back_to_working_when_the_giver_answers(service):
    task_id = task_in(service, "input-required")
    task = move(service, GIVER, task_id, "working", note="use the blue one")
    assert (task.state, task.claimed_by) == ("working", WORKER)
    assert task.history[-1].note == "use the blue one"
    assert move(service, WORKER, task_id, "completed").state == "completed"


async def test_notes_come_from_the_giver_or_the_holder_only_and_never_on_a_final_task(service):
    task_id = task_in(service, "working")
    assert move(service, WORKER, task_id, None, note="halfway").history[-1].note == "halfway"
    assert move(service, GIVER, task_id, None, note="thanks").state == "working"
    with pytest.raises(Forbidden):
        move(service, OTHER, task_id, None, note="me too")
    move(service, WORKER, task_id, "completed")
    with pytest.raises(Conflict, match="completed is final"):
        move(service, GIVER, task_id, None, note="late")


async def test_a_claim_by_another_than_the_assignee_is_refused(service):
    task_id = give(service, assignee=WORKER)
    with pytest.raises(Forbidden, match="assigned to 'b'"):
        service.claim_task(OTHER, task_id)
    assert service.get_task(GIVER, task_id).state == "submitted"


async def test_bad_input_is_refused_and_changes_nothing(service):
    task_id = give(service)
    before = service.get_task(GIVER, task_id)
    listed = service.list_tasks(GIVER)
    with pytest.raises(InvalidInput, match="not a participant"):
        service.handoff_task(GIVER, "team", HandoffRequest(title="x", assignee="nobody"))
    with pytest.raises(InvalidInput, match="not on the relay"):
        service.handoff_task(
            GIVER,
            "team",
            HandoffRequest.parse(
                {"title": "x", "attachments": [{"sha256": "a" * 64, "filename": "in.txt"}]}
            ),
        )
    for bad in (
        {"title": ""},
        {"title": "two\nlines"},
        {"title": "x" * 201},
        {"title": "x", "y": 1},
    ):
        with pytest.raises(InvalidInput):
            HandoffRequest.parse(bad)
    with pytest.raises(InvalidInput):
        UpdateTaskRequest.parse({"state": "done"})
    with pytest.raises(InvalidInput):
        ClaimRequest.parse({"lease_s": 1})
    with pytest.raises(InvalidInput):
        service.get_task(GIVER, -1)
    with pytest.raises(InvalidInput):
        service.list_tasks(GIVER, state="nope")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.get_task(GIVER, 999)
    with pytest.raises(NotFound, match="not in a session of yours"):
        service.get_task("stranger", task_id)
    with pytest.raises(Forbidden):
        service.handoff_task(GIVER, "elsewhere", HandoffRequest(title="x"))
    assert service.get_task(GIVER, task_id) == before
    assert service.list_tasks(GIVER) == listed


async def test_lists_are_filtered_by_session_state_and_mine(service):
    mine = give(service, assignee=WORKER, title="for b")
    theirs = service.handoff_task(OTHER, "elsewhere", HandoffRequest(title="alone")).id
    service.claim_task(WORKER, mine)
    assert [t.id for t in service.list_tasks(OTHER)] == [theirs, mine]
    assert [t.id for t in service.list_tasks(OTHER, "team")] == [mine]
    assert [t.id for t in service.list_tasks(OTHER, mine=True)] == [theirs]
    assert [t.id for t in service.list_tasks(WORKER, mine=True, state="working")] == [mine]
    assert service.list_tasks(WORKER, state="submitted") == []
    with pytest.raises(Forbidden):
        service.list_tasks(WORKER, "elsewhere")


async def test_every_change_is_a_message_in_the_session(service):
    task_id = give(service)
    service.claim_task(WORKER, task_id)
    move(service, WORKER, task_id, "completed", note="done, see log")
    page = service.read_messages(OTHER, "team")
    texts = [m.text for m in page.messages]
    assert texts == [
        f"[task {task_id} submitted by {GIVER} for {WORKER}] Build it\n\nall of it",
        f"[task {task_id} submitted→working by {WORKER}] Build it",
        f"[task {task_id} working→completed by {WORKER}] Build it\n\ndone, see log",
    ]
    history = service.get_task(GIVER, task_id).history
    assert [e.message_id for e in history] == [m.id for m in page.messages]
    assert [m.sender for m in page.messages] == [GIVER, WORKER, WORKER]


async def test_a_lapsed_lease_returns_the_task_to_submitted_with_a_history_entry(service):
    clock: Clock = service.task_clock  # type: ignore[assignment]
    task_id = give(service)
    task = service.claim_task(WORKER, task_id, ClaimRequest(lease_s=60))
    assert task.lease_expires_at is not None
    clock.ms += 59_000
    assert service.get_task(GIVER, task_id).state == "working"
    clock.ms += 2_000
    task = service.get_task(GIVER, task_id)
    assert (task.state, task.claimed_by, task.lease_expires_at) == ("submitted", None, None)
    assert (task.history[-1].by, task.history[-1].role) == ("relay", "relay")
    assert task.history[-1].from_state == "working"
    last = service.read_messages(GIVER, "team").messages[-1]
    assert last.text.startswith(f"[task {task_id} working→submitted by relay] Build it")
    assert "b's claim lapsed" in last.text
    assert service.claim_task(WORKER, task_id).claimed_by == WORKER  # and it can be claimed again


async def test_the_holders_activity_on_the_relay_renews_its_lease(service):
    clock: Clock = service.task_clock  # type: ignore[assignment]
    task_id = give(service)
    service.claim_task(WORKER, task_id, ClaimRequest(lease_s=60))
    for _ in range(5):  # five minutes, seen every 50 s: never lapses
        clock.ms += 50_000
        with service.storage.transaction():
            clients.record_seen(WORKER, clock.ms)
        assert service.get_task(GIVER, task_id).state == "working"
    clock.ms += 50_000
    move(service, WORKER, task_id, None, note="still here")  # a change of its own renews too
    clock.ms += 50_000
    assert service.get_task(GIVER, task_id).state == "working"
    clock.ms += 11_000
    assert service.get_task(GIVER, task_id).state == "submitted"


async def test_a_lapsed_input_required_task_is_returned_too_and_the_lost_holder_cannot_finish(
    service,
):
    clock: Clock = service.task_clock  # type: ignore[assignment]
    task_id = task_in(service, "input-required")
    clock.ms += 10 * 60_000 + 1
    with pytest.raises(Conflict, match="cannot go from submitted to completed"):
        move(service, WORKER, task_id, "completed")
    assert service.get_task(WORKER, task_id).history[-1].from_state == "input-required"


def race_to_claim(service: RelayService, task_id: int, claimers: tuple[str, ...]) -> dict:
    """Each claimer claims on its own thread, all released at once: what each got."""
    barrier = threading.Barrier(len(claimers))
    outcomes: dict[str, object] = {}

    def claim(who: str) -> None:
        barrier.wait()
        try:
            outcomes[who] = service.claim_task(who, task_id).claimed_by
        except RelayError as exc:
            outcomes[who] = exc

    threads = [threading.Thread(target=claim, args=(who,)) for who in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


async def test_of_racing_claimers_exactly_one_wins(service):
    for _ in range(5):
        task_id = give(service, assignee=None)
        outcomes = race_to_claim(service, task_id, (GIVER, WORKER, OTHER))
        winners = [who for who, got in outcomes.items() if got == who]
        assert len(winners) == 1, outcomes
        losers = [got for got in outcomes.values() if got not in winners]
        assert len(losers) == 2, outcomes
        assert all(isinstance(e, Conflict) for e in losers), outcomes
        task = service.get_task(GIVER, task_id)
        assert task.claimed_by == winners[0]
        assert [e.state for e in task.history] == ["submitted", "working"]


async def run_soon(action: Callable[[], object]) -> None:
    await anyio.sleep(0.05)
    await anyio.to_thread.run_sync(action)


async def test_wait_for_task_is_woken_by_a_change_made_elsewhere(service):
    task_id = give(service)
    service.claim_task(WORKER, task_id)
    async with anyio.create_task_group() as group:
        group.start_soon(run_soon, lambda: move(service, WORKER, task_id, "completed", "ok"))
        with anyio.fail_after(10):
            waited = await service.wait_for_task(GIVER, task_id, timeout_s=60)
    assert (waited.timed_out, waited.task.state) == (False, "completed")


async def test_wait_for_task_waits_past_states_not_awaited(service):
    task_id = give(service)
    async with anyio.create_task_group() as group:

        def two_moves() -> None:
            service.claim_task(WORKER, task_id)
            move(service, WORKER, task_id, "input-required", "which colour?")

        group.start_soon(run_soon, two_moves)
        with anyio.fail_after(10):
            waited = await service.wait_for_task(GIVER, task_id, ["input-required"], 60)
    assert waited.task.state == "input-required"
    assert waited.task.history[-1].note == "which colour?"


async def test_wait_for_task_answers_at_once_or_times_out(service):
    task_id = task_in(service, "completed")
    assert (await service.wait_for_task(GIVER, task_id, timeout_s=0)).timed_out is False
    other = give(service)
    waited = await service.wait_for_task(GIVER, other, ["completed"], timeout_s=0)
    assert (waited.timed_out, waited.task.state) == (True, "submitted")
    with pytest.raises(InvalidInput):
        await service.wait_for_task(GIVER, other, ["done"], timeout_s=0)  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        await service.wait_for_task(GIVER, other, timeout_s=-1)
