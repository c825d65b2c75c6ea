"""Build an index of a dataset: every image embedded, committed a shard at a time, resumable.

A re-run skips every image some shard already covers. Images are embedded (exposure.embed) in
this process, in worker processes (exposure.workers) or on a Dask cluster (exposure.distributed);
datasets of aligned face crops skip detection (aligned_box). After the last shard, the embedding
store (exposure.store) and the dataset's stranger tail (exposure.strangers) are made.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

import numpy as np

from exposure import shards as shard_files
from exposure import workers as worker_processes
from exposure.datasets.sources import open_source
from exposure.distributed import embed_all_dask
from exposure.embed import embed_image, image_record
from exposure.errors import BadIndexError, ExposureError, PhotoError
from exposure.faces import Box, describe_faces, detect
from exposure.files import FolderLock, atomic_write, sha256_file
from exposure.home import SAMPLE_NAME, indexes_dir, sample_data_dir
from exposure.index import open_index
from exposure.models import MODEL_ID
from exposure.photos import decode_photo, read_file
from exposure.workers import stall_seconds


def build_index(
    dataset_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    name: str | None = None,
    format: str | None = None,
    detector: str = "hog",
    encoder: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask: bool = False,
    aligned: bool | None = None,
    store: str = "float32",
    shard_images: int = shard_files.SHARD_IMAGES,
    progress: bool = True,
    source=None,
    finish: bool = True,
    pool=None,
) -> dict:
    """Embed every face of a dataset into an index at out_dir; returns the manifest.

    The layout is detected from the path unless `format` names it (see
    exposure.datasets.sources). Folder-per-identity layouts give each image's folder as its
    identity. Re-running skips what is done, so an interrupted build resumes where it stopped.
    Embedding runs in `workers` processes, or on a Dask cluster (`scheduler` address, or a local
    cluster with `dask=True`). `aligned`: True uses the aligned-crop fast path (see aligned_box),
    False never does, None (default) uses it when a probe finds the dataset is aligned crops.
    `store` is the dtype of the memory-mapped embedding matrix: "float16" halves its size (its
    effect on verdicts is measured in BENCHMARKS.md: a few rank-5 labels within 5e-5 of a line).
    `source`: an opened Source to index instead of dataset_dir (a streamed Hub shard); `finish=False`
    leaves the embedding store and stranger tail to `finish_index` (called once after the last shard);
    `pool`: a workers.pool kept across such builds (its workers keep their models loaded), else one per build.
    """
    source = source if source is not None else open_source(dataset_dir, format)
    out = Path(out_dir)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    with FolderLock(out):
        for stale in shard_dir.glob(".*.tmp"):
            stale.unlink()
        existing = sorted(shard_dir.glob("part-*.parquet"))
        old = shard_files.read_manifest(out) if (out / "manifest.json").exists() else None
        if old and old.get("model_id") != MODEL_ID:
            raise BadIndexError(f"{out}: built with model {old.get('model_id')}, not {MODEL_ID}; use a new --out folder")
        dataset = name or (old["dataset"] if old else source.name)
        known = {s["file"]: s for s in (old or {}).get("shards", [])}
        shards, records = [], []
        for path in existing:
            entry = known.get(f"shards/{path.name}")
            try:
                if entry is not None and sha256_file(path) != entry["sha256"]:
                    raise ValueError("checksum differs from the manifest")
                entry = entry or shard_files.entry(path)
                shard_records = shard_files.read_records(path)
            except Exception:  # noqa: BLE001 - a truncated or edited shard: set aside, its images redone
                path.rename(path.with_name(path.name + ".damaged"))
                continue
            shards.append(entry)
            records.extend(shard_records)
        done = {r["image"] for r in records}
        items = list(source.items())
        todo = [item for item in items if item.key not in done]
        fast_path = (old or {}).get("fast_path")  # a resumed build keeps the box it started with
        next_no = 1 + max((int(p.stem.split("-")[1]) for p in existing), default=-1)

        def commit(batch_records, batch_rows):
            nonlocal next_no
            path = shard_dir / f"part-{next_no:05d}.parquet"
            shards.append(shard_files.write_shard(path, dataset, batch_records, batch_rows))
            records.extend(batch_records)
            next_no += 1
            manifest = shard_files.manifest(dataset, source, shards, records, len(items), detector, fast_path)
            atomic_write(out / "manifest.json", json.dumps(manifest, indent=1).encode())

        from tqdm.auto import tqdm

        use_dask = scheduler is not None or dask
        # decided once, when a build starts (here, before any worker starts); the box goes to every worker
        if aligned is not False and old is None and todo:
            if progress:
                print(f"checking {FAST_PATH_PROBE} images: are they aligned face crops?", file=sys.stderr, flush=True)
            fast_path = aligned_box(source, todo)
            if aligned and fast_path is None:
                raise ExposureError(f"{source.location}: not a dataset of aligned face crops (sizes or face "
                                    "positions differ); index it without --aligned")
        bar = tqdm(
            total=len(todo), unit="img", desc=f"indexing {dataset}", disable=not progress, file=sys.stderr,
            mininterval=0.2 if sys.stderr.isatty() else 10.0,
        )
        batch_records, batch_rows = [], []
        try:
            if use_dask:
                results = embed_all_dask(source, todo, detector, scheduler, known_box=fast_path)
            else:
                results = _embed_all(source, todo, detector, encoder, workers, fast_path, pool)
            for record, rows in results:
                batch_records.append(record)
                batch_rows.extend(rows)
                bar.update(1)
                if len(batch_records) >= shard_images:
                    commit(batch_records, batch_rows)
                    batch_records, batch_rows = [], []
            if batch_records or not (out / "manifest.json").exists():
                commit(batch_records, batch_rows)
            else:  # nothing new: refresh counts (the folder may have gained or lost files)
                manifest = shard_files.manifest(dataset, source, shards, records, len(items), detector, fast_path)
                atomic_write(out / "manifest.json", json.dumps(manifest, indent=1).encode())
        except (ExposureError, KeyboardInterrupt):  # stuck, a worker lost, Ctrl-C: keep this shard's finished images
            if batch_records:
                commit(batch_records, batch_rows)
            raise
        finally:
            bar.close()
        manifest = shard_files.read_manifest(out)
        if finish:
            shard_files.write_store(out, manifest, store)
    if finish:
        _ = open_index(out).tail  # measured now, while the index is fresh in memory: a first check need not wait
    return manifest


def finish_index(out_dir: str | os.PathLike, store: str = "float32") -> dict:
    """Make an index's embedding store and stranger tail from its shards (after a build with finish=False)."""
    out = Path(out_dir)
    with FolderLock(out):
        manifest = shard_files.read_manifest(out)
        shard_files.write_store(out, manifest, store)
    _ = open_index(out).tail
    return manifest


