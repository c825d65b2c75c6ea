"""Shared helpers for the LFW benchmarks and calibration: where the data is, unpacking it once."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lfw_dir() -> Path:
    """../shared/data/lfw beside the repository, or $EXPOSURE_LFW_DIR."""
    return Path(os.environ.get("EXPOSURE_LFW_DIR", REPO.parent / "shared" / "data" / "lfw"))


def work_dir() -> Path:
    """Where benchmarks keep unpacked LFW and its index: $EXPOSURE_BENCH_DIR or build/bench."""
    path = Path(os.environ.get("EXPOSURE_BENCH_DIR", REPO / "build" / "bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def unpacked_lfw() -> Path:
    """The folder-per-identity LFW images, unpacked once from the shared archive."""
    dest = work_dir() / "lfw"
    root = dest / "lfw-deepfunneled"
    if not (dest / ".complete").exists():
        with tarfile.open(lfw_dir() / "lfw-deepfunneled.tgz") as tar:
            tar.extractall(dest, filter="data")
        (dest / ".complete").touch()
    return root
