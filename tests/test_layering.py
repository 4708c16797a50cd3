"""The dependency direction is one way: relay_server -> relay_core <- relay_client."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_THIRD_PARTY = {
    "relay_core": {"pydantic", "toon_format"},
    "relay_client": {"relay_core", "requests", "platformdirs", "tomli_w", "click", "zeroconf"},
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


# --- inside the server: layers -------------------------------------------------------------
SERVER = ROOT / "packages" / "relay-server" / "src" / "relay_server"
ADAPTERS = ("relay_server.mcp", "relay_server.http", "relay_server.middleware")
LAYER_RULES = {
    # importer prefix: prefixes it must not import. Long polls and live push hear of messages
    # through RelayService.watch, so the hub behind it can change (LISTEN/NOTIFY for several
    # replicas) without touching an adapter.
    "relay_server.mcp": ("relay_server.storage", "relay_server.events"),
    "relay_server.http": ("relay_server.storage", "relay_server.events"),
    "relay_server.middleware": ("relay_server.storage", "relay_server.events"),
    "relay_server.storage": (*ADAPTERS, "relay_server.service", "relay_server.events"),
    "relay_server.service": ADAPTERS,
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every relay_server module ``path`` imports (``from a import b`` counts as a and a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("relay_server")}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def server_modules() -> list[Path]:
    return sorted(SERVER.rglob("*.py"))


@pytest.mark.parametrize("path", server_modules(), ids=lambda p: module_name(p))
def test_server_layers_import_only_downward(path):
    """Adapters reach data only through the service; storage knows no service or adapter."""
    importer = module_name(path)
    for layer, forbidden in LAYER_RULES.items():
        if not within(importer, layer):
            continue
        wrong = {m for m in imported_modules(path) for f in forbidden if within(m, f)}
        assert not wrong, f"{importer} ({layer}) imports {sorted(wrong)}"


@pytest.mark.parametrize("path", server_modules(), ids=lambda p: module_name(p))
def test_server_modules_and_functions_stay_small(path):
    source = path.read_text()
    lines = source.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{module_name(path)} has {lines} lines"
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{module_name(path)}.{node.name} has {length} lines"
            )


@pytest.mark.parametrize(
    "path",
    [*package_files("relay_core"), *package_files("relay_client")],
    ids=lambda p: str(p.relative_to(ROOT / "packages")),
)
def test_core_and_client_modules_stay_under_the_line_limit(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


# --- docs/architecture.md's module map ----------------------------------------------------
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
MAP_ROW = re.compile(r"^\| `([\w/.]+)` \| .+ \|$", re.MULTILINE)


def mapped_paths() -> list[str]:
    return MAP_ROW.findall(ARCHITECTURE_DOC.read_text())


def test_the_module_map_names_every_server_module_once_and_nothing_else():
    """A module added, moved or removed without the map following fails here."""
    actual = set()
    for path in server_modules():
        relative = path.relative_to(SERVER)
        if path.name == "__init__.py":
            if relative.parent != Path("."):
                actual.add(f"{relative.parent.as_posix()}/")
        else:
            actual.add(relative.as_posix())
    listed = mapped_paths()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert set(listed) - actual == set(), "the map lists modules that do not exist"
    assert actual - set(listed) == set(), "modules missing from docs/architecture.md"
