"""Mutation run over the code where a wrong answer lets someone in or loses data.

    uv run python tests/mutation/run.py                 # every target
    uv run python tests/mutation/run.py names auth      # some targets
    uv run python tests/mutation/run.py --list          # what the targets are

Each target is a module and the tests that must notice when it is wrong. cosmic-ray mutates the
module one small change at a time (an operator, a comparison, a constant, a ``break``) and runs
those tests; a mutant the tests do not fail on "survives". The run works in a copy of this
checkout (cosmic-ray edits files in place, and an interrupted run must not leave a mutant in the
tree), prints each survivor's diff and one score line per target, and exits 1 if any survived.

A survivor that behaves exactly like the real code (an "equivalent mutant") cannot be killed by a
test. Where every mutant of a line is like that (type annotations, which ``from __future__ import
annotations`` never evaluates), the line says ``# pragma: no mutate`` and cosmic-ray skips it.
Elsewhere the pragma would also hide the line's killable mutants, so the mutant is listed in
``EQUIVALENT`` below with the reason, printed as "equivalent", and not counted as a survivor.
docs/testing.md has the latest scores; docs/mutation-runs.md what each run found.

Each target's session is kept in tests/mutation/sessions/ (ignored by git); ``--report`` prints
the scores of the kept sessions again without running anything, e.g. after editing EQUIVALENT.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import workers  # this folder's: run.py runs as a script

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SESSIONS = HERE / "sessions"
COSMIC_RAY = ["uvx", "--from", "cosmic-ray==8.7.0"]
TEST_TIMEOUT_S = 900.0
"""Per mutant: a survivor of a server target runs whole files that start relays (minutes)."""


@dataclass(frozen=True)
class Target:
    """A module to mutate and the tests that guard it."""

    module: str
    tests: tuple[str, ...]
    why: str
    backends: str | None = None
    """``PYTEST_RELAY_BACKENDS`` for its tests (tests/conftest.py); None runs every backend."""
    first_stage: int = 1
    """How many of the leading test files run first, by themselves (see :func:`mutate`)."""


TARGETS: dict[str, Target] = {
    "names": Target(
        "packages/relay-core/src/relay_core/names.py",
        ("tests/core/test_names.py",),
        "names become paths: a wrong answer writes outside the store or the download folder",
    ),
    "blobs": Target(
        "packages/relay-core/src/relay_core/blobs.py",
        ("tests/core/test_blobs.py", "tests/server/test_blobstore.py"),
        "digest validation and streaming hashes: a wrong answer serves or keeps damaged bytes",
    ),
    "auth": Target(
        "packages/relay-server/src/relay_server/middleware/auth.py",
        # The unit tests first: with -x, most mutants die there in seconds, before a relay starts.
        (
            "tests/server/test_authenticator.py",
            "tests/server/test_auth.py",
            "tests/server/test_security.py",
            "tests/server/test_revocation.py",
            "tests/server/test_web_view.py",  # the cookie login the middleware also reads
        ),
        "tokens and identity: a wrong answer lets a caller in, or in as someone else",
        # The middleware sends no query itself (the token lookup is the service's): PostgreSQL
        # would only run its slowest files, the relays and the browser, a second time.
        backends="sqlite",
    ),
    "blobstore": Target(
        "packages/relay-server/src/relay_server/storage/blobs",
        (
            "tests/server/test_claim_leftover.py",
            "tests/server/test_blobstore_edges.py",
            "tests/server/test_blobstore.py",
            # check --repair and backup scan the store and quarantine through blobs/files.py:
            # without it, a run of 2026-12-02 left most of its survivors in those two functions.
            "tests/server/test_maintenance.py",
        ),
        "blob writes and verified reads: a wrong answer loses or corrupts a file",
        # The store is files: its code sends no query, so PostgreSQL would run every test again
        # for nothing (a survivor runs all four files to the end).
        backends="sqlite",
        first_stage=3,  # in process, seconds; test_maintenance starts the CLI
    ),
    "messages": Target(
        "packages/relay-server/src/relay_server/storage/messages.py",
        (
            # The service tests first: they need no relay process, so with -x most mutants die
            # in seconds, before the HTTP tests start a relay.
            "tests/server/test_visibility_truth.py",
            "tests/server/test_service.py",
            "tests/server/test_roles.py",
            "tests/server/test_session_views.py",
            "tests/server/test_send_truth.py",
            # Expiry is part of visibility: these move the service's clock past a deadline.
            "tests/server/test_delivery.py",
            "tests/server/test_security.py",
            "tests/server/test_http_api.py",
            "tests/server/test_visibility_counts.py",
            "tests/server/test_blob_visibility.py",
        ),
        "visibility: a wrong answer shows a client messages it may not read",
    ),
    "sessions": Target(
        "packages/relay-server/src/relay_server/storage/sessions.py",
        (
            "tests/server/test_session_views.py",
            "tests/server/test_service.py",
            "tests/server/test_visibility_counts.py",
            "tests/server/test_security.py",
            "tests/server/test_http_api.py",
        ),
        "summaries and read positions: a wrong answer counts or moves what a client may not read",
    ),
    "file_access": Target(
        "packages/relay-server/src/relay_server/storage/files.py",
        ("tests/server/test_blob_visibility.py", "tests/server/test_security.py"),
        "who may fetch a blob, and which blobs gc keeps: a wrong answer leaks or loses a file",
    ),
    "service": Target(
        "packages/relay-server/src/relay_server/service/messages.py",
        (
            "tests/server/test_send_truth.py",
            "tests/server/test_service.py",
            "tests/server/test_send_path.py",
            "tests/server/test_roles.py",
            "tests/server/test_http_api.py",
            "tests/server/test_security.py",
            "tests/server/test_durability.py",
        ),
        "the send transaction and membership: a wrong answer loses or leaks a message",
    ),
}


@dataclass(frozen=True)
class Equivalent:
    """A mutant that behaves like the real code: its operator and its mutated line, stripped."""

    operator: str
    line: str
    why: str


_MORE_ROWS = (
    "the service refuses limits below 1, and from 1 up both fetch at least limit + 1 rows:"
    " has_more and rows[:limit] do not change"
)
_DISJOINT = "the sets are disjoint, so their symmetric difference is their union"
_ONLY_DOTS = (
    "a cleaned name that is nonempty and only dots (from '.\\u00a0.') is refused by the final"
    " filename_problem check, which maps it to '_' anyway; otherwise the set has a non-dot"
    " character and both comparisons are false"
)
_NOT_BACKWARD = (
    "the write it guards changes nothing unless up_to_id is past the position: advance_read"
    " updates only a last_read_id below up_to_id, and deliveries.mark_read records the ids in"
    " (before, up_to_id], none when up_to_id <= before"
)
_RESCANNED = "rescan() on the next line replaces it with a count of the disk before it is read"

EQUIVALENT: dict[str, tuple[Equivalent, ...]] = {
    "names": (
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_BitXor",
            '^ {f"com{i}" for i in range(1, 10)}',
            _DISJOINT,
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_BitXor",
            '^ {f"lpt{i}" for i in range(1, 10)}',
            _DISJOINT,
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_BitXor",
            '^ {f"{port}{digit}" for port in ("COM", "LPT")'
            ' for digit in "0123456789\\u00b9\\u00b2\\u00b3"}',
            _DISJOINT,
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_IsNot",
            "if value is not value.strip():",
            "CPython's str.strip returns the very same object when there is nothing to strip and a"
            " new one otherwise, so 'is not' and '!=' agree",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_IsNot",
            "if value and value.lower() is not value and _NAME_RE.fullmatch(value.lower()):",
            "where the lowered name equals the name, the fullmatch of it already failed, so the"
            " hint is not given whichever way the first test goes",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_LtE_Lt",
            'if not cleaned or set(cleaned) < {"."}:',
            _ONLY_DOTS,
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_LtE_Eq",
            'if not cleaned or set(cleaned) == {"."}:',
            _ONLY_DOTS,
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_LtE_Is",
            'if not cleaned or set(cleaned) is {"."}:',
            _ONLY_DOTS,
        ),
        Equivalent(
            "core/ReplaceOrWithAnd", 'if not cleaned and set(cleaned) <= {"."}:', _ONLY_DOTS
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Sub_BitXor",
            'room = limit ^ len(tail.encode("utf-8"))',
            "the limit is 255, all ones in eight bits, and the tail at most 17 bytes: 255 ^ n is"
            " 255 - n for every n up to 255",
        ),
        Equivalent(
            "core/ReplaceOrWithAnd",
            'if not dot and not stem or len(extension.encode("utf-8")) > 16:',
            "rpartition gives an empty stem whenever it finds no dot, so 'not dot or not stem' and"
            " 'not dot and not stem' are both just 'not stem'",
        ),
        Equivalent(
            "core/NumberReplacer",
            'stem = name.split(".", 2)[0]',
            "the part before the first dot is the same for any number of splits from one up",
        ),
    ),
    "blobs": (),
    "auth": (
        Equivalent(
            "core/NumberReplacer",
            "if not authorization.startswith(BEARER_PREFIX) or not authorization[ 6:].strip():",
            "character 6 is the space that ends the checked 'Bearer ' prefix, and strip() drops it",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_Gt",
            'if scope["type"] > "http" or _is_public(scope["path"]):',
            "uvicorn runs with ws='none', so the only other scope type is 'lifespan', which sorts"
            " after 'http' too",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_GtE",
            'if message["type"] >= "http.response.start":',
            "of the messages an HTTP response sends, only 'http.response.trailers' sorts after"
            " 'http.response.start' ('...body' sorts before), and trailers come after the start,"
            " which already marked the request as answering",
        ),
        Equivalent(
            "core/ReplaceAndWithOr",
            "if parked is not None or self.revocation is not None:",
            "a request is parked only when a revocation exists, and unpark(None) is a set's"
            " discard of None: nothing",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_Lt",
            'if self.authenticator.mode < "per-client":',
            "'open' sorts before 'per-client', so only shared mode changes: it then also hashes the"
            " shared token, one hash for every caller, which an MCP session's recorded hash always"
            " matches (no revocation runs in shared mode)",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_Is",
            "if owner is not None and self._known_version is version:",
            "the marker state read before the lookup is the object compared, unless a token change"
            " was noticed meanwhile; an equal but new state only skips remembering the owner, which"
            " costs one more lookup later and changes no answer",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_LtE",
            'if message["type"] <= "http.response.start":',
            "'http.response.body' is the only response message sorting before the start, and a"
            " body never comes before its start, which already marked the request as answering",
        ),
        Equivalent(
            "core/ReplaceAndWithOr",
            "if parked.revoked or not parked.answering:",
            "a parked GET whose app returned without answering was cancelled by the sweep, which"
            " marks it revoked; so 'or' differs only for a revoked stream that had answered, where"
            " the extra error goes to a response the cancellation already cut (the revocation"
            " tests' relay log stays free of errors either way)",
        ),
        Equivalent(
            "core/AddNot",
            "if not TYPE_CHECKING:",
            "the import then runs at run time too: relay_server.revocation imports nothing that"
            " imports this module, and the names are used only in annotations, never evaluated",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Mul_Div",
            "/,",
            "Authenticator's '*' to '/': every caller passes the mode by position and the rest by"
            " keyword, which both signatures accept",
        ),
        Equivalent(
            "core/ReplaceFalseWithTrue",
            "ui: bool = True,",
            "_serve's one caller always passes ui: the default is never used",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_GtE",
            'if mode >= "shared" and not shared_token_hash:',
            "no mode sorts after 'shared' ('open' < 'per-client' < 'shared'): only shared mode"
            " is >= 'shared'",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_GtE",
            'if self.mode >= "shared":',
            "no mode sorts after 'shared' ('open' < 'per-client' < 'shared')",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_LtE",
            'if self.mode <= "open":',
            "no mode sorts before 'open' ('open' < 'per-client' < 'shared')",
        ),
    ),
    "blobstore": (
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_GtE",
            "if committed + needed >= self.quota_bytes:",
            "the first test only decides whether to count the disk again before the second,"
            " which decides: exactly full, the mutant counts once more and answers the same",
        ),
        Equivalent(
            "core/NumberReplacer",
            "self._usage = Usage( 1, 0)",
            _RESCANNED,
        ),
        Equivalent(
            "core/NumberReplacer",
            "self._usage = Usage( -1, 0)",
            _RESCANNED,
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_Pow",
            'fd = os.open(path, os.O_RDONLY ** getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, and 0 to a positive power is 0: plain O_RDONLY, which opens a"
            " directory as well",
        ),
        Equivalent(
            "core/NumberReplacer",
            "for limit, serve in ((self.start, False), (self.last + 2, True), (None, False)):",
            "only a whole read comes here, whose last byte is the file's last when it opened: a"
            " byte past it exists only if the file grew since, and then the digest or the size"
            " check fails before the held last chunk is yielded",
        ),
        Equivalent(
            "core/ExceptionReplacer",
            "except CosmicRayTestingException:  # pragma: no cover - Windows: no flock; leftovers"
            " are judged by age",
            "on Linux the import succeeds, so the except clause is never reached either way",
        ),
        Equivalent(
            "core/NumberReplacer",
            "if left > -1:",
            "an owner's in-flight count of 0 is then kept instead of dropped, and every reader"
            " takes a missing owner as 0 (.get(owner, 0)): only one int per client id differs",
        ),
        *(
            Equivalent(
                "core/NumberReplacer",
                f'fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", {default}))',
                "the default is read only where os has no O_DIRECTORY (Windows), where opening a"
                " directory fails with any flags and fsync_dir returns: a no-op there every way",
            )
            for default in (1, -1)
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_BitAnd",
            'fd = os.open(path, os.O_RDONLY & getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, so the flags become plain O_RDONLY, which opens a directory as well:"
            " O_DIRECTORY only refuses a path that is not one, and fsync_dir is given directories",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_GtE",
            "while left >= 0:",
            "with nothing left the loop then reads min(chunk, 0) bytes, gets b'' and returns: the"
            " same bytes served, one empty read more",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_NotEq",
            "while left != 0:",
            "left starts at the range's length (never negative) and drops by what a read of at"
            " most left bytes returned, so it reaches 0 and never passes it",
        ),
        Equivalent(
            "core/NumberReplacer",
            "while left > -1:",
            "with nothing left the loop then reads min(chunk, 0) bytes, gets b'' and returns: the"
            " same bytes served, one empty read more",
        ),
        Equivalent(
            "core/NumberReplacer",
            "aside = folder / f\"{path.name.lstrip('.')}.{stamp}.{secrets.token_hex( 5)}\"",
            "a longer random part names the set-aside copy as uniquely, and nothing parses it",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_IsNot",
            "if exc.errno is not errno.EXDEV:  # the quarantine is on another file system",
            "errno values are small ints, which CPython keeps one object of each",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_RShift",
            'fd = os.open(path, os.O_RDONLY >> getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, so the flags become plain O_RDONLY, which opens a directory as well",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_FloorDiv",
            'fd = os.open(path, os.O_RDONLY // getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, so the flags become plain O_RDONLY, which opens a directory as well",
        ),
        Equivalent(
            "core/NumberReplacer",
            "self._usage = Usage(0, -1)",
            "the rescan on the next line replaces it before anything reads it",
        ),
        Equivalent(
            "core/NumberReplacer",
            "self._usage = Usage(0, 1)",
            "the rescan on the next line replaces it before anything reads it",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_NotEq",
            "if left != 0:",
            "left is never negative (release gives back what begin claimed), so != 0 is > 0",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_GtE",
            'yield StoreEntry(path, "temp" if match[2] >= TEMP_SUFFIX[1:] else "corrupt")',
            "LEFTOVER_RE matches only 'part' and 'corrupt', and 'corrupt' sorts before 'part'",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_Mul",
            'fd = os.open(path, os.O_RDONLY * getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, so the flags become plain O_RDONLY, which opens a directory as well",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Lt_NotEq",
            "while limit is None or position != limit:",
            "each read asks at most limit - position bytes, so position never passes limit",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Sub_BitOr",
            "self._chunk_bytes if limit is None else min(self._chunk_bytes, limit | position)",
            "limit | position is never less than limit - position: as for '^' above",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_LShift",
            'fd = os.open(path, os.O_RDONLY << getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, and 0 shifted is 0: plain O_RDONLY, which opens a directory as well",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_BitXor",
            'fd = os.open(path, os.O_RDONLY ^ getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, and 0 ^ O_DIRECTORY is 0 | O_DIRECTORY",
        ),
        Equivalent(
            "core/NumberReplacer",
            "f\"the relay's disk is full: blob {digest} was not stored"
            ' ({os.strerror(exc.errno or -1)})"',
            "disk_full is called only for an errno in DISK_FULL_ERRNOS, never for none",
        ),
        Equivalent(
            "core/NumberReplacer",
            "f\"the relay's disk is full: blob {digest} was not stored"
            ' ({os.strerror(exc.errno or 1)})"',
            "disk_full is called only for an errno in DISK_FULL_ERRNOS, never for none",
        ),
        Equivalent(
            "core/AddNot",
            "if not TYPE_CHECKING:",
            "GarbageCollection's typing stub of path_of then exists at run time too, and"
            " BlobStore's own path_of overrides it",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_LtE",
            "if start < 0 or (size > 0 and start > last) or (size <= 0 and start != 0):",
            "a file's size is never negative",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_NotEq",
            "if start < 0 or (size != 0 and start > last) or (size == 0 and start != 0):",
            "a file's size is never negative",
        ),
        Equivalent(
            "core/NumberReplacer",
            'return f".{sha256}.{secrets.token_hex( 7)}{suffix}"',
            "the random part only keeps two uploads of one blob apart (56 bits do that as well),"
            " and LEFTOVER_RE takes any length",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_GtE",
            "if left >= 0:",
            "an owner's in-flight count of 0 is then kept instead of dropped, and every reader"
            " takes a missing owner as 0 (.get(owner, 0)): only one int per client id differs",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_GtE",
            "return self.start == 0 and self.last >= self.size - 1",
            "last is never past size - 1 (open_for_read caps it there)",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Eq_LtE",
            "return self.start <= 0 and self.last == self.size - 1",
            "start is never negative (open_for_read refuses a negative start)",
        ),
        *(
            Equivalent(
                operator,
                line,
                "gc builds every GcReport with all its fields: the defaults are never read",
            )
            for operator, line in (
                ("core/NumberReplacer", "temp_bytes: int = 1"),
                ("core/NumberReplacer", "temp_bytes: int = -1"),
                ("core/ReplaceFalseWithTrue", "dry_run: bool = True"),
            )
        ),
        *(
            Equivalent(
                f"core/ReplaceBinaryOperator_BitOr_{name}",
                f"fcntl.flock(fd, fcntl.LOCK_EX {operator} fcntl.LOCK_NB)",
                f"LOCK_EX and LOCK_NB are different bits, so {operator} is |",
            )
            for name, operator in (("BitXor", "^"), ("Add", "+"))
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_Add",
            'fd = os.open(path, os.O_RDONLY + getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, and 0 + O_DIRECTORY is 0 | O_DIRECTORY",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_BitOr_Mod",
            'fd = os.open(path, os.O_RDONLY % getattr(os, "O_DIRECTORY", 0))',
            "O_RDONLY is 0, so the flags become plain O_RDONLY, which opens a directory as well",
        ),
        Equivalent(
            "core/NumberReplacer",
            "self._quarantine, sha256, handle, file_identity(st), size, start,"
            " max(last, start - 2)",
            "last is never below start - 1 (open_for_read refuses a range that ends before it"
            " starts), so the max is last either way",
        ),
        Equivalent(
            "core/ReplaceFalseWithTrue",
            "for limit, serve in ((self.start, True), (self.last + 1, True), (None, False)):",
            "_read_all serves whole blobs only, which start at 0: the first phase reads no byte",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Sub_BitXor",
            "self._chunk_bytes if limit is None else min(self._chunk_bytes, limit ^ position)",
            "limit ^ position is never less than limit - position, so a read asks at least what"
            " the range has left; beyond it lie only bytes the file grew by, which then ride in the"
            " held last chunk and fail verification with it: the same bytes are served",
        ),
        Equivalent(
            "core/NumberReplacer",
            "aside = folder / f\"{path.name.lstrip('.')}.{stamp}.{secrets.token_hex( 3)}\"",
            "a set-aside copy's random part is only there to tell copies of one second apart;"
            " nothing parses it (a shorter one makes a clash likelier, still one in millions)",
        ),
        Equivalent(
            "core/NumberReplacer",
            'return f".{sha256}.{secrets.token_hex( 9)}{suffix}"',
            "a longer random part names the temp file as uniquely, and LEFTOVER_RE takes any"
            " length",
        ),
        Equivalent(
            "core/NumberReplacer",
            "left = self._declared_by.get(owner, -1) - declared_size",
            "release always follows begin's claim for the same owner, so the owner is there; and"
            " where it is not, any left below 1 drops it the same",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Sub_Add",
            "self._chunk_bytes if limit is None else min(self._chunk_bytes, limit + position)",
            "limit + position is never less than limit - position: as for '^' above",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Sub_LShift",
            "self._chunk_bytes if limit is None else min(self._chunk_bytes, limit << position)",
            "limit << position is never less than limit - position: as for '^' above",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_Gt",
            "if start < 0 or (size > 0 and start > last) or (size == 0 and start > 0):",
            "a negative start is refused by the first clause already",
        ),
        Equivalent(
            "core/ReplaceTrueWithFalse",
            "@dataclass(frozen=False)",
            "GcReport (the only frozen dataclass here) is never assigned to, and nothing hashes it",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_NotEq_Lt",
            "if received < self.declared_size:",
            "a byte past the declared size is refused as it arrives (Upload._append), so at"
            " commit received is never more than declared",
        ),
    ),
    "file_access": (),
    "messages": (
        Equivalent(
            "core/NumberReplacer",
            "return to_messages([visible_message(caller, message_id, now=now)])[ -1]",
            "the list holds one message: its first is its last",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Add_LShift",
            "rows = list(query.order_by(MessageRow.id).limit(limit << 1))",
            _MORE_ROWS,
        ),
        Equivalent(
            "core/NumberReplacer",
            "rows = list(query.order_by(MessageRow.id).limit(limit + 2))",
            _MORE_ROWS,
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Add_LShift",
            "found = query.rows(caller=caller, session_id=session_id, start=start,"
            " limit=limit << 1, now=now)",
            _MORE_ROWS,
        ),
        Equivalent(
            "core/NumberReplacer",
            "found = query.rows(caller=caller, session_id=session_id, start=start,"
            " limit=limit + 2, now=now)",
            _MORE_ROWS,
        ),
        Equivalent(
            "core/NumberReplacer",
            "message_id: int = execute(sql, params).fetchone()[ -1]",
            'the insert returns one column, RETURNING "id": of one column the first is the last',
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Mul_Div",
            "/,",
            "add_message's '*' to '/': every caller passes session_id and sender by position and"
            " the rest by keyword, which both signatures accept",
        ),
    ),
    "sessions": (
        Equivalent(
            "core/NumberReplacer",
            "position: int = found[ -1][0]",
            "(session, client) is the participant table's primary key: the query finds one row"
            " or none, and of one row the first is the last",
        ),
        Equivalent(
            "core/NumberReplacer",
            "position: int = found[0][ -1]",
            "the query selects one column, last_read_id: of one column the first is the last",
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Lt_LtE",
            "& (Participant.last_read_id <= up_to_id)",
            "the extra rows it updates already hold up_to_id: they are set to what they are, and"
            " the update's row count is not used",
        ),
        Equivalent(
            "core/ReplaceBinaryOperator_Mul_Div",
            "session_id: int, client_ids: Sequence[str], stamp: int, /, keep_existing: bool"
            " = False",
            "every caller passes the first three by position and keep_existing by keyword, which"
            " both signatures accept",
        ),
        Equivalent(
            "core/ReplaceFalseWithTrue",
            "session_id: int, client_ids: Sequence[str], stamp: int, *, keep_existing: bool = True",
            "the one call that leaves it out adds the members of a session created in the same"
            " transaction, and they are distinct (CreateSessionRequest refuses a repeat, the"
            " caller is filtered out): there is no existing member to keep or to fail on",
        ),
    ),
    "service": (
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_NotEq",
            "if up_to_id != before:",
            _NOT_BACKWARD,
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_GtE",
            "if up_to_id >= before:",
            _NOT_BACKWARD,
        ),
        Equivalent(
            "core/ReplaceComparisonOperator_Gt_IsNot",
            "if up_to_id is not before:",
            _NOT_BACKWARD,
        ),
    ),
}


def run(command: list[str], cwd: Path, *, check: bool = True) -> str:
    """The command's output; SystemExit with it when the command fails and ``check`` is set.

    The command runs in a process group of its own, and a run that is stopped (^C, or SIGTERM:
    see :func:`main`) kills that group: ``cosmic-ray exec`` leaves the tests of the mutant in
    hand running when only it is killed.
    """
    with subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            workers.kill_group(process)
            raise
    if check and process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stdout}\n{stderr}")
    return stdout


def copy_checkout(into: Path) -> Path:
    """A copy of the checkout's tracked and new files (not .venv, not caches) with its own venv."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    run(["uv", "sync", "--frozen", "--quiet"], cwd=into)
    return into


