"""Open an index for searching: its manifest, a row per face, the memory-mapped embeddings, and the
dataset's measured stranger tail; refused with the fix when built by another model or damaged.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exposure import shards as shard_files
from exposure import store as embedding_store
from exposure import strangers
from exposure.datasets.sources import open_source
from exposure.errors import BadIndexError, ExposureError
from exposure.files import FolderLock, atomic_write
from exposure.i18n import _
from exposure.identities import identity_groups, mean_faces
from exposure.models import MODEL_ID

TAIL_FILE = "strangers.json"  # the dataset's measured stranger tail (exposure.strangers), beside the shards


@dataclass
class Index:
    """An opened index: its manifest, a row per face (without embeddings), and the embedding matrix."""

    path: Path
    manifest: dict
    faces: pd.DataFrame  # noqa: F821
    embeddings: np.ndarray  # (n_faces, 128): with a store, its embedding_store.TiledRows (memory-mapped, indexed like an array)
    store: object = None  # exposure.embedding_store.EmbeddingStore, searched chunk by chunk with flat memory

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
        return identity_groups(self.faces)

    @functools.cached_property
    def identity_means(self) -> np.ndarray:
        """Each labelled identity's mean face (exposure.identities.mean_faces), (m, 128), computed once."""
        return mean_faces(self.identity_groups, self.embeddings)

    @functools.cached_property
    def tail(self):
        """How fast strangers thin out towards a face in this dataset (exposure.strangers), measured on its
        own faces once and kept beside the index as strangers.json (derived data, remeasured when stale)."""
        source = shard_files.fingerprint(self.manifest)
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
            atomic_write(path, json.dumps(dataclasses.asdict(tail), indent=1).encode())
        except OSError:  # a read-only index: measured again next time
            pass
        return tail

    @functools.cached_property
    def source(self):
        """The dataset in its published layout, opened once (None when it is not on this computer)."""
        try:
            return open_source(self.dataset_root, self.manifest.get("format", "folder"))
        except (ExposureError, OSError):
            return None


def _to_current_schema(table, names: list[str]):
    """The columns `names` in schema order, adding as nulls any a shard predates (provenance columns)."""
    import pyarrow as pa

    schema = shard_files.schema()
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
    manifest = shard_files.read_manifest(folder)
    if manifest.get("model_id") != MODEL_ID:
        raise BadIndexError(
            _("{path}: built with model {theirs}; this exposure uses {ours}. Embeddings of different models cannot be "
              "compared: rebuild the index with exposure index").format(path=folder, theirs=repr(manifest.get("model_id")),
                                                                       ours=repr(MODEL_ID)))
    blobs = []
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise BadIndexError(_("{path}: shard missing ({why}); run exposure index again to rebuild it").format(
                path=path, why=e.strerror)) from None
        if verify and hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise BadIndexError(
                _("{path}: shard damaged (checksum differs from the manifest); delete it and run exposure index again to "
                  "rebuild it").format(path=path))
        blobs.append((path, data))
    store = _open_or_rebuild_store(folder, manifest)  # after the shards are checked: it is rebuilt from them
    # with a store, the embedding column is not decoded: the matrix is memory-mapped from the store
    names = [n for n in shard_files.schema().names if n != "embedding" or store is None]
    tables = []
    for path, data in blobs:
        try:
            pf = pq.ParquetFile(pa.BufferReader(data))
            have = set(pf.schema_arrow.names)  # schema_arrow is rebuilt at every access
            present = [n for n in names if n in have]
            tables.append(_to_current_schema(pf.read(columns=present), names))
        except Exception as e:  # noqa: BLE001
            raise BadIndexError(_("{path}: shard unreadable ({why}); delete it and run exposure index again").format(
                path=path, why=e)) from None
    table = pa.concat_tables(tables) if tables else shard_files.schema().empty_table().select(names)
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


def _open_or_rebuild_store(folder: Path, manifest: dict):
    """The index's embedding store; rebuilt from the shards when missing or stale, if the folder allows."""
    dtype = next((d for d, name in embedding_store.DATA_NAMES.items() if (folder / name).exists()), "float32")
    data = folder / embedding_store.DATA_NAMES[dtype]
    # the whole file's sha256 when that is cheap (under 1 GB: 2M faces); beyond, size and ends only
    full = data.exists() and data.stat().st_size < 2**30
    try:
        return embedding_store.open_store(folder, source=shard_files.fingerprint(manifest), verify=full)
    except embedding_store.StoreError:
        pass
    try:
        with FolderLock(folder):
            return shard_files.write_store(folder, manifest, dtype)
    except (ExposureError, OSError):  # being built now, or not ours to write
        return None
