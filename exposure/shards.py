"""An index folder's Parquet shards and manifest: written atomically, read back, checked.

An index folder holds `manifest.json` and `shards/part-NNNNN.parquet`. Each shard has a row per
face, and in its Parquet metadata the list of every image it covers (with faces, without, or
failed), so a shard is the unit of work: written to a temp file, fsynced and renamed, it is either
wholly there or not at all. The embedding store (exposure.store) is derived from the shards.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from exposure import store as embedding_store
from exposure.errors import BadIndexError, ExposureError
from exposure.files import atomic_write
from exposure.i18n import _
from exposure.models import MODEL_ID

SCHEMA_VERSION = 1
SHARD_IMAGES = 256
_IMAGES_KEY = b"exposure.images"


def schema():
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


def write_shard(path: Path, dataset: str, records: list[dict], rows: list[dict]) -> dict:
    """Commit one shard atomically; returns its manifest entry (file, counts, sha256)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = schema()
    cols = {name: [r[name] for r in rows] for name in fields.names if name not in ("dataset", "embedding")}
    cols["dataset"] = [dataset] * len(rows)
    emb = np.stack([r["embedding"] for r in rows]).astype(np.float32) if rows else np.zeros((0, 128), np.float32)
    cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), 128)
    table = pa.table({name: cols[name] for name in fields.names}, schema=fields)
    table = table.replace_schema_metadata({_IMAGES_KEY: json.dumps(records).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    atomic_write(path, data)
    return {
        "file": f"shards/{path.name}",
        "images": len(records),
        "faces": len(rows),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_records(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[_IMAGES_KEY])


def fingerprint(manifest: dict) -> str:
    """What an index's derived files (its embedding store, its stranger tail) were made from: its shards."""
    return embedding_store.shards_fingerprint(manifest["shards"])


def entry(path: Path) -> dict:
    data = path.read_bytes()
    records = read_records(path)
    import pyarrow.parquet as pq

    return {
        "file": f"shards/{path.name}",
        "images": len(records),
        "faces": pq.read_metadata(path).num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# ---------------------------------------------------------------- manifest


def manifest(dataset: str, source, shards: list[dict], records: list[dict], total: int, detector: str,
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
        raise BadIndexError(_("{path}: not an exposure index (no manifest.json); build one with: exposure index DATASET "
                              "--out {path}").format(path=index_dir))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadIndexError(f"{path}: damaged manifest ({e}); rebuild with exposure index") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BadIndexError(f"{index_dir}: index schema {manifest.get('schema_version')} is not {SCHEMA_VERSION}; rebuild it with this version of exposure")
    return manifest


def embeddings_of(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, 128)


def write_store(out: Path, manifest: dict, dtype: str = "float32"):
    """The memory-mapped embedding matrix beside the shards (derived data: rebuilt when stale)."""
    if dtype not in embedding_store.DATA_NAMES:
        raise ExposureError(f"store must be one of {', '.join(embedding_store.DATA_NAMES)}, not {dtype!r}")
    for name, other in embedding_store.DATA_NAMES.items():  # one store per index
        if name != dtype:
            (out / other).unlink(missing_ok=True)
    return embedding_store.write_store(
        out, (embeddings_of(out / s["file"]) for s in manifest["shards"]), dtype,
        source=fingerprint(manifest),
    )
