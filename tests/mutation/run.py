"""Mutation run over the code where a wrong answer lets someone in or loses data.

    uv run python tests/mutation/run.py                 # every target
    uv run python tests/mutation/run.py names auth      # some targets
    uv run python tests/mutation/run.py --list          # what the targets are

Each target is a module and the tests that must notice when it is wrong. cosmic-ray mutates the
module one small change at a time (an operator, a comparison, a constant, a ``break``) and runs
those tests; a mutant the tests do not fail on "survives". The run works in a copy of this
checkout (cosmic-ray edits files in place, and an interrupted run must not leave a mutant in the
tree), prints each survivor's diff and one score line per target, and exits 1 if any survived.
Survivors that are equivalent to the real code are marked ``# pragma: no mutate`` with a reason,
and docs/testing.md lists the latest score.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COSMIC_RAY = ["uvx", "--from", "cosmic-ray==8.7.0"]
TEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Target:
    """A module to mutate and the tests that guard it."""

    module: str
    tests: tuple[str, ...]
    why: str


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
        "packages/relay-server/src/relay_server/auth.py",
        ("tests/server/test_auth.py", "tests/server/test_security.py"),
        "tokens and identity: a wrong answer lets a caller in, or in as someone else",
    ),
    "blobstore": Target(
        "packages/relay-server/src/relay_server/blobstore.py",
        ("tests/server/test_blobstore.py",),
        "blob writes and verified reads: a wrong answer loses or corrupts a file",
    ),
    "queries": Target(
        "packages/relay-server/src/relay_server/queries.py",
        ("tests/server/test_security.py", "tests/server/test_http_api.py"),
        "visibility: a wrong answer shows a client messages it may not read",
    ),
    "service": Target(
        "packages/relay-server/src/relay_server/service.py",
        (
            "tests/server/test_http_api.py",
            "tests/server/test_security.py",
            "tests/server/test_durability.py",
        ),
        "the send transaction and membership: a wrong answer loses or leaks a message",
    ),
}


def run(command: list[str], cwd: Path, *, check: bool = True) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


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


def mutate(name: str, target: Target, checkout: Path) -> tuple[int, int]:
    """Run one target; print survivors; return (killed, survived)."""
    work = checkout / ".mutation"
    work.mkdir(exist_ok=True)
    config, session = work / f"{name}.toml", work / f"{name}.sqlite"
    test_command = " ".join(
        [".venv/bin/python", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.tests]
    )
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(target.module)}\n"
        f"timeout = {TEST_TIMEOUT_S}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    run([*COSMIC_RAY, "cosmic-ray", "init", str(config), str(session)], cwd=checkout)
    run([*COSMIC_RAY, "cr-filter-pragma", str(session)], cwd=checkout)
    run([*COSMIC_RAY, "cosmic-ray", "exec", str(config), str(session)], cwd=checkout)
    dump = run([*COSMIC_RAY, "cosmic-ray", "dump", str(session)], cwd=checkout)
    killed = survived = 0
    for line in dump.splitlines():
        _, result = json.loads(line)
        if result is None or result.get("worker_outcome") == "skipped":
            continue
        if result["test_outcome"] == "survived":
            survived += 1
            print(result["diff"])
        else:
            killed += 1
    total = killed + survived
    score = 100.0 * killed / total if total else 100.0
    print(f"{name}: {killed} of {total} mutants killed ({score:.1f}%), {survived} survived")
    return killed, survived


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:10} {target.module}\n{'':10} {target.why}")
        return 0
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    chosen = args.targets or list(TARGETS)
    with tempfile.TemporaryDirectory(prefix="relay-mutation-") as temp:
        checkout = copy_checkout(Path(temp))
        survived = sum(mutate(name, TARGETS[name], checkout)[1] for name in chosen)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
