"""Public face datasets: the catalog of what exists, and downloads of what is still published."""

from __future__ import annotations

import importlib

_NAMES = {"catalog": "catalog_table", "catalog_records": "catalog_table", "fetch": "download"}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    # Lazy, so that `import exposure` stays fast: the catalog and pooch load on first use.
    if name not in _NAMES:
        raise AttributeError(name)
    value = getattr(importlib.import_module(f"exposure.datasets.{_NAMES[name]}"), name)
    globals()[name] = value
    return value
