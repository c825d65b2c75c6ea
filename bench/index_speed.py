"""Index throughput against the face_recognition CLI, side by side; and check latency on full LFW.

1. The same LFW images (all 13,233 of ../shared/data/lfw; `--images N` for the first N) embedded by
   `exposure index --workers 2` and by `face_recognition --cpus 2 known/ unknown/` (installed in a bench-only venv, build/bench/fr-venv,
   with --no-deps over dlib-bin, so no dlib source build), in one run.
2. `exposure check` of one photo against the full LFW index (built by bench/calibrate.py):
   cold (a new process: import, model load, index load) and warm (models and index in memory).

    python bench/index_speed.py [--images N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lfw import REPO, unpacked_lfw, work_dir
from record import record


def fr_venv() -> Path:
    """A venv with the face_recognition CLI over dlib-bin (setuptools < 82: it needs pkg_resources)."""
    venv = work_dir() / "fr-venv"
    exe = venv / "bin" / "face_recognition"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "setuptools<82", "dlib-bin", "face_recognition_models", "numpy", "Pillow", "Click>=6.0"],
                       check=True)
        subprocess.run([*pip, "--no-deps", "face_recognition==1.3.0"], check=True)
    return exe


def sample(root: Path, n: int) -> tuple[Path, Path]:
    """known/ (one photo) and unknown/ (n photos, flat, as the face_recognition CLI wants; LFW's
    file names are unique across people). With all of LFW, the known photo is also among the unknown."""
    base = work_dir() / "speed"
    known, unknown = base / "known", base / "unknown"
    if not unknown.exists() or len(list(unknown.iterdir())) != n:
        shutil.rmtree(base, ignore_errors=True)
        known.mkdir(parents=True)
        unknown.mkdir(parents=True)
        files = sorted(root.rglob("*.jpg"))
        for p in files[:n]:
            shutil.copy(p, unknown / p.name)
        k = files[min(n, len(files) - 1)]
        shutil.copy(k, known / k.name)
    return known, unknown


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - t, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=0, help="the first N LFW images (default: all)")
    args = ap.parse_args()
    root = unpacked_lfw()
    n_images = args.images or len(list(root.rglob("*.jpg")))
    known, unknown = sample(root, n_images)
    exposure = str(Path(sys.executable).parent / "exposure")
    out = work_dir() / "speed-index"
    shutil.rmtree(out, ignore_errors=True)
    t_ours, proc = timed([exposure, "index", str(unknown), "--out", str(out), "--workers", "2", "--quiet"])
    assert proc.returncode == 0, proc.stderr
    faces = json.loads((out / "manifest.json").read_text())["counts"]["faces"]
    t_fr, proc = timed([str(fr_venv()), "--cpus", "2", str(known), str(unknown)])
    assert proc.returncode == 0, proc.stderr
    fr_lines = len(proc.stdout.splitlines())

    lfw_index = work_dir() / "lfw-index"
    photo = sorted(root.rglob("*.jpg"))[-1]
    cold = []
    for _ in range(3):
        t, proc = timed([exposure, "check", str(photo), "--index", str(lfw_index), "--json"])
        assert proc.returncode == 0, proc.stderr
        cold.append(t)
    code = (
        f"import time, exposure; ix = exposure.open_index({str(lfw_index)!r}); exposure.check({str(photo)!r}, ix);"
        f"t = time.perf_counter(); [exposure.check({str(photo)!r}, ix) for _ in range(5)];"
        "print((time.perf_counter() - t) / 5)"
    )
    warm = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    n_lfw = json.loads((lfw_index / "manifest.json").read_text())["counts"]["faces"]
    result = {
        "images": n_images,
        "exposure_index": {"seconds": round(t_ours, 1), "images_per_s": round(n_images / t_ours, 2),
                           "faces": faces, "workers": 2},
        "face_recognition_cli": {"seconds": round(t_fr, 1), "images_per_s": round(n_images / t_fr, 2),
                                 "cpus": 2, "output_lines": fr_lines},
        "speedup": round(t_fr / t_ours, 2),
        "check_full_lfw": {"faces_in_index": n_lfw, "cold_s": [round(t, 2) for t in cold],
                           "warm_s": round(warm, 3)},
        "cores": os.cpu_count(),
    }
    record(
        "index_speed",
        result,
        "Index throughput and check latency",
        "`python bench/index_speed.py`: the same LFW images (`images`) embedded by `exposure index --workers 2` and "
        "by the `face_recognition --cpus 2 known/ unknown/` CLI (face_recognition 1.3.0 over dlib-bin), in one "
        "run; then `exposure check` of one photo against the full LFW index: cold = a new process each time "
        "(imports, model loading, index loading), warm = models and index already in memory.",
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
