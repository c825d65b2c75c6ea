"""Shared fixtures: the bundled sample data, a sample index, and LFW from ../shared when present."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))  # bench-only helpers (bench/compare.py) that tests use too
SAMPLE = REPO / "sample_data"
MY_PHOTO = SAMPLE / "photos" / "my_photo.jpg"
SAMPLE_DATASET = SAMPLE / "dataset"
LFW_DIR = Path(os.environ.get("EXPOSURE_LFW_DIR", REPO.parent / "shared" / "data" / "lfw"))


def lfw_available() -> bool:
    return (LFW_DIR / "lfw-deepfunneled.tgz").is_file()


needs_lfw = pytest.mark.skipif(
    not lfw_available(), reason=f"LFW not found at {LFW_DIR} (CI has ../shared/data/lfw; set EXPOSURE_LFW_DIR)"
)


@pytest.fixture(autouse=True, scope="session")
def _private_session_home(tmp_path_factory):
    """Session fixtures (the sample index) too: tests never touch the user's data home."""
    saved = os.environ.get("EXPOSURE_HOME")
    os.environ["EXPOSURE_HOME"] = str(tmp_path_factory.mktemp("session-home"))
    yield
    if saved is None:
        os.environ.pop("EXPOSURE_HOME", None)
    else:
        os.environ["EXPOSURE_HOME"] = saved


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    """Every test gets its own EXPOSURE_HOME: tests never touch the user's data home. And reads English,
    whatever the machine's locale, unless it asks for Chinese."""
    monkeypatch.setenv("EXPOSURE_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("EXPOSURE_LANG", "en")


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The bundled sample dataset, indexed once per test session."""
    from exposure.build import build_index

    out = tmp_path_factory.mktemp("sample") / "index"
    build_index(SAMPLE_DATASET, out, name="sample_faces", workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def lfw_people(tmp_path_factory) -> Path:
    """LFW images of every person whose name starts with A-C, unpacked once (about 2,500 images)."""
    if not lfw_available():
        pytest.skip(f"LFW not found at {LFW_DIR}")
    dest = tmp_path_factory.mktemp("lfw")
    with tarfile.open(LFW_DIR / "lfw-deepfunneled.tgz") as tar:
        members = [m for m in tar if m.isfile() and m.name.split("/")[1][:1] in "ABC"]
        tar.extractall(dest, members=members, filter="data")
    return dest / "lfw-deepfunneled"


def keep_figure(path: Path) -> Path:
    """Copy a rendered image to $EXPOSURE_FIGURES_DIR, to be looked at."""
    keep = os.environ.get("EXPOSURE_FIGURES_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def run_cli(*args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `exposure` command line in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "exposure", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exposure {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# How a camera stores an upright picture for each EXIF orientation (tag 0x0112): the inverse of
# what a viewer does to show it upright (EXIF 2.3).
EXIF_TO_STORED = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: u[::-1, ::-1],
    4: lambda u: u[::-1, :],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, k=1),
    7: lambda u: u[::-1, ::-1].transpose(1, 0, 2),
    8: lambda u: np.rot90(u, k=-1),
}


@contextlib.contextmanager
def deadline(seconds: int, what: str = "no answer (a hang)"):
    """Raise TimeoutError in this (main) thread after `seconds`: a hang fails instead of blocking."""
    def expired(signum, frame):
        raise TimeoutError(f"{what}: more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def module_home(request, tmp_path_factory):
    """One data home for a whole test module and its subprocesses (the ONNX model is cached there once)."""
    home = tmp_path_factory.mktemp(f"home_{request.module.__name__}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPOSURE_HOME", str(home))
        yield home
