"""What the service's send and read paths answer, read straight from the store on each backend:
the ``offline`` list of a send names its recipients and never the sender, a refused send names
the first stranger, a page read with ``mark_read`` moves the position to the page's last message,
and a page read or polled is recorded as delivered unless the caller says otherwise.

Each pins a wrong answer that passed every other test of ``service/messages.py`` (see
docs/testing.md, "Mutation testing")."""

from __future__ import annotations

from typing import Any

import pytest

from relay_core import InvalidInput, SendMessageRequest


def send(service: Any, text: str) -> int:
    sent_id: int = service.post_message("alpha", "team", SendMessageRequest(text=text)).id
    return sent_id


def states(service: Any, message_id: int) -> dict[str, str]:
    status = service.message_status("alpha", message_id)
    return {r.client_id: r.state for r in status.recipients}


def test_offline_names_the_recipients_and_never_the_sender(team_service: Any) -> None:
    # Nobody has called the relay over HTTP, so every recipient counts as offline.
    def offline(to: list[str]) -> list[str]:
        request = SendMessageRequest(text="hi", to=to)
        names: list[str] = team_service.post_message("alpha", "team", request).offline
        return names

    assert offline([]) == ["bravo", "carol"]
    assert offline(["bravo"]) == ["bravo"]
    assert offline(["alpha"]) == []


def test_a_send_to_strangers_names_the_first_of_them(team_service: Any) -> None:
    request = SendMessageRequest(text="hi", to=["bravo", "mallory", "oscar"])
    with pytest.raises(InvalidInput, match="'mallory' is not a participant"):
        team_service.post_message("alpha", "team", request)


def test_reading_a_page_with_mark_read_moves_the_position_to_its_last_message(
    team_service: Any,
) -> None:
    ids = [send(team_service, f"m{i}") for i in range(4)]
    page = team_service.read_messages("bravo", "team", limit=3, mark_read=True)
    assert [m.id for m in page.messages] == ids[:3]
    positions = {
        p.client_id: p.last_read_id for p in team_service.get_session("bravo", "team").participants
    }
    assert positions == {"alpha": 0, "bravo": ids[2], "carol": 0}
    assert [m.id for m in team_service.read_messages("bravo", "team").messages] == ids[3:]
    assert states(team_service, ids[2]) == {"bravo": "read", "carol": "stored"}


def test_a_page_read_without_marking_counts_as_delivered_unless_record_is_off(
    team_service: Any,
) -> None:
    first, second = send(team_service, "one"), send(team_service, "two")
    team_service.read_messages("bravo", "team", after_id=0, limit=1)
    team_service.read_messages("carol", "team", after_id=0, limit=1, record=False)
    assert states(team_service, first) == {"bravo": "delivered", "carol": "stored"}
    assert states(team_service, second) == {"bravo": "stored", "carol": "stored"}
    assert team_service.get_session("bravo", "team").participants[1].last_read_id == 0


def test_a_poll_counts_as_delivered_unless_record_is_off(team_service: Any) -> None:
    first = send(team_service, "one")
    team_service.poll("bravo", "team")
    team_service.poll("carol", record=False)
    assert states(team_service, first) == {"bravo": "delivered", "carol": "stored"}
    team_service.poll("carol")
    assert states(team_service, first) == {"bravo": "delivered", "carol": "delivered"}