FAST_PATH_PROBE = 48  # images detected in full to decide whether a dataset is aligned crops
# embedding distance between the fixed box's face and the detected face, allowed at the probe's median and
# 90th percentile: aligned crops move it a few hundredths (bench/fast_path.py), a face elsewhere moves it far;
# the 90th percentile of 48 probes runs high, so it has room
FAST_PATH_DRIFT = (0.05, 0.12)


def aligned_box(source, items: list) -> dict | None:
    """The face box of a dataset of aligned face crops, or None when it is not one.

    Probes images spread over the dataset with HOG detection (in this process: the CNN here would
    take a minute and leave its threads behind): they must all have one size and a face each (a
    few misses allowed); the median box must then give nearly the embeddings detection gives
    (FAST_PATH_DRIFT), and it is used for every image of that size, skipping detection (most of
    the time per image). The test is on embeddings, not boxes: HOG's boxes jitter on small crops
    (112x112) while the landmarks, and so the aligned chip, hardly move.
    """
    if len(items) < FAST_PATH_PROBE:
        return None
    step = len(items) / FAST_PATH_PROBE
    sizes, probed = set(), []
    for j in range(FAST_PATH_PROBE):
        item = items[int(j * step)]
        try:
            payload = source.payload(item)
            data = read_file(payload, item.key) if isinstance(payload, str) else payload
            photo = decode_photo(data, item.key)
        except PhotoError:
            continue
        sizes.add((photo.width, photo.height))
        found = detect(photo, "hog")
        if found:
            probed.append((photo, found[0]))
    if len(sizes) != 1 or len(probed) < 0.9 * FAST_PATH_PROBE:
        return None
    (w, h) = sizes.pop()
    box = Box(*(int(round(v)) for v in np.median([(b.left, b.top, b.right, b.bottom) for _, (b, _) in probed], 0)))
    drift = [np.linalg.norm(np.subtract(*(f.embedding for f in describe_faces(photo, [found, (box, 0.0)]))))
             for photo, found in probed]
    if np.median(drift) > FAST_PATH_DRIFT[0] or np.percentile(drift, 90) > FAST_PATH_DRIFT[1]:
        return None
    return {"size": [w, h], "box": [box.left, box.top, box.right, box.bottom], "probed": FAST_PATH_PROBE,
            "drift": [round(float(np.median(drift)), 4), round(float(np.percentile(drift, 90)), 4)]}


