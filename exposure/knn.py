"""Exact nearest-neighbour search over an on-disk embedding matrix, chunk by chunk, with numpy only.

An index's embeddings can be kept, beside its Parquet shards, as one flat file that is memory-mapped
instead of loaded, so an index larger than RAM can be searched with flat memory use:

    index_dir/embeddings.json    the header: n, dim, dtype, tile_rows, byte sizes, sha256, and
                                 `source` (what the store was made from, e.g. a fingerprint of the
                                 index's shards)
    index_dir/embeddings.f32     (or .f16) the n rows in tiles of `tile_rows` rows, each tile stored
                                 dimension-major as a (128, w) little-endian array (the last tile
                                 may be narrower), followed by the n squared norms ||e||² as float32

Tiles, not rows: one query against a tile is BLAS's column-wise gemv (y += q_j × column j, no
horizontal sums), which streams the file at memory speed; the same product over (n, 128) rows
ran at ~1.8× the memory-bandwidth bound (bench/search_speed.py). A row is still read cheaply: its
128 values lie in one tile. The squared norms are stored so that a search reads each embedding
once: distances come from ||q||² + ||e||² − 2 q·e. The store is derived data: the Parquet shards
stay the source of truth, and a store that is missing, stale or of an older layout is rebuilt from them.

`search` is exact (it equals brute force; the final k distances are recomputed directly as
||q − e||, free of the cancellation of the expanded form). float16 storage halves the file; its
rows are widened to float32 exactly, and every product and sum is in float32.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from exposure.errors import BadIndexError

DIM = 128
HEADER_NAME = "embeddings.json"
DATA_NAMES = {"float32": "embeddings.f32", "float16": "embeddings.f16"}
FORMAT = "exposure-embeddings"
FORMAT_VERSION = 2  # 1: row-major (n, 128); 2: dimension-major tiles
TILE_ROWS = 16384  # 8 MiB float32 tiles: 8k-row ones scanned ~8% slower, 32k-row ones no faster (bench/search_speed.py)
DEFAULT_CHUNK_ROWS = 32768  # rows per step over a plain array; a store is read a tile at a time at most
_QUICK_BYTES = 1 << 16  # header `quick_sha256`: first and last 64 KiB of the data file

# float16 -> float32 exactly, with three integer passes (numpy's own cast is ~5x slower): the sign-
# extended int16 bits shifted left by 13 and masked are the float32 bits of x * 2**-112, for every
# finite x (subnormals and zeros included); the 2**112 goes into the query instead.
_F16_MASK = np.int32(-0x70000001)  # 0x8FFFFFFF: keep the sign bit, clear the 3 sign-extension bits
_F16_SCALE = np.float32(2.0**112)


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
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(n)
            return self._range(start, max(start, stop))
        if isinstance(key, slice):
            return self._gather(np.arange(*key.indices(n), dtype=np.int64))
        idx = np.asarray(key)
        if idx.size == 0 and idx.dtype != bool:  # [] is float64 to numpy
            idx = idx.astype(np.int64)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} for {n} rows")
            return self._gather(np.flatnonzero(idx))
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

    def rows(self, indices) -> np.ndarray:
        """The given rows as float32 (reads only those rows)."""
        return np.asarray(self.matrix[np.asarray(indices, dtype=np.int64)], dtype=np.float32)


def shards_fingerprint(shards: list[dict]) -> str:
    """A fingerprint of an index's shard list (file names and sha256, in order), for a store's `source`."""
    h = hashlib.sha256()
    for s in shards:
        h.update(f"{s['file']}\0{s['sha256']}\n".encode())
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            _fsync_dir(folder)
        os.replace(tmp, data_path)
        _fsync_dir(folder)
        tmp_header = folder / f".{HEADER_NAME}.{tag}"
        with open(tmp_header, "wb") as f:
            f.write(json.dumps(header, indent=1).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_header, header_path)
        _fsync_dir(folder)
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


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
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
    if verify and _file_hash(data_path) != header["sha256"]:
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


# ---------------------------------------------------------------- the scan


def _as_queries(queries) -> np.ndarray:
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != DIM:
        raise ValueError(f"queries must have shape (q, {DIM}) or ({DIM},), got {np.shape(queries)}")
    if not np.isfinite(q).all():
        raise ValueError("queries hold a non-finite value")
    return q


def _parts(store_or_array) -> tuple[np.ndarray | TiledRows, np.ndarray | None]:
    """(matrix, squared norms or None) of a store, of its TiledRows, or of a plain (n, 128) array."""
    if isinstance(store_or_array, EmbeddingStore):
        return store_or_array.matrix, store_or_array.sqnorms
    if isinstance(store_or_array, TiledRows):
        return store_or_array, None
    m = store_or_array if isinstance(store_or_array, np.ndarray) else np.asarray(store_or_array)
    if m.ndim != 2 or m.shape[1] != DIM:
        raise ValueError(f"embeddings must have shape (n, {DIM}), got {m.shape}")
    if m.dtype not in (np.float32, np.float16):
        m = m.astype(np.float32)
    return m, None


def _blocks(matrix, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block) of at most chunk_rows rows, each block dimension-major (128, r): slices of
    a store's tiles as they lie in the file, or the transposed view of a plain array's rows."""
    if isinstance(matrix, TiledRows):
        for first, tile in matrix.tiles():
            for a in range(0, tile.shape[1], chunk_rows):
                yield first + a, tile[:, a:a + chunk_rows]
    else:
        for start in range(0, matrix.shape[0], chunk_rows):
            yield start, matrix[start:start + chunk_rows].T


