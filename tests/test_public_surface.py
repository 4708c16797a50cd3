"""Each package's public surface is deliberate: a sorted ``__all__`` naming real objects, and
every public name of the package's namespace in it (submodules aside)."""

import importlib
import types

import pytest

PACKAGES = ["relay_core", "relay_server", "relay_client"]


def public_names(module: types.ModuleType) -> set[str]:
    """The names a ``from package import ...`` user would see, bar submodules."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_every_name_exists(package):
    module = importlib.import_module(package)
    exported = module.__all__  # an AttributeError here: the package has no deliberate surface
    assert exported, f"{package}.__all__ is empty"
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_of_the_package_is_exported(package):
    module = importlib.import_module(package)
    assert public_names(module) - set(module.__all__) == set()


def test_the_server_package_exports_its_version_only():
    """The relay is an application: its surface is the `agent-relay-server` command, and importing
    the package stays cheap (the admin commands import it without the web stack)."""
    module = importlib.import_module("relay_server")
    assert module.__all__ == ["__version__"]
