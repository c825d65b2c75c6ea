"""Masked faces: how many a build finds, how many people an unmasked selfie then finds, and what
starting the build's workers from a fork server costs.

60 LFW people with 4 or more photos: their first 3 photos get a mask drawn from dlib's landmarks
(bench/masks.py) and are indexed with HOG alone and with `--detector auto` (the CNN where HOG
finds nothing); the 4th, unmasked, is each person's selfie, searched with exposure.check. Then the
cost of the workers' start (issue 13, "no hang"): a small build in a new process whose workers are
forked from a fresh fork server (what exposure does) or from the caller (what it did, which hangs
for good when the caller has run the CNN).

    python bench/masked.py [--people 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from lfw import REPO, unpacked_lfw, work_dir
from masks import masked_dataset
from record import record

from exposure import build_index, check, open_index
from exposure.errors import NoFaceError


def start_cost(images: Path, method: str, cnn_first: bool, detector: str = "auto", timeout: float = 120.0) -> float | None:
    """Seconds for a new process to build an index of `images` with 2 workers started by `method`
    ("forkserver": exposure's; "fork": from the caller), after running the CNN itself if `cnn_first`;
    None when it had not finished after `timeout` (killed)."""
    out = work_dir() / "masked" / f"start-{method}-{cnn_first}-{detector}"
    script = textwrap.dedent(f"""
        import multiprocessing, shutil, time
        t = time.perf_counter()
        import exposure
        from exposure import workers
        if {method!r} == "fork":
            workers.context = lambda: multiprocessing.get_context("fork")
        if {cnn_first}:
            exposure.find_faces(sorted(__import__("pathlib").Path({str(images)!r}).rglob("*.jpg"))[0], detector="cnn")
        shutil.rmtree({str(out)!r}, ignore_errors=True)
        exposure.build_index({str(images)!r}, {str(out)!r}, detector={detector!r}, workers=2, aligned=False,
                             progress=False)
        print(time.perf_counter() - t)
    """)
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                              cwd=REPO)
    except subprocess.TimeoutExpired:
        return None
    return round(float(proc.stdout.strip().splitlines()[-1]), 2) if proc.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=60)
    args = ap.parse_args()
    lfw = unpacked_lfw()
    chosen = [p for p in sorted(lfw.iterdir()) if len(list(p.iterdir())) >= 4][:: 3][: args.people]
    base = work_dir() / "masked"
    made = masked_dataset({p.name: sorted(p.iterdir())[:3] for p in chosen}, base / "photos")
    selfies = {p.name: sorted(p.iterdir())[3] for p in chosen}
    n_images = sum(len(v) for v in made.values())
    built, seconds = {}, {}
    for detector in ("hog", "auto"):
        shutil.rmtree(base / f"index-{detector}", ignore_errors=True)
        t = time.perf_counter()
        build_index(base / "photos", base / f"index-{detector}", detector=detector, workers=2, progress=False)
        seconds[detector] = round(time.perf_counter() - t, 1)
        built[detector] = open_index(base / f"index-{detector}")
    found = {d: int(ix.manifest["counts"]["images_with_faces"]) for d, ix in built.items()}
    people = {d: int(ix.faces["identity"].nunique()) for d, ix in built.items()}
    by_face = by_person = either = strangers = searched = 0
    ix = built["auto"]
    for name, selfie in selfies.items():
        try:
            r = check(selfie, ix, top=10)
        except NoFaceError:
            continue
        searched += 1
        face = bool(((r.results["identity"] == name) & r.results["is_match"]).any())
        person = bool(((r.identities["identity"] == name) & r.identities["is_match"]).any())
        by_face, by_person, either = by_face + face, by_person + person, either + (face or person)
        strangers += int((r.results["is_match"] & (r.results["identity"] != name)).sum())
    small = base / "start"
    if not small.exists():
        small.mkdir(parents=True)
        for p in sorted(base.joinpath("photos").rglob("*.jpg"))[:16]:
            (small / p.name).write_bytes(p.read_bytes())
    plain = base / "plain"  # the same people's unmasked photos: the start-up cost with HOG alone
    if not plain.exists():
        plain.mkdir(parents=True)
        for name in sorted(selfies)[:16]:
            (plain / selfies[name].name).write_bytes(selfies[name].read_bytes())
    start = {f"{method}{', CNN in the caller first' if cnn else ''}": start_cost(small, method, cnn)
             for method in ("forkserver", "fork") for cnn in (False, True)}
    start_plain = {method: min(start_cost(plain, method, False, "hog") for _ in range(3)) for method in ("forkserver", "fork")}
    result = {
        "people": len(made), "masked_images": n_images,
        "faces_found": {"hog": found["hog"], "auto": found["auto"]},
        "people_indexed": people,
        "build_seconds_2_workers": seconds,
        "unmasked_selfies_searched": searched,
        "people_found": {"by_face": by_face, "by_person": by_person, "either": either},
        "strangers_called_a_match": strangers,
        "start_seconds_16_images": start,
        "start_seconds_16_unmasked_images_hog_best_of_3": start_plain,
    }
    table = "\n".join([
        "| | HOG alone | `--detector auto` |", "|---|---|---|",
        f"| masked photos with a face found (of {n_images}) | {found['hog']} | {found['auto']} |",
        f"| people with at least one masked photo indexed (of {len(made)}) | {people['hog']} | {people['auto']} |",
        f"| build time, 2 workers (s) | {seconds['hog']} | {seconds['auto']} |",
        "",
        f"An unmasked selfie of each person ({searched} with a face) searched in the `auto` index: {either} found "
        f"({by_face} by one of their masked photos, {by_person} by person); {strangers} strangers called a match.",
        "",
        "| a new process builds 16 masked images, 2 workers forked from | seconds (none: hung, killed after 120 s) |",
        "|---|---|",
        *[f"| {k} | {v if v is not None else 'hung'} |" for k, v in start.items()],
        "",
        f"The fork server's price, in a new process building 16 unmasked photos with HOG (best of 3): "
        f"{start_plain['forkserver']} s, against {start_plain['fork']} s forking from the caller.",
    ])
    record("masked", result, "Masked faces, and no hang after the CNN",
           "`python bench/masked.py`: masks drawn from dlib's landmarks on LFW photos (bench/masks.py). The "
           "workers of a build are forked from a fresh fork server (exposure.workers): a caller that has run dlib's "
           "CNN detector would otherwise pass its half-held thread-pool locks to every worker, which then waits "
           "forever.", table)


if __name__ == "__main__":
    main()
