"""Approvals in the service, on each backend: settings, one answer wins, expiry, the trail."""

from __future__ import annotations

import threading

import pytest

from relay_core import Conflict, Forbidden, InvalidInput, NotFound
from relay_core.approvals import AnswerRequest, SettingsUpdate
from relay_server.service.approvals import PermissionPrompt

PROMPT = PermissionPrompt("tbxkq", "Bash", "run the migrations", '{"command": "make migrate"}')


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def service(team_service):
    """alpha asks, bravo approves, carol is a stranger; the clock is the test's."""
    team_service.approval_clock = Clock(1_000_000)
    team_service.update_settings("alpha", SettingsUpdate.parse({"approvers": ["bravo"]}))
    return team_service


def test_settings_change_only_the_fields_given_and_unknown_clients_change_nothing(service):
    service.update_settings("alpha", SettingsUpdate.parse({"push_from": ["carol"]}))
    settings = service.client_settings("alpha")
    assert (settings.approvers, settings.push_from) == (["bravo"], ["carol"])
    assert service.push_allowlist("alpha") == frozenset({"carol"})
    with pytest.raises(NotFound):
        service.update_settings("alpha", SettingsUpdate.parse({"approvers": ["nobody-here"]}))
    service.update_settings("alpha", SettingsUpdate.parse({"push_from": None}))
    assert service.client_settings("alpha").approvers == ["bravo"]
    assert service.push_allowlist("alpha") is None


def test_a_client_without_approvers_cannot_ask_and_a_bad_request_id_is_refused(service):
    with pytest.raises(Forbidden):
        service.request_approval("carol", "s", PROMPT)
    with pytest.raises(InvalidInput):
        service.request_approval("alpha", "s", PermissionPrompt("no spaces", "Bash", "", ""))
    assert service.list_approvals("carol", history=True).approvals == []


def test_the_preview_is_bounded(service):
    huge = PermissionPrompt("abcde", "Bash", "d" * 5000, "x" * 100_000)
    approval = service.request_approval("alpha", "s", huge)
    assert (len(approval.description), len(approval.input_preview)) == (1000, 2000)


def test_of_two_racing_answers_exactly_one_wins_and_both_are_in_the_trail(service):
    approval = service.request_approval("alpha", "s", PROMPT)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def answer(behavior: str) -> None:
        start.wait()
        try:
            service.answer_approval("bravo", approval.id, AnswerRequest(behavior=behavior))
            outcomes.append(behavior)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=answer, args=(b,)) for b in ("allow", "deny")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["allow", "conflict"], ["conflict", "deny"])
    trail = service.get_approval("alpha", approval.id).events
    assert trail[0].action == "requested"
    assert sorted(e.action for e in trail[1:]) == sorted(
        ["refused: conflict", "allowed" if "allow" in outcomes else "denied"]
    )


def test_strangers_late_and_repeated_answers_are_refused(service):
    approval = service.request_approval("alpha", "s", PROMPT)
    with pytest.raises(NotFound):
        service.answer_approval("carol", approval.id, AnswerRequest(behavior="allow"))
    with pytest.raises(Forbidden):  # the requester sees it but is not its approver
        service.answer_approval("alpha", approval.id, AnswerRequest(behavior="allow"))
    service.approval_clock.ms += 600_000
    with pytest.raises(Conflict, match="expired"):
        service.answer_approval("bravo", approval.id, AnswerRequest(behavior="allow"))
    assert service.get_approval("bravo", approval.id).state == "expired"
    assert service.list_approvals("bravo").approvals == []
    assert [a.id for a in service.list_approvals("bravo", history=True).approvals] == [approval.id]

    second = service.request_approval("alpha", "s", PROMPT)
    service.answer_approval("bravo", second.id, AnswerRequest(behavior="deny", note="no"))
    with pytest.raises(Conflict, match="already denied by bravo"):
        service.answer_approval("bravo", second.id, AnswerRequest(behavior="allow"))
    decided = service.get_approval("alpha", second.id)
    assert (decided.state, decided.decided_by, decided.note) == ("denied", "bravo", "no")
    assert [e.action for e in decided.events] == ["requested", "denied", "refused: conflict"]


def test_approvers_are_those_of_the_moment_the_prompt_arrived(service):
    approval = service.request_approval("alpha", "s", PROMPT)
    service.update_settings("alpha", SettingsUpdate.parse({"approvers": ["carol"]}))
    with pytest.raises(NotFound):
        service.answer_approval("carol", approval.id, AnswerRequest(behavior="allow"))
    taken = service.answer_approval("bravo", approval.id, AnswerRequest(behavior="allow"))
    assert taken.state == "allowed"