def source_digest(module: str) -> str:
    """SHA-256 over a target's source (a file, or every .py file under a folder, by path)."""
    path = ROOT / module
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def start_session(name: str, target: Target, config: Path, checkout: Path, resume: bool) -> Path:
    """The target's session in SESSIONS: the kept one when resuming a run of the same source
    (cosmic-ray runs only the mutants it has no result for), else a fresh one."""
    SESSIONS.mkdir(exist_ok=True)
    session, stamp = SESSIONS / f"{name}.sqlite", SESSIONS / f"{name}.source"
    digest = source_digest(target.module)
    if resume and session.exists() and stamp.exists() and stamp.read_text() == digest:
        # cosmic-ray runs the mutants without a result: a worker's failure is no verdict.
        with contextlib.closing(sqlite3.connect(session)) as db, db:
            again = db.execute("DELETE FROM work_results WHERE worker_outcome = 'ABNORMAL'")
        print(
            f"{name}: resuming the kept session ({again.rowcount} abnormal to run again)",
            flush=True,
        )
        return session
    if resume:
        print(f"{name}: no kept session of this source to resume; starting afresh", flush=True)
    session.unlink(missing_ok=True)
    run([*COSMIC_RAY, "cosmic-ray", "init", str(config), str(session)], cwd=checkout)
    run([*COSMIC_RAY, "cr-filter-pragma", str(session)], cwd=checkout)
    skip = HERE / "skip_annotations.py"
    print(run([*COSMIC_RAY, "python", str(skip), str(session)], cwd=checkout).strip(), flush=True)
    stamp.write_text(digest)
    return session


