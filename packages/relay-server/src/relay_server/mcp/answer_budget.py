"""Answers that fit an agent's context: pages end early, long texts become excerpts.

Claude Code warns when one MCP tool answer passes 10,000 tokens, refuses it past 25,000 by
default (``MAX_MCP_OUTPUT_TOKENS``) and moves a text answer over 50,000 characters to a file. A
page of 100 messages of 10 KB each is 1 MiB. So every message the MCP tools answer
(``read_messages``, ``wait_for_messages``, a channel push) is held to a budget well below those:

- a page ends early when the next message would not fit; the answer says so (``cut``) and
  ``next_after_id`` is where to continue, so paging on skips nothing;
- a message whose text alone is over its share is shown as an excerpt that ends with the
  route to the rest: ``get_message(message_id, offset)`` reads the whole text a share at a time.

Sizes are estimated, not tokenised (the relay carries no tokenizer): ``bytes / 2`` of UTF-8.
Measured with cl100k_base, prose runs near 4 bytes a token, mixed scripts near 2.8 and terse
code (``x = [a < b for a in c]``) near 2.1, so for ordinary text the estimate is a ceiling and an
answer stays under the warning. Text made to cost one token a byte (punctuation noise) is the
worst case: the budget's 16,000 bytes are then 16,000 tokens, still under the refusal limit.
The HTTP API and the command line keep full texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from relay_core import Message

ANSWER_TOKENS: Final = 8_000
"""The most one MCP answer about messages may cost (estimated): under Claude Code's warning."""
SHARE_TOKENS: Final = ANSWER_TOKENS // 2
"""The most one message's text may cost in an answer; a longer one becomes an excerpt."""
ROW_TOKENS: Final = 60
"""What a message costs besides its text: its row of ids, names and times, and a file row."""
_TOKENS_PER_BYTE: Final = (1, 2)
"""One token every two bytes: ``bytes / 2``."""


def estimated_tokens(text: str) -> int:
    """What ``text`` costs in tokens, estimated from above for ordinary text (module note)."""
    per, every = _TOKENS_PER_BYTE
    return -(-len(text.encode("utf-8")) * per // every)


def chunk(text: str, offset: int, tokens: int = SHARE_TOKENS) -> str:
    """The longest piece of ``text`` from character ``offset`` that fits in ``tokens``."""
    per, every = _TOKENS_PER_BYTE
    room = tokens * every // per
    end = offset
    for ch in text[offset : offset + room]:  # at most `room` characters can fit in `room` bytes
        room -= len(ch.encode("utf-8"))
        if room < 0:
            break
        end += 1
    return text[offset:end]


def excerpt(message: Message) -> Message:
    """``message`` itself, or, when its text is over its share, the text's first part and where
    to read on."""
    if estimated_tokens(message.text) <= SHARE_TOKENS:
        return message
    shown = chunk(message.text, 0, SHARE_TOKENS - 30)  # room for the note
    note = (
        f"\n[excerpt: {len(shown):,} of {len(message.text):,} characters;"
        f" get_message(message_id={message.id}, offset={len(shown)}) reads on]"
    )
    return message.model_copy(update={"text": shown + note})


def fit(messages: Sequence[Message]) -> tuple[list[Message], bool]:
    """The messages that fit one answer, in order (each as an excerpt if need be; always at
    least the first), and whether any were left out."""
    shown: list[Message] = []
    spent = 0
    for message in messages:
        fitted = excerpt(message)
        cost = estimated_tokens(fitted.text) + ROW_TOKENS * (1 + len(fitted.attachments))
        if shown and spent + cost > ANSWER_TOKENS:
            return shown, True
        shown.append(fitted)
        spent += cost
    return shown, False
