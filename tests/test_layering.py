"""The dependency direction is one way: relay_server -> relay_core <- relay_client."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_THIRD_PARTY = {
    "relay_core": {"pydantic", "toon_format"},
    "relay_client": {"relay_core", "requests", "platformdirs", "tomli_w", "click"},
    "relay_server": None,  # anything but the client
}
FORBIDDEN = {
    "relay_core": {"relay_server", "relay_client"},
    "relay_client": {"relay_server"},
    "relay_server": {"relay_client"},
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def package_files(package: str) -> list[Path]:
    member = package.replace("_", "-")
    return sorted((ROOT / "packages" / member / "src" / package).rglob("*.py"))


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_follow_the_dependency_direction(package):
    files = package_files(package)
    assert files
    for path in files:
        roots = imported_roots(path) - {package}
        assert not roots & FORBIDDEN[package], f"{path.name} imports {roots & FORBIDDEN[package]}"
        allowed = ALLOWED_THIRD_PARTY[package]
        if allowed is not None:
            outside = roots - allowed - set(sys.stdlib_module_names) - {"__future__"}
            assert not outside, f"{path.name} imports {outside}"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("adapter", ["mcp", "http"])
def test_the_adapters_hear_of_messages_through_the_service_only(adapter):
    """Long polls and live push use ``RelayService.watch``; the event hub behind it can change
    (LISTEN/NOTIFY for several replicas) without touching an adapter."""
    files = sorted((ROOT / "packages/relay-server/src/relay_server" / adapter).rglob("*.py"))
    assert files
    for path in files:
        assert "relay_server.events" not in imported_modules(path), f"{adapter}/{path.name}"
