"""Exact nearest-neighbour search over an embedding store (exposure.store) or array, chunk by chunk.

`distances` is the one distance of the package: Euclidean, between dlib embeddings. `search` is
exact (it equals brute force; the final k distances are recomputed directly as ||q − e||, free of
the cancellation of the expanded form ||q||² + ||e||² − 2 q·e used while scanning). float16 stores
are widened to float32 exactly, and every product and sum is in float32.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from exposure.store import DIM, EmbeddingStore, TiledRows

DEFAULT_CHUNK_ROWS = 32768  # rows per step over a plain array; a store is read a tile at a time at most
# float16 -> float32 exactly, with three integer passes (numpy's own cast is ~5x slower): the sign-
# extended int16 bits shifted left by 13 and masked are the float32 bits of x * 2**-112, for every
# finite x (subnormals and zeros included); the 2**112 goes into the query instead.
_F16_MASK = np.int32(-0x70000001)  # 0x8FFFFFFF: keep the sign bit, clear the 3 sign-extension bits
_F16_SCALE = np.float32(2.0**112)




def distances(a, b) -> np.ndarray:
    """Euclidean distances between two sets of embeddings (or one each), shape (len(a), len(b)), in float64."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0))


def distance(a, b) -> float:
    """The distance between two faces' embeddings: 0 is identical; two photos of one person are usually below 0.6."""
    return float(distances(a, b)[0, 0])


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
