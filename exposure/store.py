"""The embedding store: an index's embedding matrix as one memory-mapped file, beside its shards.

    index_dir/embeddings.json    the header: n, dim, dtype, tile_rows, byte sizes, sha256, and
                                 `source` (what the store was made from, e.g. a fingerprint of the
                                 index's shards)
    index_dir/embeddings.f32     (or .f16) the n rows in tiles of `tile_rows` rows, each tile stored
                                 dimension-major as a (128, w) little-endian array (the last tile
                                 may be narrower), followed by the n squared norms ||e||² as float32

Memory-mapped instead of loaded, so an index larger than RAM is searched (exposure.knn) with flat
memory use. Tiles, not rows: one query against a tile is BLAS's column-wise gemv (y += q_j ×
column j, no horizontal sums), which streams the file at memory speed, where the same product
over rows does not (bench/search_speed.py). A row is still read cheaply: its 128 values lie in
one tile. The squared norms are stored so that a search reads each embedding once. The store is
derived data: the Parquet shards stay the source of truth, and a store that is missing, stale or
of an older layout is rebuilt from them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exposure.errors import BadIndexError
from exposure.files import fsync_dir, sha256_file

DIM = 128
HEADER_NAME = "embeddings.json"
DATA_NAMES = {"float32": "embeddings.f32", "float16": "embeddings.f16"}
FORMAT = "exposure-embeddings"
FORMAT_VERSION = 2  # 1: row-major (n, 128); 2: dimension-major tiles
TILE_ROWS = 16384  # 8 MiB float32 tiles: 8k-row ones scanned ~8% slower, 32k-row ones no faster (bench/search_speed.py)
_QUICK_BYTES = 1 << 16  # header `quick_sha256`: first and last 64 KiB of the data file

class StoreError(BadIndexError):
    """An embedding store is missing, damaged, or stale: rebuild it from the index's shards."""


# ---------------------------------------------------------------- the store


