import pytest
from pydantic import ValidationError

from relay_core import (
    CreateSessionRequest,
    InviteRequest,
    Message,
    SendMessageRequest,
    Status,
)
from relay_core.wire import MAX_SENT_TEXT_BYTES


def test_request_models_refuse_unknown_fields():
    with pytest.raises(ValidationError, match="sender"):
        SendMessageRequest.model_validate({"text": "hi", "sender": "mallory"})


def test_answer_models_ignore_unknown_fields_from_a_newer_relay():
    message = Message.model_validate(
        {
            "id": 1,
            "session": "s",
            "sender": "a",
            "text": "hi",
            "created_at": "2026-11-25T00:00:00.000Z",
            "priority": "high",
        }
    )
    assert message.to == []
    assert message.attachments == []


def test_text_limit_counts_utf8_bytes_not_characters():
    SendMessageRequest(text="é" * (MAX_SENT_TEXT_BYTES // 2))
    with pytest.raises(ValidationError, match="bytes"):
        SendMessageRequest(text="é" * (MAX_SENT_TEXT_BYTES // 2 + 1))


def test_recipients_are_validated_names_without_duplicates():
    with pytest.raises(ValidationError, match="client id"):
        SendMessageRequest(text="x", to=["Bob"])
    with pytest.raises(ValidationError, match="more than once"):
        SendMessageRequest(text="x", to=["bob", "bob"])


def test_reply_to_must_be_a_positive_id():
    with pytest.raises(ValidationError):
        SendMessageRequest(text="x", reply_to=0)


def test_create_session_validates_name_and_participants():
    request = CreateSessionRequest(name="build-42", participants=["desktop", "server"])
    assert request.description == ""
    with pytest.raises(ValidationError, match="session name"):
        CreateSessionRequest(name="Build 42")
    with pytest.raises(ValidationError, match="more than once"):
        CreateSessionRequest(name="s", participants=["a", "a"])


def test_invite_needs_at_least_one_client():
    with pytest.raises(ValidationError):
        InviteRequest(clients=[])


def test_attachment_file_names_cannot_be_paths():
    with pytest.raises(ValidationError, match="path separator"):
        SendMessageRequest(
            text="x", attachments=[{"sha256": "a" * 64, "filename": "../../etc/passwd"}]
        )


def test_every_model_field_is_described():
    import relay_core.models as models

    for model in vars(models).values():
        if isinstance(model, type) and issubclass(model, models.BaseModel) and model.model_fields:
            for name, field in model.model_fields.items():
                assert field.description, f"{model.__name__}.{name} has no description"


def test_status_nests_counts_and_limits():
    assert set(Status.model_fields) >= {"counts", "limits", "caller", "unread"}
