"""Search results pinned: the same hits, order, snippets, files and ``more`` on a store where the
best matches are mostly ones the caller may not read.

The store (:func:`fill`) holds a few hundred matches of ``migration``: the strongest are in a
session carol is not in, or narrowed to bravo, so carol's best readable hits sit far down the
index's ranking and a search must skip many it may not show before its page is full. Identical
texts rank equal (ties go to the newer message), some messages match only by an attachment's
name, some by text and by two attachments (the first name in order is the one shown).

The expected answers in ``search_pinned.json`` were recorded with the one-statement search that
ranked every match (before the two-step search); any change to them is a change of behaviour.
To record them again after a deliberate change: ``RELAY_SEARCH_REPIN=1 uv run pytest`` on this
file, then read the diff.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from relay_core import CreateSessionRequest, SendMessageRequest, from_ms
from relay_server.service import RelayService
from relay_server.storage.blobs.store import BlobStore

PINNED = Path(__file__).with_name("search_pinned.json")
START_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z: message times are a counter from here
FILLER = ("the", "staging", "database", "runner", "after", "review", "branch", "logs", "tonight")

# name: (caller, query, filters); each runs with the limits in LIMITS (and 100, see LONG)
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "carol common": ("carol", "migration", {}),
    "bravo common": ("bravo", "migration", {}),
    "alpha common": ("alpha", "migration", {}),
    "bravo common in side": ("bravo", "migration", {"session": "side"}),
    "bravo common from alpha": ("bravo", "migration", {"sender": "alpha"}),
    "carol common since": ("carol", "migration", {"since": from_ms(START_MS + 150_000)}),
    "carol two words": ("carol", "migration rollback", {}),
    "bravo either word": ("bravo", "rollback OR zanzibar", {}),
    "carol rare": ("carol", "zanzibar", {}),
    "bravo rare": ("bravo", "zanzibar", {}),
    "carol only unreadable": ("carol", "sidecar", {}),
    "bravo file names": ("bravo", "manifest", {}),
    "carol file names": ("carol", "manifest", {}),
}
LIMITS = (1, 5, 20)
LONG = ("carol common", "bravo either word", "carol file names")
"""Cases also run with the largest limit."""


@pytest.fixture
def store(team_service: RelayService, tmp_path: Path) -> RelayService:
    """Sessions ``team`` (alpha, bravo, carol) and ``side`` (alpha, bravo), as :func:`fill` fills
    them."""
    service = team_service
    service.blobs = BlobStore(tmp_path / "blobs", 1 << 20, 1 << 24)
    clock = iter(range(START_MS, START_MS + 10_000_000, 1000))
    service.delivery_clock = lambda: next(clock)
    service.create_session("alpha", CreateSessionRequest(name="side", participants=["bravo"]))
    fill(service)
    return service


def fill(service: RelayService) -> None:
    """About 300 messages; see the module's docstring for what they are for."""
    rng = random.Random(1204)
    for i, (session, sender, text, to, files) in enumerate(_messages(rng)):
        attachments = [
            {"sha256": service.put_blob(sender, f"{i}-{name}".encode()).sha256, "filename": name}
            for name in files
        ]
        request = SendMessageRequest.parse({"text": text, "to": to, "attachments": attachments})
        service.post_message(sender, session, request)