def _scan(store_or_array, q: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, d2) per chunk of rows: d2 (q, rows) = ||e||² − 2 q·e, i.e. the squared distance
    minus ||q||². The d2 buffer is reused: use it before asking for the next chunk."""
    matrix, sqnorms = _parts(store_or_array)
    n = matrix.shape[0]
    chunk_rows = max(1, min(int(chunk_rows), n, getattr(matrix, "tile_rows", n)))  # a step stays within a tile
    half = matrix.dtype == np.float16
    if half and np.abs(q).max(initial=0) >= 2.0**14:  # q * 2**112 would overflow: widen with numpy's cast
        half, wide = False, np.empty(chunk_rows * DIM, np.float32)
    else:
        wide = np.empty(chunk_rows * DIM, np.int32) if half else None
    qm2 = -2.0 * q  # (q, 128): the product gives −2 q·e directly
    if half:
        qm2 *= _F16_SCALE
    one = q.shape[0] == 1
    d2 = np.empty(chunk_rows * q.shape[0], np.float32)
    for start, raw in _blocks(matrix, chunk_rows):
        r = raw.shape[1]
        block = raw
        if half:
            bits = wide[:r * DIM].reshape(raw.shape)
            np.copyto(bits, raw.view(np.int16))  # sign-extends
            np.left_shift(bits, 13, out=bits)
            np.bitwise_and(bits, _F16_MASK, out=bits)
            block = bits.view(np.float32)  # x * 2**-112, exactly
        elif raw.dtype == np.float16:  # very large queries: plain cast
            block = wide[:r * DIM].reshape(raw.shape)
            np.copyto(block, raw)
        out = d2[:q.shape[0] * r].reshape(q.shape[0], r)
        if one:
            np.matmul(qm2[0], block, out=out[0])  # sgemv, column-wise over a tile: y += q_j × column j
        else:
            np.matmul(qm2, block, out=out)  # sgemm
        if sqnorms is not None:
            out += sqnorms[start:start + r]
        else:  # no stored norms: computed on the fly (one more pass over the block, still in cache)
            w = raw if raw.dtype == np.float32 else raw.astype(np.float32)
            out += np.einsum("ij,ij->j", w, w)
        yield start, out


def _refine(matrix: np.ndarray, q: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Distances ||q − e|| of the given rows, computed directly in float64 (no cancellation)."""
    e = np.asarray(matrix[idx], dtype=np.float64)
    return np.sqrt(((e - q.astype(np.float64)) ** 2).sum(-1)).astype(np.float32)


