"""Public face datasets: the catalog of what exists, and downloads of what is still published."""

from __future__ import annotations

__all__ = ["catalog", "catalog_records", "fetch"]


def __getattr__(name: str):
    # Lazy, so that `import exposure` stays fast: the catalog and pooch load on first use.
    # The value is bound in globals(): importing the submodule `fetch` would otherwise leave the
    # module, not the function, under that name.
    if name in ("catalog", "catalog_records"):
        from exposure.datasets import catalog_table

        value = getattr(catalog_table, name)
    elif name == "fetch":
        from exposure.datasets.fetch import fetch as value
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value
