"""Faces/s of the face encoder: dlib (the reference) vs ONNX Runtime, on the same real chips and cores.

    python bench/encoder_speed.py [--faces 256] [--batch 32]

Chips are aligned 150x150 crops (exposure.faces.face_chip: HOG, 68 landmarks, get_face_chip(size=150,
padding=0.25)) of LFW photos read straight from ../shared/data/lfw/lfw-deepfunneled.tgz; nothing is
unpacked to disk. Only the encoding is timed. dlib runs one face at a time per process (its CPU
path is single-threaded), so "2" means two worker processes; ONNX Runtime runs batches of --batch
with 1 or 2 intra-op threads in one process. Prints one JSON object, including the largest
absolute difference between the two encoders' embeddings on these chips. Faces per CPU-second
are given beside faces/s: on cores shared with other work they move less than wall-clock rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np

from exposure.encoders import encode_chips
from exposure.faces import face_chip

REPO = Path(__file__).resolve().parents[1]
LFW_TGZ = Path(os.environ.get("EXPOSURE_LFW_DIR", REPO.parent / "shared" / "data" / "lfw")) / "lfw-deepfunneled.tgz"


def lfw_chips(n: int, tgz: Path = LFW_TGZ, every: int = 37) -> tuple[np.ndarray, list[str]]:
    """Up to n chips from every `every`-th LFW photo (spread over the alphabet), read from the tarball."""
    from PIL import Image

    chips, names = [], []
    with tarfile.open(tgz) as tar:
        k = 0
        for member in tar:
            if not (member.isfile() and member.name.endswith(".jpg")):
                continue
            k += 1
            if k % every:
                continue
            data = tar.extractfile(member).read()
            pixels = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
            chip = face_chip(pixels)
            if chip is not None:
                chips.append(chip)
                names.append(member.name.split("/")[-1])
            if len(chips) >= n:
                break
    return np.stack(chips), names


def _warm(_: int) -> int:
    from exposure import models

    models.face_encoder()
    return os.getpid()


def _dlib_cpu(chips: np.ndarray) -> float:
    """Encode with dlib; the CPU seconds this process spent doing it."""
    t = time.process_time()
    encode_chips(list(chips), "dlib")
    return time.process_time() - t


def time_dlib(chips: np.ndarray, procs: int) -> tuple[float, float]:
    """(faces/s, faces per CPU-second) with `procs` worker processes (models loaded before timing)."""
    if procs == 1:
        encode_chips(list(chips[:2]), "dlib")  # load the model
        t = time.perf_counter()
        cpu = _dlib_cpu(chips)
        return len(chips) / (time.perf_counter() - t), len(chips) / cpu
    import multiprocessing as mp

    with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn"), initializer=_warm, initargs=(0,)) as pool:
        list(pool.map(_dlib_cpu, [chips[:1]] * procs))  # start every worker and load its model
        parts = np.array_split(chips, procs)
        t = time.perf_counter()
        cpu = sum(pool.map(_dlib_cpu, parts))
        return len(chips) / (time.perf_counter() - t), len(chips) / cpu


def time_onnx(chips: np.ndarray, threads: int, batch: int, min_seconds: float = 3.0) -> tuple[float, float, np.ndarray]:
    """(faces/s, faces per CPU-second, embeddings) of ONNX Runtime: best of >= 2 passes."""
    from exposure.encoders.onnx_resnet import OnnxEncoder

    enc = OnnxEncoder(threads=threads, batch_size=batch)
    out = enc.encode(chips[:batch])  # warm up: first run allocates and tunes
    best, best_cpu, spent, passes = 0.0, 0.0, 0.0, 0
    while passes < 2 or spent < min_seconds:
        t, c = time.perf_counter(), time.process_time()
        out = enc.encode(chips)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best, best_cpu = max(best, len(chips) / dt), max(best_cpu, len(chips) / dc)
        spent, passes = spent + dt, passes + 1
    return best, best_cpu, out


def run(faces: int = 256, batch: int = 32) -> dict:
    import onnxruntime as ort

    from exposure.encoders.onnx_resnet import model_file, providers

    t = time.perf_counter()
    chips, _ = lfw_chips(faces)
    prep = time.perf_counter() - t
    model_file()  # build and cache the graph outside the timings

    reference = encode_chips(list(chips), "dlib")
    dlib_fps, dlib_cpu = {}, {}
    for procs in (1, 2):
        dlib_fps[str(procs)], dlib_cpu[str(procs)] = time_dlib(chips, procs)
    onnx_fps, onnx_cpu, diff = {}, {}, 0.0
    for threads in (1, 2):
        onnx_fps[str(threads)], onnx_cpu[str(threads)], out = time_onnx(chips, threads, batch)
        diff = max(diff, float(np.abs(out - reference).max()))
    return {
        "faces": len(chips),
        "batch": batch,
        "dlib_faces_per_s": {k: round(v, 2) for k, v in dlib_fps.items()},
        "onnx_faces_per_s": {k: round(v, 2) for k, v in onnx_fps.items()},
        "speedup": {k: round(onnx_fps[k] / dlib_fps[k], 2) for k in onnx_fps},
        "dlib_faces_per_cpu_s": {k: round(v, 2) for k, v in dlib_cpu.items()},
        "onnx_faces_per_cpu_s": {k: round(v, 2) for k, v in onnx_cpu.items()},
        "max_abs_diff": diff,
        "chip_prep_s": round(prep, 1),
        "onnxruntime": ort.__version__,
        "providers": providers(),
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "note": "dlib: 1 and 2 worker processes; onnx: 1 and 2 intra-op threads in one process",
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)
    if not LFW_TGZ.is_file():
        sys.exit(f"LFW not found at {LFW_TGZ} (set EXPOSURE_LFW_DIR)")
    result = run(args.faces, args.batch)
    from record import record

    return record(
        "encoder_speed",
        result,
        "Face encoder: dlib against the same network in ONNX Runtime",
        "`python bench/encoder_speed.py`: 128-d embeddings of aligned LFW chips by dlib's own "
        "compute_face_descriptor and by exposure's ONNX graph of the same model file, at 1 and 2 threads "
        "(dlib: processes), batches of 32.",
    )


if __name__ == "__main__":
    main()
