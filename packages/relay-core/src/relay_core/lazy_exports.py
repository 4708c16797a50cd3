"""Package attributes imported on first use (PEP 562), for a package's ``__init__``.

relay_core and relay_client name their public surface in ``__init__`` but import a name's module
only when the name is first used, so that a short-lived program (the ``agent-relay`` command)
loads only what it touches. Type checkers see the names through ``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, sources: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose name ``N`` lives in ``sources[N]``.

    A name is imported once, then kept in the package's namespace; an unknown name raises
    AttributeError (which also lets ``from package import submodule`` find the submodule).
    """

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *sources})

    return __getattr__, __dir__
