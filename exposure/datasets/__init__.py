"""Public face datasets: the catalog of what exists, and downloads of what is still published."""

from __future__ import annotations

from exposure.lazy import attach

# lazy, so that `import exposure` stays fast: the catalog and pooch load on first use
__getattr__, __dir__, __all__ = attach(__name__, {"catalog": "exposure.datasets.catalog_table",
                                                  "catalog_records": "exposure.datasets.catalog_table",
                                                  "fetch": "exposure.datasets.download"})
