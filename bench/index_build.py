"""Full LFW (13,233 images) index builds on this machine: workers, fast path, processes vs Dask.

Each configuration builds a fresh index of ../shared/data/lfw in a new process (`exposure index`)
and is timed; peak memory is the largest resident set of the build process and its children.

    python bench/index_build.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from lfw import unpacked_lfw, work_dir
from record import record, run_watched

CONFIGS = {
    "2 workers, fast path": ["--workers", "2", "--aligned", "auto"],
    "2 workers, full detection": ["--workers", "2", "--aligned", "no"],
    "1 worker, fast path": ["--workers", "1", "--aligned", "auto"],
    "Dask LocalCluster 2x1, full detection": ["--dask"],
}


def build(root: Path, out: Path, args: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent / "exposure"), "index", str(root), "--out", str(out), "--quiet", *args]
    seconds, peak = run_watched(cmd)
    m = json.loads((out / "manifest.json").read_text())
    n = m["counts"]["images_done"]
    return {"seconds": round(seconds, 1), "images_per_s": round(n / seconds, 1), "images": n,
            "faces": m["counts"]["faces"], "fast_path": bool(m.get("fast_path")), "peak_rss_mb": round(peak / 2**20)}


def main() -> None:
    root = unpacked_lfw()
    result = {name: build(root, work_dir() / "build-bench-index", args) for name, args in CONFIGS.items()}
    # keep the last fast-path index as the LFW index for the check benchmarks
    record(
        "index_build",
        result,
        "Full LFW index builds: workers, fast path, processes vs Dask",
        "`python bench/index_build.py`: `exposure index` of all 13,233 LFW images, each configuration in a new "
        "process on this machine's 2 cores; peak memory is the build's resident set including its workers. "
        "The Dask path runs full detection (the fast path is not passed to Dask workers yet).",
    )


if __name__ == "__main__":
    main()
