"""Build and open face indexes: Parquet shards of embeddings plus a manifest, resumable and atomic.

An index folder holds `manifest.json` and `shards/part-NNNNN.parquet`. Each shard has a row per
face, and in its Parquet metadata the list of every image it covers (with faces, without, or
failed), so a shard is the unit of work: written to a temp file, fsynced and renamed, it is either
wholly there or not at all. A re-run skips every image some shard already covers.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as _dt
import functools
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exposure.errors import BadIndexError, ExposureError, PhotoError
from exposure.models import MODEL_ID

SCHEMA_VERSION = 1
SHARD_IMAGES = 256
TAIL_FILE = "strangers.json"  # the dataset's measured stranger tail (exposure.strangers), beside the shards
_IMAGES_KEY = b"exposure.images"


# ---------------------------------------------------------------- embedding one image


def image_record(key: str, error: str | None = None) -> dict:
    """The status of one image in a shard's metadata: filled in as it is read, detected and embedded."""
    return {"image": key, "sha256": None, "width": None, "height": None, "n_faces": 0, "error": error}


def embed_image(key: str, payload: str | bytes, identity: str | None = None, meta: dict | None = None,
                detector: str = "hog", encoder: str | None = None, known_box: dict | None = None,
                ) -> tuple[dict, list[dict]]:
    """Read, detect and embed one dataset image: its status record and a row per face.

    `payload` is a file path or the image bytes. `known_box` ({"size": [w, h], "box": [l, t, r, b]})
    skips detection for an image of that size: the aligned-crop fast path. Never raises for a bad
    image: the reason goes into the record, so one broken file cannot stop a build of millions.
    """
    from exposure.faces import Box, describe_faces, detect
    from exposure.photos import decode_photo, read_file
    from exposure.samephoto import chip_hash

    record = image_record(key)
    try:
        data = read_file(payload, key) if isinstance(payload, str) else payload
        record["sha256"] = hashlib.sha256(data).hexdigest()
        photo = decode_photo(data, key)
        record["width"], record["height"] = photo.width, photo.height
        if known_box is not None and [photo.width, photo.height] == known_box["size"]:
            boxes = [(Box(*known_box["box"]), float("nan"))]  # an aligned crop: the face is where it always is
        else:
            boxes = detect(photo, detector)
        faces = describe_faces(photo, boxes, encoder)
    except PhotoError as e:
        record["error"] = e.reason
        return record, []
    except MemoryError:
        record["error"] = "not enough memory to read this image"
        return record, []
    except Exception as e:  # noqa: BLE001 - a crash on one image is recorded, not raised
        record["error"] = f"unexpected error: {type(e).__name__}: {e}"
        return record, []
    record["n_faces"] = len(faces)
    meta = meta or {}
    source_url = meta.get("url")
    source_meta = json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None
    rows = []
    for i, f in enumerate(faces):
        rows.append(
            {
                "image": key,
                "face": i,
                "primary": i == 0,
                "identity": identity if i == 0 else None,
                "box_left": f.box.left,
                "box_top": f.box.top,
                "box_right": f.box.right,
                "box_bottom": f.box.bottom,
                "detector_score": f.detector_score,
                "face_px": f.quality.width_px,
                "sharpness": f.quality.sharpness,
                "yaw": f.quality.yaw,
                "embedding": f.embedding,
                "sha256": record["sha256"],
                "model_id": f.model_id,
                "source_url": source_url,
                "source_meta": source_meta,
                "chip_phash": chip_hash(f.chip),
            }
        )
    return record, rows


