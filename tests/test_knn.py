"""exposure.knn: exact chunked search equals brute force, on arrays and stores, with flat memory."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from exposure import knn
from exposure import store as embedding_store

REPO = Path(__file__).resolve().parents[1]
LFW_INDEX = Path(os.environ.get("EXPOSURE_BENCH_DIR", REPO / "build" / "bench")) / "lfw-index"


def faces(n: int, seed: int = 0) -> np.ndarray:
    """dlib-like embeddings: a shared mean direction (norm 1.3) plus N(0, 0.05) per dimension."""
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(embedding_store.DIM)
    mean *= 1.3 / np.linalg.norm(mean)
    return (mean + 0.05 * rng.standard_normal((n, embedding_store.DIM))).astype(np.float32)


def brute(e: np.ndarray, q: np.ndarray) -> np.ndarray:
    """All distances (q, n), in float64."""
    e, q = np.asarray(e, np.float64), np.atleast_2d(np.asarray(q, np.float64))
    return np.sqrt(((q[:, None, :] - e[None, :, :]) ** 2).sum(-1))


def brute_topk(e, q, k):
    d = brute(e, q)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000, 4096, 100_000])
@pytest.mark.parametrize("nq", [1, 4])
def test_search_equals_brute_force(chunk_rows, nq):
    e = faces(3000)
    q = faces(nq, seed=1)
    d, i = knn.search(e, q, 10, chunk_rows=chunk_rows)
    bd, bi = brute_topk(e, q, 10)
    assert d.shape == i.shape == (nq, 10) and d.dtype == np.float32 and i.dtype == np.int64
    assert (i == bi).all()
    assert np.abs(d - bd).max() < 1e-6
    assert (np.diff(d, axis=1) >= 0).all()


def test_queries_inside_the_index_find_themselves_first():
    e = faces(2000)
    d, i = knn.search(e, e[[5, 500, 1999]], 3, chunk_rows=300)
    assert list(i[:, 0]) == [5, 500, 1999]
    assert np.abs(d[:, 0]).max() < 1e-6  # the final distances are direct, not from the expanded form


def test_k_larger_than_n_returns_everything_sorted():
    e = faces(7)
    q = faces(2, seed=3)
    d, i = knn.search(e, q, 50, chunk_rows=3)
    bd, bi = brute_topk(e, q, 7)
    assert d.shape == (2, 7)
    assert (i == bi).all() and np.abs(d - bd).max() < 1e-6


def test_edge_cases():
    e = faces(10)
    assert knn.search(e, faces(1, 2)[0], 0)[0].shape == (1, 0)
    d, i = knn.search(np.zeros((0, 128), np.float32), faces(2, 2), 5)
    assert d.shape == i.shape == (2, 0)
    with pytest.raises(ValueError):
        knn.search(e, np.zeros(127, np.float32), 3)
    with pytest.raises(ValueError):
        knn.search(e, np.full(128, np.nan, np.float32), 3)


def test_ties_go_to_the_lower_row():
    e = np.repeat(faces(3), 4, axis=0)  # every face four times
    d, i = knn.search(e, e[4], 4, chunk_rows=5)
    assert list(i[0]) == [4, 5, 6, 7]


def test_all_distances_and_iter(tmp_path):
    e = faces(5000)
    q = faces(2, seed=4)
    store = embedding_store.write_store(tmp_path, e)
    want = brute(e, q).min(0)
    got = knn.all_distances(store, q, chunk_rows=999)
    assert got.shape == (5000,) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    out = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=(5000,))
    assert knn.all_distances(store, q, chunk_rows=999, out=out) is out
    starts = [s for s, _ in knn.iter_distances(store, q, chunk_rows=999)]
    assert starts == list(range(0, 5000, 999))


# ---------------------------------------------------------------- the store


@pytest.mark.parametrize("scale", [1.0, 2.0**15])  # 2**15: q * 2**112 would overflow, numpy's cast is used
@pytest.mark.parametrize("kind", ["array", "store"])
def test_float16_widening_is_exact_for_every_value(tmp_path, kind, scale):
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    every = every[np.isfinite(every)]
    e = np.zeros((len(every) // 128 + 1, 128), np.float16)
    e.ravel()[: len(every)] = every
    q = np.zeros(128, np.float32)
    q[0] = scale
    # distance from a vector along dimension 0 to each row involves every stored value exactly
    m = e if kind == "array" else embedding_store.write_store(tmp_path, e, "float16", tile_rows=100)
    got = knn.all_distances(m, q, chunk_rows=37)
    want = brute(e.astype(np.float32), q)[0]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- flat memory


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_memory_stays_flat(tmp_path, dtype):
    """Searching a 200k x 128 memory-mapped store with 10k-row chunks allocates a few chunks, not the store."""
    n, chunk = 200_000, 10_000
    rng = np.random.default_rng(0)
    store = embedding_store.write_store(tmp_path, (rng.standard_normal((20_000, 128), np.float32) * 0.1 for _ in range(10)), dtype,
                            tile_rows=30_000)  # tiles larger than the chunks: chunks are slices of a tile
    store = embedding_store.open_store(tmp_path)
    assert store.n == n
    chunk_bytes = chunk * 128 * 4
    q = rng.standard_normal((3, 128), np.float32) * 0.1
    knn.search(store, q, 5, chunk_rows=chunk)  # warm: page cache
    tracemalloc.start()
    try:
        knn.search(store, q, 5, chunk_rows=chunk)
        _, peak_search = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in knn.iter_distances(store, q, chunk_rows=chunk):
            pass
        _, peak_iter = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    store_bytes = n * 128 * store.matrix.dtype.itemsize
    assert peak_search < 2 * chunk_bytes, (peak_search, chunk_bytes, store_bytes)
    assert peak_iter < 2 * chunk_bytes, (peak_iter, chunk_bytes, store_bytes)


# ---------------------------------------------------------------- real embeddings


@pytest.mark.skipif(not (LFW_INDEX / "manifest.json").exists(), reason=f"no LFW index at {LFW_INDEX} (bench/calibrate.py builds it)")
def test_float16_verdicts_on_lfw(tmp_path):
    """Every LFW face searched for among the others: float16 storage changes no match (likely you / not)."""
    from compare import float16_effect

    from exposure.index import open_index

    effect = float16_effect(open_index(LFW_INDEX).embeddings, 5, work_dir=tmp_path)
    assert effect["max_abs_distance_error_same_face"] < 2e-4
    assert effect["top1_changed"] < 0.005
    assert effect["is_match_changed"] == 0
    assert effect["verdict_label_changed"] <= 0.001 * effect["verdicts_compared"]
