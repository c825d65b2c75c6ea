"""Figures for the notebooks, the report and the workshop app: numbers and tables in, matplotlib Figures out.

Every function returns a `matplotlib.figure.Figure` (save it with `fig.savefig("x.png")`):

- `results`: one check's result (distance_histogram, dataset_summary, face_map);
- `matching`: how face matching works (threshold_tradeoff, lookalike_growth, population_curves,
  population_table, face_steps, embedding_bars);
- `atlas`: the catalog of datasets (atlas_timeline, atlas_sizes, atlas_sources, atlas_consent,
  atlas_withdrawn);
- `style`: the palette and helpers (show, to_png).

Each name is importable from here, its module loaded on first use (scikit-image's lazy.attach
pattern); matplotlib loads with the first figure. Importing this package in a notebook makes a
returned Figure display as a PNG (style.register_ipython).
"""

from __future__ import annotations

import importlib

from exposure.lazy import attach

_NAMES = {
    "CONSENT_LABELS": "atlas",
    "SOURCE_LABELS": "atlas",
    "STATUS_COLOURS": "atlas",
    "ATLAS_FIGURES": "atlas",
    "atlas_consent": "atlas",
    "atlas_sizes": "atlas",
    "atlas_sources": "atlas",
    "atlas_timeline": "atlas",
    "atlas_withdrawn": "atlas",
    "licence_kind": "atlas",
    "embedding_bars": "matching",
    "face_steps": "matching",
    "lookalike_growth": "matching",
    "population_curves": "matching",
    "population_table": "matching",
    "threshold_tradeoff": "matching",
    "dataset_summary": "results",
    "distance_histogram": "results",
    "face_map": "results",
    "people_points": "results",
    "person_distances": "results",
    "verdict_lines": "results",
    "DISTANCE_LABEL": "style",
    "OKABE_ITO": "style",
    "OTHERS": "style",
    "YOU": "style",
    "register_ipython": "style",
    "show": "style",
    "to_png": "style",
}

__getattr__, __dir__, __all__ = attach(__name__, {name: f"exposure.figures.{module}" for name, module in _NAMES.items()})

importlib.import_module("exposure.figures.style").register_ipython()