# ---------------------------------------------------------------- shards


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("dataset", pa.string()),
            ("image", pa.string()),
            ("face", pa.int16()),
            ("primary", pa.bool_()),
            ("identity", pa.string()),
            ("box_left", pa.int32()),
            ("box_top", pa.int32()),
            ("box_right", pa.int32()),
            ("box_bottom", pa.int32()),
            ("detector_score", pa.float32()),
            ("face_px", pa.int32()),
            ("sharpness", pa.float32()),
            ("yaw", pa.float32()),
            ("embedding", pa.list_(pa.float32(), 128)),
            ("sha256", pa.string()),
            ("model_id", pa.string()),
            ("source_url", pa.string()),  # where the dataset says the photo came from, if it says
            ("source_meta", pa.string()),  # all per-image provenance the dataset publishes, as JSON
            ("chip_phash", pa.int64()),  # perceptual hash of the aligned chip: tells a copy of a photo
        ]
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write bytes so the file is either the old one or wholly the new one, even after a crash."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def _write_shard(path: Path, dataset: str, records: list[dict], rows: list[dict]) -> dict:
    """Commit one shard atomically; returns its manifest entry (file, counts, sha256)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    cols = {name: [r[name] for r in rows] for name in schema.names if name not in ("dataset", "embedding")}
    cols["dataset"] = [dataset] * len(rows)
    emb = np.stack([r["embedding"] for r in rows]).astype(np.float32) if rows else np.zeros((0, 128), np.float32)
    cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), 128)
    table = pa.table({name: cols[name] for name in schema.names}, schema=schema)
    table = table.replace_schema_metadata({_IMAGES_KEY: json.dumps(records).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    _atomic_write(path, data)
    return {
        "file": f"shards/{path.name}",
        "images": len(records),
        "faces": len(rows),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _read_shard_records(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[_IMAGES_KEY])


def _shard_entry(path: Path) -> dict:
    data = path.read_bytes()
    records = _read_shard_records(path)
    import pyarrow.parquet as pq

    return {
        "file": f"shards/{path.name}",
        "images": len(records),
        "faces": pq.read_metadata(path).num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# ---------------------------------------------------------------- manifest


def _manifest(dataset: str, source, shards: list[dict], records: list[dict], total: int, detector: str,
              fast_path: dict | None = None) -> dict:
    failed = [{"path": r["image"], "reason": r["error"]} for r in records if r["error"]]
    ok = [r for r in records if not r["error"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "dataset_root": str(Path(source.location).resolve()),
        "format": source.format,
        "model_id": MODEL_ID,
        "detector": detector,
        "fast_path": fast_path,  # aligned crops: detection skipped, this box used for images of this size
        "updated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "complete": len(records) >= total,
        "counts": {
            "images_found": total,
            "images_done": len(records),
            "images_with_faces": sum(1 for r in ok if r["n_faces"] > 0),
            "images_without_face": sum(1 for r in ok if r["n_faces"] == 0),
            "faces": sum(s["faces"] for s in shards),
            "failed": len(failed),
            "other_files_skipped": source.skipped,
            "missing": getattr(source, "missing", 0),  # listed by the dataset's metadata, file absent
        },
        "refused": getattr(source, "refused", []),  # archive members never read (unsafe names, links)
        "failed": failed,
        "shards": shards,
    }


def read_manifest(index_dir: str | os.PathLike) -> dict:
    """The manifest of an index folder, or BadIndexError saying what is wrong."""
    path = Path(index_dir) / "manifest.json"
    if not path.is_file():
        raise BadIndexError(f"{index_dir}: not an exposure index (no manifest.json); build one with: exposure index DATASET --out {index_dir}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadIndexError(f"{path}: damaged manifest ({e}); rebuild with exposure index") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BadIndexError(f"{index_dir}: index schema {manifest.get('schema_version')} is not {SCHEMA_VERSION}; rebuild it with this version of exposure")
    return manifest


# ---------------------------------------------------------------- build


class _Lock:
    """An exclusive lock on an index folder: two builds never write the same index at once."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise ExposureError(
                f"{self.path.parent}: another exposure index build is writing this index; wait for it to finish"
            ) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock


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
    shard_images: int = SHARD_IMAGES,
    progress: bool = True,
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
    """
    from exposure.datasets.sources import open_source

    source = open_source(dataset_dir, format)
    out = Path(out_dir)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    with _Lock(out):
        for stale in shard_dir.glob(".*.tmp"):
            stale.unlink()
        existing = sorted(shard_dir.glob("part-*.parquet"))
        old = read_manifest(out) if (out / "manifest.json").exists() else None
        if old and old.get("model_id") != MODEL_ID:
            raise BadIndexError(f"{out}: built with model {old.get('model_id')}, not {MODEL_ID}; use a new --out folder")
        dataset = name or (old["dataset"] if old else source.name)
        known = {s["file"]: s for s in (old or {}).get("shards", [])}
        shards, records = [], []
        for path in existing:
            entry = known.get(f"shards/{path.name}")
            try:
                if entry is not None and hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                    raise ValueError("checksum differs from the manifest")
                entry = entry or _shard_entry(path)
                shard_records = _read_shard_records(path)
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
            shards.append(_write_shard(path, dataset, batch_records, batch_rows))
            records.extend(batch_records)
            next_no += 1
            manifest = _manifest(dataset, source, shards, records, len(items), detector, fast_path)
            _atomic_write(out / "manifest.json", json.dumps(manifest, indent=1).encode())

        from tqdm.auto import tqdm

        use_dask = scheduler is not None or dask
        # decided once, when a build starts; Dask workers always detect (the box is not sent to them)
        if aligned is not False and old is None and todo and not use_dask:
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
                from exposure.distributed import embed_all_dask

                results = embed_all_dask(source, todo, detector, scheduler)
            else:
                results = _embed_all(source, todo, detector, encoder, workers, fast_path)
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
                manifest = _manifest(dataset, source, shards, records, len(items), detector, fast_path)
                _atomic_write(out / "manifest.json", json.dumps(manifest, indent=1).encode())
        except (ExposureError, KeyboardInterrupt):  # stuck, a worker lost, Ctrl-C: keep this shard's finished images
            if batch_records:
                commit(batch_records, batch_rows)
            raise
        finally:
            bar.close()
        manifest = read_manifest(out)
        _write_store(out, manifest, store)
    _ = open_index(out).tail  # measured now, while the index is fresh in memory: a first check need not wait
    return manifest


def _shard_embeddings(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, 128)


def _write_store(out: Path, manifest: dict, dtype: str = "float32"):
    """The memory-mapped embedding matrix beside the shards (derived data: rebuilt when stale)."""
    from exposure import knn

    if dtype not in knn.DATA_NAMES:
        raise ExposureError(f"store must be one of {', '.join(knn.DATA_NAMES)}, not {dtype!r}")
    for name, other in knn.DATA_NAMES.items():  # one store per index
        if name != dtype:
            (out / other).unlink(missing_ok=True)
    return knn.write_store(
        out, (_shard_embeddings(out / s["file"]) for s in manifest["shards"]), dtype,
        source=knn.shards_fingerprint(manifest["shards"]),
    )


FAST_PATH_PROBE = 48  # images detected in full to decide whether a dataset is aligned crops
FAST_PATH_SPREAD = 0.03  # face box corners may vary this much (share of the image side) across the probe


def aligned_box(source, items: list) -> dict | None:
    """The face box of a dataset of aligned face crops, or None when it is not one.

    Probes images spread over the dataset with HOG detection (in this process: the CNN here would
    take a minute and leave its threads behind): they must all have one size, a face each (a few
    misses allowed), and the face in the same place; then the median box is used for every image
    of that size, and detection (most of the time per image) is skipped.
    """
    from exposure.faces import detect
    from exposure.photos import decode_photo, read_file

    if len(items) < FAST_PATH_PROBE:
        return None
    step = len(items) / FAST_PATH_PROBE
    sizes, boxes = set(), []
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
            b = found[0][0]
            boxes.append((b.left, b.top, b.right, b.bottom))
    if len(sizes) != 1 or len(boxes) < 0.9 * FAST_PATH_PROBE:
        return None
    (w, h), arr = sizes.pop(), np.asarray(boxes, dtype=np.float64)
    if (arr.std(0) / np.array([w, h, w, h]) > FAST_PATH_SPREAD).any():
        return None
    return {"size": [w, h], "box": [int(round(v)) for v in np.median(arr, 0)], "probed": FAST_PATH_PROBE}


STALL_SECONDS = 600.0  # a build in which no image finishes for this long is stuck: it says so and stops


def stall_seconds() -> float:
    """How long a build waits for the next image before calling itself stuck ($EXPOSURE_STALL_SECONDS)."""
    return float(os.environ.get("EXPOSURE_STALL_SECONDS", STALL_SECONDS))


def _embed_all(source, todo: list, detector: str, encoder: str | None, workers: int | None,
               known_box: dict | None = None):
    """Yield (record, rows) for each item in order, in this process or in a pool of worker processes.

    Raises ExposureError when no image finishes for stall_seconds() (a stuck worker or disk), or
    when a worker process dies; the caller keeps what is finished.
    """
    workers = workers or os.cpu_count() or 1

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
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool

    window = workers * 8  # bounded in-flight work: memory stays flat on any dataset size
    stall = stall_seconds()
    from exposure import workers as worker_processes

    pool = ProcessPoolExecutor(workers, mp_context=worker_processes.context(), initializer=worker_processes.init,
                               initargs=(os.getpid(),))

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
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- open


@dataclass
class Index:
    """An opened index: its manifest, a row per face (without embeddings), and the embedding matrix."""

    path: Path
    manifest: dict
    faces: pd.DataFrame  # noqa: F821
    embeddings: np.ndarray  # (n_faces, 128): with a store, its knn.TiledRows (memory-mapped, indexed like an array)
    store: object = None  # exposure.knn.EmbeddingStore, searched chunk by chunk with flat memory

    @property
    def name(self) -> str:
        return self.manifest["dataset"]

    @property
    def n_faces(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def n_identities(self) -> int:
        return int(self.faces["identity"].nunique())

    @property
    def dataset_root(self) -> Path:
        return Path(self.manifest["dataset_root"])

    @functools.cached_property
    def identity_groups(self):
        """The labelled identities and the photos averaged for each (exposure.identities), grouped once."""
        from exposure.identities import identity_groups

        return identity_groups(self.faces)

    @functools.cached_property
    def identity_means(self) -> np.ndarray:
        """Each labelled identity's mean face (exposure.identities.mean_faces), (m, 128), computed once."""
        from exposure.identities import mean_faces

        return mean_faces(self.identity_groups, self.embeddings)

    @functools.cached_property
    def tail(self):
        """How fast strangers thin out towards a face in this dataset (exposure.strangers), measured on its
        own faces once and kept beside the index as strangers.json (derived data, remeasured when stale)."""
        from exposure import strangers

        source = _fingerprint(self.manifest)
        path = self.path / TAIL_FILE
        try:
            kept = strangers.DatasetTail.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if kept.version == strangers.VERSION and kept.source == source:
                return kept
        except (OSError, ValueError, TypeError, KeyError):
            pass
        f = self.faces
        people = (self.identity_means, self.identity_groups.of_row) if len(self.identity_groups) else None
        tail = strangers.measure_tail(self.embeddings, f["identity"].to_numpy(dtype=object), f["primary"].to_numpy(bool),
                                      f["chip_phash"].to_numpy(dtype=object), people, search_in=self.store)
        tail = dataclasses.replace(tail, source=source)
        try:
            _atomic_write(path, json.dumps(dataclasses.asdict(tail), indent=1).encode())
        except OSError:  # a read-only index: measured again next time
            pass
        return tail

    @functools.cached_property
    def source(self):
        """The dataset in its published layout, opened once (None when it is not on this computer)."""
        from exposure.datasets.sources import open_source

        try:
            return open_source(self.dataset_root, self.manifest.get("format", "folder"))
        except (ExposureError, OSError):
            return None


