"""Where things are: the data home (set by EXPOSURE_HOME), the indexes in it, and the bundled sample data."""

from __future__ import annotations

import os
from pathlib import Path

from exposure.errors import BadIndexError, ExposureError
from exposure.shards import read_manifest

SAMPLE_NAME = "sample_faces"


def data_home(home: str | os.PathLike | None = None) -> Path:
    """The data home: `home` if given, else $EXPOSURE_HOME, else pooch's per-user cache folder.

    Like scikit-learn's `data_home`, it is created on first use. Nothing about the user
    (selfies, crops, embeddings) is written here unless they ask for it.
    """
    if home is None:
        home = os.environ.get("EXPOSURE_HOME")
    if home is None:
        import pooch  # imported late: keeps `import exposure` fast

        home = pooch.os_cache("exposure")
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def sample_data_dir() -> Path:
    """The bundled sample data folder (in a source checkout of exposure)."""
    here = Path(__file__).resolve().parent.parent / "sample_data"
    if not (here / "dataset").is_dir():
        raise ExposureError(f"the sample data is not here ({here}): it ships with the source of exposure, not the wheel")
    return here


def sample_photo() -> Path:
    """The sample phone photo of the person (Eileen Collins, public domain)."""
    return sample_data_dir() / "photos" / "my_photo.jpg"


def indexes_dir(home: str | os.PathLike | None = None) -> Path:
    """`<data home>/indexes`: every index folder in it is offered in the app (copy prebuilt ones here)."""
    return data_home(home) / "indexes"


def available_indexes(home: str | os.PathLike | None = None) -> list[dict]:
    """The indexes under `<data home>/indexes/*/manifest.json`, plus the sample index (built or not)."""
    found = []
    root = indexes_dir(home)
    for manifest in sorted(root.glob("*/manifest.json")) if root.is_dir() else []:
        try:
            m = read_manifest(manifest.parent)
        except BadIndexError:
            continue
        counts = m.get("counts", {})
        found.append(
            {
                "name": m.get("dataset", manifest.parent.name),
                "path": manifest.parent,
                "faces": int(counts.get("faces", 0)),
                "images": int(counts.get("images_found", 0)),
                "complete": bool(m.get("complete", False)),
                "built": True,
            }
        )
    if not any(f["path"].name == SAMPLE_NAME for f in found):
        try:
            sample_data_dir()
        except ExposureError:
            return found
        found.append(
            {"name": SAMPLE_NAME, "path": root / SAMPLE_NAME, "faces": 3, "images": 4, "complete": True, "built": False}
        )
    return found
