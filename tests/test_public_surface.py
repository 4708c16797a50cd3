"""Each package's public surface is deliberate: a sorted ``__all__`` naming real objects."""

import importlib

import pytest

PACKAGES = ["relay_core", "relay_server", "relay_client"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_every_name_exists(package):
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", [])
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"


def test_every_public_name_of_relay_core_is_exported():
    module = importlib.import_module("relay_core")
    public = {n for n in vars(module) if not n.startswith("_") and n[0].isupper()}
    submodules = {"blobs", "errors", "models", "names", "timestamps", "toon", "wire"}
    assert public - set(module.__all__) - submodules == set()