def _to_current_schema(table, names: list[str]):
    """The columns `names` in schema order, adding as nulls any a shard predates (provenance columns)."""
    import pyarrow as pa

    schema = _schema()
    for name in names:
        if name not in table.column_names:
            f = schema.field(name)
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(names).replace_schema_metadata(None)


def open_index(index_dir: str | os.PathLike, verify: bool = True) -> Index:
    """Load an index for searching; refuses one built with another model or with a damaged shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(index_dir)
    manifest = read_manifest(folder)
    if manifest.get("model_id") != MODEL_ID:
        raise BadIndexError(
            f"{folder}: built with model {manifest.get('model_id')!r}; this exposure uses {MODEL_ID!r}. "
            "Embeddings of different models cannot be compared: rebuild the index with exposure index"
        )
    blobs = []
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise BadIndexError(f"{path}: shard missing ({e.strerror}); run exposure index again to rebuild it") from None
        if verify and hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise BadIndexError(
                f"{path}: shard damaged (checksum differs from the manifest); delete it and run exposure index again to rebuild it"
            )
        blobs.append((path, data))
    store = _open_or_rebuild_store(folder, manifest)  # after the shards are checked: it is rebuilt from them
    # with a store, the embedding column is not decoded: the matrix is memory-mapped from the store
    names = [n for n in _schema().names if n != "embedding" or store is None]
    tables = []
    for path, data in blobs:
        try:
            pf = pq.ParquetFile(pa.BufferReader(data))
            have = set(pf.schema_arrow.names)  # schema_arrow is rebuilt at every access
            present = [n for n in names if n in have]
            tables.append(_to_current_schema(pf.read(columns=present), names))
        except Exception as e:  # noqa: BLE001
            raise BadIndexError(f"{path}: shard unreadable ({e}); delete it and run exposure index again") from None
    table = pa.concat_tables(tables) if tables else _schema().empty_table().select(names)
    if store is not None:
        embeddings = store.matrix
    else:  # a read-only or busy index: search it in memory
        emb = table.column("embedding").combine_chunks()
        embeddings = np.asarray(emb.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, 128)
        table = table.drop(["embedding"])
    import pandas as pd

    # int64 (the chip hash) as pandas' nullable Int64: a float column would round 63-bit hashes
    faces = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for col in ("identity", "source_url", "source_meta"):  # missing text is None, not NaN
        faces[col] = faces[col].astype(object).where(faces[col].notna(), None)
    return Index(path=folder, manifest=manifest, faces=faces, embeddings=embeddings, store=store)


def _fingerprint(manifest: dict) -> str:
    """What an index's derived files were made from: its shards."""
    from exposure import knn

    return knn.shards_fingerprint(manifest["shards"])


def _open_or_rebuild_store(folder: Path, manifest: dict):
    """The index's embedding store; rebuilt from the shards when missing or stale, if the folder allows."""
    from exposure import knn

    dtype = next((d for d, name in knn.DATA_NAMES.items() if (folder / name).exists()), "float32")
    data = folder / knn.DATA_NAMES[dtype]
    # the whole file's sha256 when that is cheap (under 1 GB: 2M faces); beyond, size and ends only
    full = data.exists() and data.stat().st_size < 2**30
    try:
        return knn.open_store(folder, source=knn.shards_fingerprint(manifest["shards"]), verify=full)
    except knn.StoreError:
        pass
    try:
        with _Lock(folder):
            return _write_store(folder, manifest, dtype)
    except (ExposureError, OSError):  # being built now, or not ours to write
        return None
