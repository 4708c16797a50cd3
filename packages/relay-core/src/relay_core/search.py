"""Full-text search over messages: its limits and the shape of its answer.

The relay ranks the messages a caller may read whose text, or the name of one of whose
attachments, matches a query in SQLite's FTS5 query syntax: words (all must occur), ``OR``,
``NOT``, ``"a phrase"``, ``prefix*``. Words with punctuation (``kill-9``, ``report.pdf``) go in
double quotes.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from relay_core.models import RelayModel
from relay_core.names import ClientId, SessionName
from relay_core.timestamps import Timestamp

SEARCH_PATH: Final = "/api/v1/search"
DEFAULT_SEARCH_LIMIT: Final = 20
MAX_SEARCH_LIMIT: Final = 100
MAX_QUERY_CHARS: Final = 500
HIT_OPEN: Final = "**"
"""Marks where a matched word starts in a snippet (and :data:`HIT_CLOSE` where it ends)."""
HIT_CLOSE: Final = "**"


class SearchHit(RelayModel):
    """One message that matches, with the part of its text that does."""

    id: int = Field(description="The message id (get_message returns the whole message).")
    session: SessionName = Field(description="The session it was sent to.")
    sender: ClientId = Field(description="Client id of the sender.")
    created_at: Timestamp = Field(description="When the relay stored it (UTC).")
    snippet: str = Field(description="Where it matches, matched words in **bold**.")
    file: str | None = Field(
        default=None, description="The name of a matching attachment, if one matched."
    )


class SearchResults(RelayModel):
    """The best matches first."""

    query: str = Field(description="The query as it was run.")
    hits: list[SearchHit] = Field(description="Matching messages, best first.")
    more: bool = Field(description="True when more messages match than were returned.")
