"""Open a dataset in its published layout: detected from the path, in a fixed order, or named.

Each layout of `exposure.datasets.formats` has `FORMAT` (its name), `detect(path) -> bool` and
`open(path) -> Source` (exposure.datasets.layout). They are tried most specific first: a
WebDataset shard is a tar, and only a tar that is no other layout's is a folder tree in an archive.
"""

from __future__ import annotations

import os
from pathlib import Path

from exposure.datasets.formats import (
    archive_folders,
    celeba,
    ffhq,
    msceleb_tsv,
    parquet_images,
    recordio,
    utkface,
    webdataset,
)
from exposure.datasets.layout import FolderSource, Source
from exposure.errors import ExposureError

# the order in which layouts are detected: most specific first, a plain archive last
DETECTION_ORDER = (webdataset, recordio, parquet_images, msceleb_tsv, celeba, ffhq, utkface, archive_folders)
LAYOUTS = {mod.FORMAT: mod for mod in DETECTION_ORDER}


def formats() -> list[str]:
    """Names of every layout exposure can read."""
    return ["folder", *LAYOUTS]


def open_source(path: str | os.PathLike, format: str | None = None) -> Source:
    """Open a dataset in its published layout, detected from the path unless `format` names it."""
    p = Path(path)
    if not p.exists():  # one check for every layout, detected or named
        raise ExposureError(f"{p}: no such file or folder")
    if format is not None and format != "folder":
        if format not in LAYOUTS:
            raise ExposureError(f"unknown format {format!r}; known: {', '.join(formats())}")
        return LAYOUTS[format].open(p)
    if format is None:
        for mod in DETECTION_ORDER:
            if mod.detect(p):
                return mod.open(p)
    return FolderSource(path)