def mutate(name: str, target: Target, checkouts: list[Path], resume: bool) -> tuple[int, int]:
    """Run one target, a mutant at a time in each checkout; print survivors; return (killed,
    survived).

    The session is written in SESSIONS as the run goes, so a run that is stopped keeps what it
    found: ``--report`` prints it, ``--resume`` goes on from it."""
    started = time.monotonic()
    checkout = checkouts[0]
    work = checkout / ".mutation"
    work.mkdir(exist_ok=True)
    config = work / f"{name}.toml"
    backends = ["env", f"PYTEST_RELAY_BACKENDS={target.backends}"] if target.backends else []
    pytest = [
        *backends,
        ".venv/bin/python",
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        # One process: the suite's addopts spread tests over xdist workers, and starting
        # them costs more than a target's few test files take to run, for every mutant.
        "-n",
        "0",
    ]
    # The first stage alone, then the rest: most mutants die in the first, and pytest imports
    # every file it is given before it runs one, which took longer than the first file runs.
    first, rest = target.tests[: target.first_stage], target.tests[target.first_stage :]
    stages = [shlex.join([*pytest, *first])] + ([shlex.join([*pytest, *rest])] if rest else [])
    test_command = shlex.join(["sh", "-c", " && ".join(stages)])
    with contextlib.ExitStack() as stack:
        distributor = '[cosmic-ray.distributor]\nname = "local"\n'
        if len(checkouts) > 1:
            urls = stack.enter_context(workers.serving(checkouts, [*COSMIC_RAY, "python"]))
            distributor = (
                '[cosmic-ray.distributor]\nname = "http"\n'
                f"[cosmic-ray.distributor.http]\nworker-urls = {json.dumps(urls)}\n"
            )
        config.write_text(
            "[cosmic-ray]\n"
            f"module-path = {json.dumps(target.module)}\n"
            f"timeout = {TEST_TIMEOUT_S}\n"
            "excluded-modules = []\n"
            f"test-command = {json.dumps(test_command)}\n" + distributor
        )
        session = start_session(name, target, config, checkout, resume)
        run(
            [*COSMIC_RAY, "python", str(HERE / "cosmic_ray_exec.py"), str(config), str(session)],
            cwd=checkout,
        )
    return report(name, session, (time.monotonic() - started) / 60)