def _embed_all(source, todo: list, detector: str, encoder: str | None, workers: int | None,
               known_box: dict | None = None, shared=None):
    """Yield (record, rows) for each item in order, in this process or in a pool of worker processes
    (`shared`, a caller's pool, else one made and shut down here).

    Raises ExposureError when no image finishes for stall_seconds() (a stuck worker or disk), or
    when a worker process dies; the caller keeps what is finished.
    """
    workers = worker_processes.count(workers)  # a caller's pool was made with the same count

    def task(item):
        """The embedding call for one item, or its failure record when the source cannot give it."""
        try:
            payload = source.payload(item)
        except PhotoError as e:
            return None, (image_record(item.key, e.reason), [])
        return (item.key, payload, item.identity, item.meta, detector, encoder, known_box), None

    if workers <= 1 or len(todo) < 2:
        for item in todo:
            args, failed = task(item)
            yield failed or embed_image(*args)
        return
    from concurrent.futures import Future
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool

    window = workers * 8  # bounded in-flight work: memory stays flat on any dataset size
    stall = stall_seconds()
    pool = shared or worker_processes.pool(workers)

    def result(head):
        if not isinstance(head, Future):
            return head
        try:
            return head.result(timeout=stall)
        except FutureTimeout:
            raise ExposureError(
                f"the build is stuck: no image finished in {stall:.0f} s (a worker or the disk stopped "
                "responding); every finished shard is kept: run the same command again to resume"
            ) from None
        except BrokenProcessPool:
            raise ExposureError(
                "a worker process stopped unexpectedly (out of memory, or killed); every finished shard is "
                "kept: run the same command again to resume"
            ) from None

    try:
        pending: collections.deque = collections.deque()
        for item in todo:
            args, failed = task(item)
            pending.append(pool.submit(embed_image, *args) if failed is None else failed)
            if len(pending) >= window:
                yield result(pending.popleft())
        while pending:
            yield result(pending.popleft())
    finally:
        for proc in list(getattr(pool, "_processes", {}).values()):  # a stuck worker would block shutdown
            if proc.is_alive() and pending:
                proc.kill()
        if pending or shared is None:  # a caller's pool outlives this build unless this build broke it
            pool.shutdown(wait=True, cancel_futures=True)


def sample_index(home: str | os.PathLike | None = None) -> Path:
    """The index of the sample dataset in the data home, built on first use (a few seconds)."""
    out = indexes_dir(home) / SAMPLE_NAME
    if not (out / "manifest.json").is_file():
        build_index(sample_data_dir() / "dataset", out, name=SAMPLE_NAME, workers=1, progress=False)
    return out
