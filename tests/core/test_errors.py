import pytest

import relay_core.errors as errors_module
from relay_core import RelayError, error_from_payload
from relay_core.errors import ERROR_CLASSES


def all_error_classes():
    return [
        obj
        for obj in vars(errors_module).values()
        if isinstance(obj, type) and issubclass(obj, RelayError) and obj is not RelayError
    ]


def test_every_error_class_is_registered_by_its_code():
    assert sorted(cls.__name__ for cls in all_error_classes()) == sorted(
        cls.__name__ for cls in ERROR_CLASSES.values()
    )


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_each_error_has_a_distinct_code_and_client_error_status(cls):
    assert cls.code != "internal"
    assert 400 <= cls.http_status < 600
    assert cls.__doc__, "each error says when it happens"
    assert [c.code for c in ERROR_CLASSES.values()].count(cls.code) == 1


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_an_error_survives_the_http_round_trip(cls):
    original = cls("session 'x' does not exist", details={"session": "x"})
    rebuilt = error_from_payload(original.to_payload(), http_status=cls.http_status)
    assert type(rebuilt) is cls
    assert rebuilt.message == original.message
    assert rebuilt.details == {"session": "x"}


def test_tool_error_text_starts_with_the_code():
    assert errors_module.NotFound("session 'x'").to_text() == "not_found: session 'x'"


@pytest.mark.parametrize("payload", [None, "boom", {"detail": "x"}, {"error": "plain"}, []])
def test_an_unexpected_body_becomes_a_plain_relay_error_that_says_what_arrived(payload):
    error = error_from_payload(payload, http_status=502)
    assert type(error) is RelayError
    assert error.code == "internal"
    assert "HTTP 502" in error.message


def test_an_unknown_code_keeps_the_servers_message():
    error = error_from_payload({"error": {"code": "teapot", "message": "short and stout"}})
    assert error.message == "short and stout"
