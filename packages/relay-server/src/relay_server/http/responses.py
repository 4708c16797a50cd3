"""Answering with JSON: relay-core models as pydantic serialises them, other bodies compactly."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response


def json_response(body: BaseModel | dict[str, Any], status_code: int = 200) -> Response:
    """A JSON answer; models are serialised by pydantic (timestamps as ``...Z``)."""
    if isinstance(body, BaseModel):
        content = body.model_dump_json().encode()
    else:
        content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status_code, media_type="application/json")
