"""Start-up: `import exposure`, `exposure --help`, and the first `exposure check` in a new process.

1. `import exposure` in a fresh interpreter, median of 5: the import alone (timed inside the
   process) and the whole process, beside a bare `python -c pass`.
2. `exposure --help` (the installed console script), wall time, median of 5.
3. `exposure check PHOTO --index build/bench/lfw-index --json` of one LFW photo, each time a new
   process: "new process" with the OS page cache warm (median of 3), and "cold files" after the
   index's files, the model files and the data home's cached ONNX graph are dropped from the page
   cache (posix_fadvise DONTNEED; with --cold-venv the venv's libraries too), median of 3.
   Skipped, with a note, when the LFW index (built by bench/calibrate.py) is absent.

The goals (issue 6): import < 0.5 s, --help < 1 s, first check against full LFW <= 3 s cold.

    python bench/startup.py [--cold-venv]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from lfw import REPO, unpacked_lfw, work_dir
from record import record

PY = sys.executable
EXPOSURE = str(Path(PY).parent / "exposure")


def wall(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, proc


def median_of(cmd: list[str], times: int, env: dict | None = None) -> list[float]:
    out = []
    for _ in range(times):
        t, proc = wall(cmd, env)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        out.append(t)
    return out


def evict(paths) -> int:
    """Drop these files (folders: every file in them) from the OS page cache; returns bytes advised."""
    total = 0
    for p in paths:
        p = Path(p)
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p] if p.is_file() else []
        for f in files:
            try:
                fd = os.open(f, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def stats(ts: list[float]) -> dict:
    return {"median_s": round(statistics.median(ts), 3), "all_s": [round(t, 3) for t in ts]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold-venv", action="store_true", help="also drop the venv's libraries from the page cache")
    args = ap.parse_args()
    load_before = os.getloadavg()
    notes = []

    code = "import time; t = time.perf_counter(); import exposure; print(time.perf_counter() - t)"
    inner = []
    for _ in range(5):
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
        inner.append(float(out))
    result = {
        "import_exposure": {
            "import_only": stats(inner),
            "process": stats(median_of([PY, "-c", "import exposure"], 5)),
            "bare_python_process": stats(median_of([PY, "-c", "pass"], 5)),
        },
        "exposure_help": stats(median_of([EXPOSURE, "--help"], 5)),
    }

    index = work_dir() / "lfw-index"
    if (index / "manifest.json").exists():
        photo = sorted(unpacked_lfw().rglob("*.jpg"))[-1]
        cmd = [EXPOSURE, "check", str(photo), "--index", str(index), "--json"]
        first, proc = wall(cmd)  # also builds the ONNX graph into the data home if this is the first run
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        top = json.loads(proc.stdout)[0]
        from exposure.home import data_home
        from exposure.models import model_path

        drop = [index, model_path("recognition").parent, data_home() / "models", photo]
        if args.cold_venv:
            drop.append(Path(sysconfig.get_paths()["purelib"]))
        cold, dropped = [], 0
        for _ in range(3):
            dropped = evict(drop)
            cold.append(wall(cmd)[0])
        n_faces = json.loads((index / "manifest.json").read_text())["counts"]["faces"]
        result["first_check_lfw"] = {
            "faces_in_index": n_faces,
            "photo": str(photo.relative_to(photo.parents[2])),
            "top1": {k: top.get(k) for k in ("identity", "distance", "verdict")},
            "first_run_s": round(first, 3),
            "new_process_warm_page_cache": stats(median_of(cmd, 3)),
            "new_process_cold_files": stats(cold),
            "cold_files_dropped_MB": round(dropped / 1e6, 1),
            "cold_files": "index, model files, data-home ONNX cache, the photo"
                          + (", the venv's site-packages" if args.cold_venv else ""),
        }
    else:
        result["first_check_lfw"] = None
        notes.append(f"first check skipped: no LFW index at {index} (bench/calibrate.py builds it)")
    load_after = os.getloadavg()
    result["goals_s"] = {"import_exposure": 0.5, "exposure_help": 1.0, "first_check_lfw_cold": 3.0}
    result["load_average_before_after"] = [round(load_before[0], 2), round(load_after[0], 2)]
    result["notes"] = notes
    record(
        "startup",
        result,
        "Start-up: import, --help, first check",
        "`python bench/startup.py`: `import exposure` in a fresh interpreter (the import alone, timed inside the "
        "process, and the whole process beside a bare `python -c pass`), `exposure --help`, median of 5; then "
        "`exposure check` of one LFW photo against the full LFW index, each run a new process: with the page "
        "cache warm, and with the index, model files and cached ONNX graph dropped from the page cache "
        "(posix_fadvise), median of 3. Goals: import < 0.5 s, --help < 1 s, first check <= 3 s cold on 2 "
        "cores. A load average near or above the number of cores means the machine was busy: the numbers "
        "are then provisional.",
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