def mutated_line(diff: str) -> str:
    """The line a mutant changed, as it reads after the change, stripped."""
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and line[1:2] != "+"]
    return added[0].strip() if added else ""


def report(name: str, session: Path, minutes: float | None = None) -> tuple[int, int]:
    """Print a session's survivors and score; return (killed, survived)."""
    dump = run([*COSMIC_RAY, "cosmic-ray", "dump", str(session)], cwd=ROOT)
    killed = equivalent = survived = skipped = timed_out = pending = abnormal = 0
    for line in dump.splitlines():
        job, result = json.loads(line)
        if result is None:  # a run stopped before it reached this mutant
            pending += 1
            continue
        if result.get("worker_outcome") == "skipped":
            skipped += 1
            continue
        if result.get("worker_outcome") == "abnormal":  # the worker failed: no verdict
            abnormal += 1
            where = job["mutations"][0]
            print(
                f"ABNORMAL ({where['operator_name']}, {where['module_path']} line"
                f" {where['start_pos'][0]}): {result.get('output') or 'no output'}"
            )
            continue
        if result["test_outcome"] != "survived":
            if result.get("output") == "timeout":  # cosmic-ray counts it killed; it is not proof
                timed_out += 1
                print(f"TIMED OUT:\n{result['diff']}")
            killed += 1
            continue
        operator = job["mutations"][0]["operator_name"]
        changed = mutated_line(result["diff"])
        known = [e for e in EQUIVALENT[name] if e.operator == operator and e.line == changed]
        if known:
            equivalent += 1
            print(f"equivalent ({operator}): {changed}\n    {known[0].why}")
        else:
            survived += 1
            print(f"SURVIVED ({operator}):\n{result['diff']}")
    total = killed + survived
    score = 100.0 * killed / total if total else 100.0
    took = f", {minutes:.1f} min" if minutes is not None else ""
    unfinished = f"; NOT RUN YET: {pending} (stopped; --resume goes on)" if pending else ""
    if abnormal:
        unfinished += f"; NO VERDICT: {abnormal} abnormal (--resume runs them again)"
    print(
        f"{name}: {killed} of {total} non-equivalent mutants killed ({score:.1f}%),"
        f" {survived} survived; {equivalent} equivalent, {skipped} skipped (annotation or"
        f" pragma), {timed_out} of the killed timed out{took}{unfinished}",
        flush=True,
    )
    return killed, survived


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument(
        "--report", action="store_true", help="print the kept sessions' results, run nothing"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on from a kept session of the same source (a stopped run) instead of afresh",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="mutants run at once, each in a copy of the checkout (default: 1; up to the cores)",
    )
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers: at least 1")
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:10} {target.module}\n{'':10} {target.why}")
        return 0
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    chosen = args.targets or list(TARGETS)
    # A stopped run cleans up as after ^C: its commands' process groups, the workers, the copies.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.report:
        kept = [name for name in chosen if (SESSIONS / f"{name}.sqlite").exists()]
        survived = sum(report(name, SESSIONS / f"{name}.sqlite")[1] for name in kept)
        return 1 if survived else 0
    with tempfile.TemporaryDirectory(prefix="relay-mutation-") as temp:
        checkouts = [copy_checkout(Path(temp) / str(i)) for i in range(args.workers)]
        survived = sum(mutate(name, TARGETS[name], checkouts, args.resume)[1] for name in chosen)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
