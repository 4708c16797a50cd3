"""Mark a cosmic-ray session's mutants inside type annotations as skipped.

Every target module starts with ``from __future__ import annotations``, so annotations are kept
as strings and never evaluated: ``str | None`` mutated to ``str & None`` behaves exactly like the
real code. Such mutants cannot be killed by a test, and there are many (each ``|`` of an
annotation gives a dozen), so they are skipped like a ``# pragma: no mutate`` line would be,
without a pragma on every signature.

Run with cosmic-ray's own Python (run.py does): ``python skip_annotations.py SESSION``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

Span = tuple[tuple[int, int], tuple[int, int]]


def annotation_spans(source: str) -> list[Span]:
    """(line, column) spans of every annotation; lines from 1, columns in characters from 0."""
    tree = ast.parse(source)
    if not any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    ):
        return []  # annotations are evaluated: their mutants are real
    lines = source.splitlines()

    def column(line: int, byte_offset: int) -> int:
        return len(lines[line - 1].encode("utf-8")[:byte_offset].decode("utf-8"))

    spans: list[Span] = []
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is None or annotation.end_lineno is None:
                continue
            start = (annotation.lineno, column(annotation.lineno, annotation.col_offset))
            end_col = annotation.end_col_offset or 0
            end = (annotation.end_lineno, column(annotation.end_lineno, end_col))
            spans.append((start, end))
    return spans


def main(session: str) -> int:
    skipped = 0
    with use_db(session, WorkDB.Mode.open) as work_db:
        spans: dict[Path, list[Span]] = {}
        for item in list(work_db.work_items):
            for mutation in item.mutations:
                path = Path(mutation.module_path)
                if path not in spans:
                    spans[path] = annotation_spans(path.read_text(encoding="utf-8"))
                start, end = tuple(mutation.start_pos), tuple(mutation.end_pos)
                if any(first <= start and end <= last for first, last in spans[path]):
                    work_db.set_result(
                        item.job_id,
                        WorkResult(
                            output=None,
                            test_outcome=None,
                            diff=None,
                            worker_outcome=WorkerOutcome.SKIPPED,
                        ),
                    )
                    skipped += 1
                    break
    print(f"{skipped} mutants inside annotations skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
