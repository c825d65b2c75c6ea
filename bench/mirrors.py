"""The mirror image of each face of a bench index, embedded (cached in the bench folder): for benches
that try searching with a photo averaged with its mirror image (bench/selfies.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lfw import work_dir

from exposure.encoders import encode_chips
from exposure.faces import Box, aligned_chip
from exposure.photos import load_photo


def mirrored(index, root: Path, name: str) -> np.ndarray:
    """(n, 128) float32: row i is index row i's aligned chip, mirrored and embedded, from its photo under `root`."""
    path = work_dir() / f"{name}-mirrored.npy"
    f = index.faces
    if path.exists():
        out = np.load(path)
        if len(out) == len(f):
            return out
    out = np.zeros((len(f), 128), np.float32)
    for i, row in enumerate(f.itertuples(index=False)):
        box = Box(int(row.box_left), int(row.box_top), int(row.box_right), int(row.box_bottom))
        _, chip = aligned_chip(load_photo(root / row.image).pixels, box)
        out[i] = encode_chips([np.ascontiguousarray(chip[:, ::-1])])[0]
    np.save(path, out)
    return out

