"""A package's names loaded from their modules on first use (scikit-image's lazy.attach pattern).

`import exposure` (or `exposure.figures`, `exposure.datasets`) then loads nothing heavy: each name's
module is imported the first time the name is used, and the value is kept on the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def attach(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for `package`, whose `names` live in the modules given (dotted paths)."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, sorted(names)