class TiledRows:
    """A store's (n, 128) matrix, memory-mapped as dimension-major tiles: indexed like a read-only array.

    `m[i]`, `m[a:b]`, `m[int_array]`, `m[bool_mask]` give rows as an ndarray in the stored dtype,
    reading only their tiles; `np.asarray(m)` copies the whole matrix into memory (small indexes).
    `tiles()` yields the (128, w) tiles themselves, which is what a scan reads.
    """

    ndim = 2

    def __init__(self, full: np.ndarray | None, tail: np.ndarray | None, n: int, dtype: np.dtype, tile_rows: int):
        self._full = full  # (tiles, 128, tile_rows) or None
        self._tail = tail  # (128, n % tile_rows) or None
        self._split = 0 if full is None else full.shape[0] * tile_rows  # rows held by the full tiles
        self.shape = (n, DIM)
        self.dtype = np.dtype(dtype)
        self.tile_rows = tile_rows

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"TiledRows(shape={self.shape}, dtype={self.dtype}, tile_rows={self.tile_rows})"

    def tiles(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, (128, w) tile) in row order."""
        if self._full is not None:
            for t in range(self._full.shape[0]):
                yield t * self.tile_rows, self._full[t]
        if self._tail is not None:
            yield self._split, self._tail

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # rows, then the rest on the rows
            return self[key[0]][(slice(None), *key[1:])]
        n = self.shape[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._range(start, max(start, stop))
            key = np.arange(start, stop, step)
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} for {n} rows")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:  # [] is float64 to numpy
            idx = idx.astype(np.int64)
        if not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"rows are indexed by integers, slices or a boolean mask, not {idx.dtype}")
        if idx.size and not (-n <= idx.min() and idx.max() < n):
            raise IndexError(f"row index out of bounds for {n} rows")
        rows = self._gather(np.where(idx < 0, idx + n, idx).astype(np.int64, copy=False).ravel())
        return rows.reshape(*idx.shape, DIM)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._range(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def astype(self, dtype) -> np.ndarray:
        return np.asarray(self, dtype=dtype)

    def _range(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, DIM), self.dtype)
        for first, tile in self.tiles():
            a, b = max(start, first), min(stop, first + tile.shape[1])
            if a < b:
                out[a - start:b - start] = tile[:, a - first:b - first].T
        return out

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), DIM), self.dtype)
        in_full = idx < self._split
        if in_full.any():
            i = idx[in_full]
            out[in_full] = self._full[i // self.tile_rows, :, i % self.tile_rows]
        if not in_full.all():
            out[~in_full] = self._tail[:, idx[~in_full] - self._split].T
        return out


@dataclass
class EmbeddingStore:
    """An opened embedding store: the (n, 128) matrix and its squared norms, memory-mapped read-only."""

    path: Path  # the data file
    header: dict
    matrix: TiledRows  # (n, 128) float32 or float16, memory-mapped tile by tile
    sqnorms: np.ndarray  # (n,) float32, ||e||² of each row as stored

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.matrix.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def sha256(self) -> str:
        return self.header["sha256"]

    @property
    def source(self) -> str | None:
        return self.header.get("source")

    def __len__(self) -> int:
        return self.n


def shards_fingerprint(shards: list[dict]) -> str:
    """A fingerprint of an index's shard list (file names and sha256, in order), for a store's `source`."""
    h = hashlib.sha256()
    for s in shards:
        h.update(f"{s['file']}\0{s['sha256']}\n".encode())
    return h.hexdigest()


def _chunks_of(embeddings, chunk_rows: int) -> Iterator[np.ndarray]:
    if isinstance(embeddings, np.ndarray):
        for s in range(0, len(embeddings), chunk_rows):
            yield embeddings[s:s + chunk_rows]
    else:
        for part in embeddings:
            part = np.asarray(part)
            for s in range(0, len(part), chunk_rows):
                yield part[s:s + chunk_rows]


def write_store(index_dir: str | os.PathLike, embeddings: np.ndarray | Iterable[np.ndarray],
                dtype: str = "float32", *, source: str | None = None,
                tile_rows: int = TILE_ROWS) -> EmbeddingStore:
    """Write the embedding store of an index folder, atomically; returns it opened.

    `embeddings` is an (n, 128) array or an iterable of (m, 128) arrays (e.g. one per shard), so a
    store larger than RAM is written with flat memory (one tile at a time). `source` is recorded in
    the header (use `shards_fingerprint(manifest["shards"])`) so a reader can tell a stale store.

    Crash safety: the matrix and norms go to a temp file that is fsynced; the old header is
    removed before the temp file is renamed over the data file, and the new header is written
    (temp, fsync, rename) last. After a crash at any point there is either no header (no store:
    rebuild it) or a header that describes the data file beside it.
    """
    if dtype not in DATA_NAMES:
        raise ValueError(f"dtype must be one of {sorted(DATA_NAMES)}, not {dtype!r}")
    tile_rows = int(tile_rows)
    if tile_rows < 1:
        raise ValueError("tile_rows must be >= 1")
    folder = Path(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / DATA_NAMES[dtype]
    header_path = folder / HEADER_NAME
    tag = f"{os.getpid()}.tmp"
    tmp = folder / f".{data_path.name}.{tag}"
    tmp_norms = folder / f".{data_path.name}.norms.{tag}"
    np_dtype = np.dtype(dtype).newbyteorder("<")
    digest = hashlib.sha256()
    tile = np.empty((tile_rows, DIM), np_dtype)  # rows gathered until a tile is full
    filled = n = 0

    def flush(f, rows: int) -> None:
        raw = np.ascontiguousarray(tile[:rows].T).tobytes()  # (128, rows): dimension-major
        digest.update(raw)
        f.write(raw)

    try:
        with open(tmp, "wb") as f, open(tmp_norms, "w+b") as fn:
            for chunk in _chunks_of(embeddings, tile_rows):
                if chunk.ndim != 2 or chunk.shape[1] != DIM:
                    raise ValueError(f"embeddings must have shape (n, {DIM}), got a chunk of shape {chunk.shape}")
                with np.errstate(over="ignore"):  # beyond float16's range: caught just below
                    stored = np.asarray(chunk, dtype=np_dtype)
                if not np.isfinite(stored).all():
                    raise ValueError(f"embeddings {n}..{n + len(chunk)} hold a non-finite value"
                                     + (" (beyond float16's range)" if dtype == "float16" else ""))
                wide = stored.astype(np.float32)
                fn.write(np.einsum("ij,ij->i", wide, wide).astype("<f4").tobytes())
                n += len(chunk)
                while len(stored):
                    take = min(tile_rows - filled, len(stored))
                    tile[filled:filled + take] = stored[:take]
                    stored = stored[take:]
                    filled += take
                    if filled == tile_rows:
                        flush(f, filled)
                        filled = 0
            if filled:
                flush(f, filled)
            fn.seek(0)
            while block := fn.read(1 << 22):
                digest.update(block)
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        tmp_norms.unlink()
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "file": data_path.name,
            "n": n,
            "dim": DIM,
            "dtype": dtype,
            "layout": "dimension-major tiles",
            "tile_rows": tile_rows,
            "byte_order": "little",
            "sqnorms_offset": n * DIM * np_dtype.itemsize,
            "bytes": size,
            "sha256": digest.hexdigest(),
            "quick_sha256": _quick_hash(tmp, size),
            "source": source,
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        if header_path.exists():  # from here until the new header lands, there is no store
            header_path.unlink()
            fsync_dir(folder)
        os.replace(tmp, data_path)
        fsync_dir(folder)
        tmp_header = folder / f".{HEADER_NAME}.{tag}"
        with open(tmp_header, "wb") as f:
            f.write(json.dumps(header, indent=1).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_header, header_path)
        fsync_dir(folder)
    finally:
        for leftover in (tmp, tmp_norms, folder / f".{HEADER_NAME}.{tag}"):
            leftover.unlink(missing_ok=True)
    for other in DATA_NAMES.values():  # a store of the other dtype is now stale
        if other != data_path.name:
            (folder / other).unlink(missing_ok=True)
    return open_store(folder)


def _quick_hash(path: Path, size: int) -> str:
    """sha256 of the first and last 64 KiB: a cheap check that the data file is the one the header describes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_QUICK_BYTES))
        if size > _QUICK_BYTES:
            f.seek(max(size - _QUICK_BYTES, _QUICK_BYTES))
            h.update(f.read(_QUICK_BYTES))
    return h.hexdigest()


