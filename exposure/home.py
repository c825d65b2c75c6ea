"""Where exposure keeps what it downloads and builds: one data home, set by EXPOSURE_HOME."""

from __future__ import annotations

import os
from pathlib import Path


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