def search(store_or_array, queries, k: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows to each query: (distances (q, k) float32, indices (q, k) int64).

    Exact: the same rows as brute force, nearest first, ties broken by the lower row number. When k
    exceeds the number of rows n, all n rows are returned (shape (q, n)). Memory use is flat: a
    few buffers of `chunk_rows` rows, whatever the size of the store. Queries are (q, 128) or (128,).
    """
    q = _as_queries(queries)
    matrix, _ = _parts(store_or_array)
    n = matrix.shape[0]
    k = min(int(k), n)
    if k < 0:
        raise ValueError("k must be >= 0")
    nq = q.shape[0]
    if k == 0:
        return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
    best_d = [np.empty(0, np.float32) for _ in range(nq)]  # partial d2 of the best rows so far
    best_i = [np.empty(0, np.int64) for _ in range(nq)]
    limit = np.full(nq, np.inf, np.float32)  # partial d2 of the k-th best so far
    for start, d2 in _scan(store_or_array, q, chunk_rows):
        if np.isfinite(limit).all():
            # one cheap test per chunk (a min over each query's row, in cache): most chunks hold no candidate
            rows = np.flatnonzero(d2.min(1) < limit)
        else:
            rows = range(nq)
        for j in rows:
            col = d2[j]
            cand = np.flatnonzero(col < limit[j])
            if len(cand) == 0:
                continue
            cd = col[cand]
            if len(cand) > k:
                part = np.argpartition(cd, k - 1)[:k]
                cand, cd = cand[part], cd[part]
            all_d = np.concatenate([best_d[j], cd])
            all_i = np.concatenate([best_i[j], cand.astype(np.int64) + start])
            if len(all_d) > k:
                keep = np.lexsort((all_i, all_d))[:k]
                all_d, all_i = all_d[keep], all_i[keep]
            best_d[j], best_i[j] = all_d, all_i
            if len(all_d) == k:
                limit[j] = all_d.max()
    dist = np.empty((nq, k), np.float32)
    idx = np.empty((nq, k), np.int64)
    for j in range(nq):
        d = _refine(matrix, q[j], best_i[j])
        order = np.lexsort((best_i[j], d))
        dist[j], idx[j] = d[order], best_i[j][order]
    return dist, idx


class Nearest(NamedTuple):
    """The k rows nearest to any of the queries (one person's photos)."""

    distances: np.ndarray  # (k,) float32, ascending
    indices: np.ndarray  # (k,) int64 rows
    queries: np.ndarray  # (k,) int64: which query is nearest to each row


def search_nearest(store_or_array, queries, k: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Nearest:
    """The k rows with the smallest distance to any query, and which query that is (the checker's search).

    Exact: a row among the k nearest to the closest query is among the k nearest rows of that very
    query, so the union of the per-query top k holds the answer.
    """
    q = _as_queries(queries)
    d, i = search(store_or_array, q, k, chunk_rows=chunk_rows)
    flat_d, flat_i = d.ravel(), i.ravel()
    flat_q = np.repeat(np.arange(q.shape[0], dtype=np.int64), d.shape[1])
    order = np.lexsort((flat_q, flat_i, flat_d))  # nearest first; ties: lower row, then lower query
    flat_d, flat_i, flat_q = flat_d[order], flat_i[order], flat_q[order]
    _, first = np.unique(flat_i, return_index=True)  # each row once, at its smallest distance
    first = np.sort(first)[:d.shape[1]]
    return Nearest(flat_d[first], flat_i[first], flat_q[first])


def iter_distances(store_or_array, queries, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, distances) chunk by chunk: each row's distance to the nearest query, float32.

    Flat memory whatever the size of the store; each yielded array is new (safe to keep).
    """
    q = _as_queries(queries)
    qn = (q.astype(np.float64) ** 2).sum(1).astype(np.float32)
    for start, d2 in _scan(store_or_array, q, chunk_rows):
        m = (d2 + qn[:, None]).min(0)
        np.maximum(m, 0.0, out=m)
        yield start, np.sqrt(m, out=m)


def all_distances(store_or_array, queries, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, out: np.ndarray | None = None) -> np.ndarray:
    """Each row's distance to the nearest query, (n,) float32, for histograms and percentiles.

    Returned as an in-memory array: n × 4 bytes, 1/32 of a float32 store (40 MB for 10M faces),
    while the scan itself stays flat. For more rows than that, pass `out` (e.g. an np.memmap
    opened with mode "w+"; it is written on disk, so mind what it reveals about the person) or
    stream with `iter_distances`. Distances are from the expanded form: within ~1e-6 of the direct
    ones except near zero (about 3e-4 for a row identical to a query).
    """
    matrix, _ = _parts(store_or_array)
    n = matrix.shape[0]
    if out is None:
        out = np.empty(n, np.float32)
    elif out.shape != (n,):
        raise ValueError(f"out must have shape ({n},), got {out.shape}")
    for start, d in iter_distances(store_or_array, queries, chunk_rows=chunk_rows):
        out[start:start + len(d)] = d
    return out


def nearest_from(distances: np.ndarray, store_or_array, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows for one query whose distance to every row is already known (all_distances).

    Saves a second scan: the k rows are picked from `distances`, then their distances are
    recomputed directly (as search does); ties go to the lower row. Returns (distances, rows).
    """
    matrix, _ = _parts(store_or_array)
    k = min(k, len(distances))
    idx = np.argpartition(distances, k - 1)[:k] if k < len(distances) else np.arange(len(distances))
    exact = _refine(matrix, np.asarray(query, dtype=np.float32).reshape(-1), idx)
    order = np.lexsort((idx, exact))
    return exact[order], idx[order]
