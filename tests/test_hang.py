"""No hang, ever: index builds after dlib's CNN detector ran in the caller, and a build that stops
progressing says so and stops, keeping its shards.

Masked faces (masks drawn from dlib's landmarks on LFW photos, bench/masks.py) are faces HOG
misses, so `--detector auto` runs the CNN on them. Every build here runs in a subprocess under a
hard timeout: a regression fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import needs_lfw

from exposure import build_index, open_index

pytestmark = needs_lfw
HARD_TIMEOUT = 240  # seconds: each build here takes well under a minute


@pytest.fixture(scope="module")
def masked(lfw_people, tmp_path_factory):
    """10 people, 2 masked photos each (aligned 250x250 crops, as LFW is), and a clean single-process build."""
    from masks import masked_dataset

    people = sorted(p for p in lfw_people.iterdir() if len(list(p.iterdir())) >= 2)[:10]
    root = tmp_path_factory.mktemp("masked")
    made = masked_dataset({p.name: sorted(p.iterdir())[:2] for p in people}, root / "masked")
    assert sum(len(v) for v in made.values()) >= 18
    build_index(root / "masked", root / "reference", detector="auto", workers=1, progress=False)
    return root / "masked", open_index(root / "reference")


def rows(index_dir) -> list[tuple]:
    f = open_index(index_dir).faces
    return sorted(zip(f["image"], f["face"], f["box_left"], f["box_top"], f["box_right"], f["box_bottom"], strict=True))


def run(args: list[str], env: dict | None = None, timeout: float = HARD_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung: {' '.join(map(str, args))} did not finish in {timeout} s\n{e.stderr}")


def test_masked_faces_need_the_cnn(masked):
    folder, reference = masked
    hog = build_index(folder, folder.parent / "hog", detector="hog", workers=1, progress=False)
    auto = reference.manifest["counts"]
    # HOG misses masked faces; the CNN finds some of them (BENCHMARKS.md, masked faces: how many)
    assert auto["images_with_faces"] > hog["counts"]["images_with_faces"], (auto, hog["counts"])


def test_build_after_the_cnn_ran_in_the_caller_finishes(masked, tmp_path):
    """The notebook sequence: check a selfie (the CNN runs in this process), then build with workers.
    The script has no `if __name__ == "__main__":`, as a quick script would not: workers must not re-run it."""
    folder, reference = masked
    script = tmp_path / "sequence.py"
    script.write_text(textwrap.dedent(f"""
        import exposure
        photo = sorted(__import__("pathlib").Path({str(folder)!r}).rglob("*.jpg"))[0]
        exposure.find_faces(photo, detector="cnn")
        print("built", exposure.build_index({str(folder)!r}, {str(tmp_path / "index")!r}, detector="auto",
                                            workers=2, progress=False)["counts"]["faces"])
    """))
    proc = run([sys.executable, str(script)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("built") == 1  # the script ran once: not again in each worker
    assert rows(tmp_path / "index") == rows(reference.path)


def test_cli_build_with_auto_detector_on_masked_aligned_crops_finishes(masked, tmp_path):
    folder, reference = masked
    proc = run([sys.executable, "-m", "exposure", "index", str(folder), "--out", str(tmp_path / "index"),
                "--detector", "auto", "--workers", "2", "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert rows(tmp_path / "index") == rows(reference.path)


def _descendants(pid: int, below: int = 0) -> list[int]:
    """Every process more than `below` generations below pid (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [(pid, 0)]
    while todo:
        parent, depth = todo.pop()
        for c in children.get(parent, []):
            if depth >= below:
                out.append(c)
            todo.append((c, depth + 1))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="stops worker processes through /proc")
def test_a_stuck_build_says_so_stops_and_keeps_its_shards(masked, tmp_path):
    """Every worker frozen (SIGSTOP, as a deadlocked worker would be) after the first shard: the build
    gives up with one clear line after EXPOSURE_STALL_SECONDS, keeps what is finished, and a re-run
    completes it."""
    folder, reference = masked
    out = tmp_path / "index"
    args = [sys.executable, "-m", "exposure", "index", str(folder), "--out", str(out), "--detector", "auto",
            "--workers", "2", "--shard-size", "4", "--quiet"]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:  # a file, not a pipe: a frozen process would hold a pipe open
        build = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "EXPOSURE_STALL_SECONDS": "5"})
    frozen: list[int] = []
    try:
        deadline = time.time() + HARD_TIMEOUT
        while not (out / "manifest.json").exists() and build.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        frozen = _descendants(build.pid, below=1)  # the workers: children of the fork server
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        started = time.time()
        build.wait(timeout=HARD_TIMEOUT)
        waited = time.time() - started
        stderr = log.read_text()
    finally:
        for pid in frozen:  # killed by the build already, or released here
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if build.poll() is None:
            build.kill()
    assert frozen, "no worker process was found to freeze"
    assert build.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "stuck" in lines[0] and "resume" in lines[0], stderr
    assert waited < 60
    kept = open_index(out).manifest["counts"]["images_done"]
    assert 4 <= kept < reference.manifest["counts"]["images_done"]
    proc = run(args)  # resume: the same rows as a clean build
    assert proc.returncode == 0, proc.stderr
    assert rows(out) == rows(reference.path)