def _messages(rng: random.Random) -> Iterator[tuple[str, str, str, list[str], list[str]]]:
    def words(n: int) -> str:
        return " ".join(rng.choice(FILLER) for _ in range(n))

    for i in range(288):
        kind = i % 8
        if kind == 0:  # strong matches carol cannot read: another session
            yield "side", "alpha", "migration migration done " + words(i % 3), [], []
        elif kind == 1:  # strong matches narrowed to bravo
            yield "team", "alpha", f"migration {i} checked, migration applied", ["bravo"], []
        elif kind == 2:  # weak matches everyone in team reads, of varied length
            yield "team", "bravo", f"{words(3 + i % 11)} migration {words(2 + i % 7)}", [], []
        elif kind == 3:  # identical texts: equal ranks
            yield "team", "carol", "the migration is done", [], []
        elif kind == 4:  # only an attachment's name matches, carol cannot read it
            yield "side", "bravo", "logs attached", [], [f"migration-{i}.log"]
        elif kind == 5:  # text and two attachment names match
            names = [f"manifest-b{i}.txt", f"manifest-a{i}.txt"]
            yield "team", "alpha", f"migration rollback {words(i % 5)}", [], names
        elif kind == 6:  # only a name matches, readable by all of team
            yield "team", "alpha", "see the file", [], [f"manifest {i}.csv"]
        else:
            yield "side", "alpha", f"sidecar {words(4)} rollback", [], []
    yield "team", "alpha", "zanzibar for bravo", ["bravo"], []
    yield "team", "alpha", "zanzibar for carol", ["carol"], []
    yield "side", "bravo", "zanzibar in side", [], []
    yield "team", "carol", "a zanzibar note, zanzibar", [], []
    # A text and a file name ranked alike (PostgreSQL's ts_rank): the newer message comes first.
    yield "team", "alpha", "manifest", [], []
    yield "team", "bravo", "see attached", [], ["manifest"]
    yield "team", "alpha", "manifest", [], []


def _answers(service: RelayService) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name, (caller, query, filters) in CASES.items():
        for limit in (*LIMITS, 100) if name in LONG else LIMITS:
            results = service.search_messages(caller, query, limit=limit, **filters)
            answers[f"{name}, limit {limit}"] = {
                "more": results.more,
                "hits": [
                    [
                        hit.id,
                        hit.session,
                        hit.sender,
                        _iso(hit.created_at),
                        hit.snippet,
                        hit.file,
                    ]
                    for hit in results.hits
                ],
            }
    return answers


def _iso(when: datetime) -> str:
    return when.isoformat()


def _dump(pinned: dict[str, Any]) -> str:
    """JSON with one hit a line, so a change shows as the hits it moved."""
    lines = ["{"]
    for b, (backend, answers) in enumerate(pinned.items()):
        lines.append(f" {json.dumps(backend)}: {{")
        for c, (case, answer) in enumerate(answers.items()):
            hits = ",\n".join(f"   {json.dumps(hit, ensure_ascii=False)}" for hit in answer["hits"])
            body = f"[\n{hits}\n  ]" if hits else "[]"
            comma = "," if c < len(answers) - 1 else ""
            more = json.dumps(answer["more"])
            lines.append(f'  {json.dumps(case)}: {{"more": {more}, "hits": {body}}}{comma}')
        lines.append(" }" + ("," if b < len(pinned) - 1 else ""))
    return "\n".join([*lines, "}"]) + "\n"


def test_search_answers_are_the_pinned_ones(store: RelayService) -> None:
    backend = store.storage.backend
    answers = _answers(store)
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    if os.environ.get("RELAY_SEARCH_REPIN"):
        pinned[backend] = answers
        PINNED.write_text(_dump(pinned))
        pytest.skip("pinned answers recorded again")
    assert backend in pinned, "no pinned answers for this backend"
    for case, expected in pinned[backend].items():
        assert answers[case] == expected, case
    assert answers.keys() == pinned[backend].keys()


def test_the_pinned_store_hides_the_best_matches_from_carol(store: RelayService) -> None:
    """The store does what the pinned answers rely on: carol's first readable hit is ranked
    below more than a page of matches she may not read (so the search cannot stop early)."""
    everything = store.search_messages("alpha", "migration", limit=100)
    carol = {hit.id for hit in store.search_messages("carol", "migration", limit=100).hits}
    readable = [n for n, hit in enumerate(everything.hits) if hit.id in carol]
    assert everything.more
    assert readable == [] or readable[0] > 50