def open_store(path: str | os.PathLike, *, source: str | None = None, verify: bool = False) -> EmbeddingStore:
    """Open a store read-only: `path` is its index folder, its header file, or its data file.

    Checks the header, the data file's size and its first and last 64 KiB (cheap); with `source`,
    refuses a store made from something else (stale); with `verify`, also the sha256 of the whole
    file (reads it all). Raises StoreError saying what is wrong: the fix is always to rebuild the
    store from the index's shards.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    header_path = folder / HEADER_NAME
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{folder}: no embedding store ({HEADER_NAME} missing)") from None
    except (OSError, ValueError) as e:
        raise StoreError(f"{header_path}: damaged store header ({e})") from None
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise StoreError(f"{header_path}: not an embedding store of version {FORMAT_VERSION} (an older layout: rebuild it)")
    dtype, tile_rows = header.get("dtype"), header.get("tile_rows")
    if (dtype not in DATA_NAMES or header.get("dim") != DIM or header.get("byte_order") != "little"
            or not isinstance(tile_rows, int) or tile_rows < 1):
        raise StoreError(f"{header_path}: unsupported store layout (dtype {dtype!r}, dim {header.get('dim')!r}, "
                         f"tile_rows {tile_rows!r})")
    if source is not None and header.get("source") != source:
        raise StoreError(f"{folder}: embedding store is stale (made from {header.get('source')!r}, not {source!r})")
    n = int(header["n"])
    data_path = folder / header["file"]
    np_dtype = np.dtype(dtype).newbyteorder("<")
    offset = n * DIM * np_dtype.itemsize
    try:
        size = data_path.stat().st_size
    except FileNotFoundError:
        raise StoreError(f"{data_path}: embedding store data file missing") from None
    if size != header["bytes"] or size != offset + 4 * n or header.get("sqnorms_offset") != offset:
        raise StoreError(f"{data_path}: {size} bytes, the header says {header['bytes']}: damaged or being rewritten")
    if _quick_hash(data_path, size) != header.get("quick_sha256"):
        raise StoreError(f"{data_path}: does not match its header: damaged or being rewritten")
    if verify and sha256_file(data_path) != header["sha256"]:
        raise StoreError(f"{data_path}: checksum differs from the header: damaged")
    full_tiles, tail_rows = divmod(n, tile_rows)
    full = tail = None
    sqnorms = np.zeros(0, "<f4")
    # plain ndarray views of the maps (which they keep open): slicing an np.memmap costs more per tile
    if full_tiles:
        full = np.asarray(np.memmap(data_path, dtype=np_dtype, mode="r", shape=(full_tiles, DIM, tile_rows)))
    if tail_rows:
        tail = np.asarray(np.memmap(data_path, dtype=np_dtype, mode="r", shape=(DIM, tail_rows),
                                    offset=full_tiles * tile_rows * DIM * np_dtype.itemsize))
    if n:  # a zero-length file cannot be mapped
        sqnorms = np.asarray(np.memmap(data_path, dtype="<f4", mode="r", offset=offset, shape=(n,)))
    matrix = TiledRows(full, tail, n, np_dtype, tile_rows)
    return EmbeddingStore(path=data_path, header=header, matrix=matrix, sqnorms=sqnorms)
